package apiclient

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Files the vault service writes into its data directory for local clients.
const (
	ServerFileName = "vault.url"    // the service's https URL(s), one per line
	TokenFileName  = "admin.token"  // the bootstrap owner's API token (0600)
	CAFileName     = "vault-ca.crt" // the vault root CA certificate (PEM)
)

// DefaultDataDir is the data directory when none is given: $OSR_DATA_DIR, else ~/.osr.
func DefaultDataDir(getenv func(string) string) string {
	if d := getenv("OSR_DATA_DIR"); d != "" {
		return d
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".osr")
}

// Options say where to find the server and credentials; empty fields fall back to the
// environment, then to the data directory.
type Options struct {
	Server    string // https://host:port (the /api/v1 prefix is added); several replicas: comma-separated
	TokenFile string
	CAFile    string
	DataDir   string
	Getenv    func(string) string
}

// Resolved is what Resolve found.
type Resolved struct {
	// Server is one https URL, or the URLs of a vault's replicas separated by commas.
	Server, Token, CAFile string
}

// Servers returns the server URLs, in the order given.
func (r *Resolved) Servers() []string {
	var out []string
	for _, s := range strings.Split(r.Server, ",") {
		if s = strings.TrimSuffix(strings.TrimSpace(s), "/"); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Resolve applies flags, then OSR_SERVER / OSR_TOKEN_FILE / OSR_CA_FILE, then the data directory.
func (o Options) Resolve() (*Resolved, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	dir := o.DataDir
	if dir == "" {
		dir = DefaultDataDir(getenv)
	}
	pick := func(flag, env, file string) string {
		if flag != "" {
			return flag
		}
		if v := getenv(env); v != "" {
			return v
		}
		return file
	}
	r := &Resolved{}
	server := pick(o.Server, "OSR_SERVER", "")
	if server == "" {
		b, err := os.ReadFile(filepath.Join(dir, ServerFileName))
		if err != nil {
			return nil, fmt.Errorf("no vault server: give --server or OSR_SERVER (or run the vault service with --data-dir %s): %w", dir, err)
		}
		// One URL per line: the service's own first, then the other replicas'.
		server = strings.Join(strings.Fields(string(b)), ",")
	}
	r.Server = server
	urls := r.Servers()
	if len(urls) == 0 {
		return nil, errors.New("no vault server: the server list is empty")
	}
	for _, u := range urls {
		if !strings.HasPrefix(u, "https://") {
			return nil, fmt.Errorf("vault server %q is not an https URL", u)
		}
	}
	r.Server = strings.Join(urls, ",")
	tokenFile := pick(o.TokenFile, "OSR_TOKEN_FILE", filepath.Join(dir, TokenFileName))
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("read API token: %w (give --token-file or OSR_TOKEN_FILE)", err)
	}
	r.Token = strings.TrimSpace(string(b))
	if r.Token == "" {
		return nil, errors.New("API token file " + tokenFile + " is empty")
	}
	r.CAFile = pick(o.CAFile, "OSR_CA_FILE", filepath.Join(dir, CAFileName))
	if _, err := os.Stat(r.CAFile); err != nil {
		if o.CAFile != "" || getenv("OSR_CA_FILE") != "" {
			return nil, fmt.Errorf("vault CA certificate: %w", err)
		}
		r.CAFile = "" // system roots
	}
	return r, nil
}
