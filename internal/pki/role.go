package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Role is what a certificate's holder is allowed to be.
type Role string

// Roles.
const (
	RoleAgent         Role = "agent"
	RoleProcessServer Role = "process-server"
	RoleConfigServer  Role = "config-server"
	RoleVault         Role = "vault"
)

// Roles lists every role.
var Roles = []Role{RoleAgent, RoleProcessServer, RoleConfigServer, RoleVault}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q (want agent, process-server, config-server or vault)", s)
}

// ValidName checks a holder name: 1 to 255 bytes of [A-Za-z0-9._:@-], not starting with a dot.
func ValidName(s string) error {
	if s == "" || len(s) > 255 {
		return fmt.Errorf("name of %d bytes (want 1 to 255)", len(s))
	}
	if s[0] == '.' {
		return fmt.Errorf("name %q starts with a dot", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._:@-", c) >= 0) {
			return fmt.Errorf("name %q has a character outside [A-Za-z0-9._:@-]", s)
		}
	}
	return nil
}

// RoleURI is the URI SAN that names role and name.
func RoleURI(role Role, name string) *url.URL {
	return &url.URL{Scheme: "osr", Opaque: string(role) + "/" + name}
}

// ErrNoRole is returned for a certificate that names no osr role.
var ErrNoRole = errors.New("certificate names no osr role (no osr:<role>/<name> URI SAN)")

// Holder reads the role and name a certificate was issued for.
func Holder(c *x509.Certificate) (Role, string, error) {
	var found []*url.URL
	for _, u := range c.URIs {
		if u.Scheme == "osr" {
			found = append(found, u)
		}
	}
	if len(found) == 0 {
		return "", "", ErrNoRole
	}
	if len(found) > 1 {
		return "", "", errors.New("certificate names more than one osr role")
	}
	r, name, ok := strings.Cut(found[0].Opaque, "/")
	if !ok {
		return "", "", fmt.Errorf("certificate role URI %q is not osr:<role>/<name>", found[0])
	}
	role, err := ParseRole(r)
	if err != nil {
		return "", "", err
	}
	if err := ValidName(name); err != nil {
		return "", "", fmt.Errorf("certificate holder: %w", err)
	}
	return role, name, nil
}
