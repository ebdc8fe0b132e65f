package winsvc

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"time"
)

// DefaultName is the service name the mobility service is registered under.
const DefaultName = "osr-mobility"

// ErrNotWindows is returned by Run, Install and Uninstall on systems other than Windows.
var ErrNotWindows = errors.New("windows services exist only on windows: on linux, systemd units are written by osr mobility install or osr mobility deploy")

// StopTimeout is how long Uninstall waits for a running service to stop before deleting it.
const StopTimeout = 30 * time.Second

// Config describes the service Install registers.
type Config struct {
	Name        string   // service name; DefaultName when empty
	DisplayName string   // shown in services.msc
	Description string   // shown in services.msc
	Exe         string   // absolute path of the osr binary
	Args        []string // arguments the manager starts it with (ServeArgs)
	Start       bool     // start the service once it is registered
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$`)

// CheckName validates a service name: 1 to 80 letters, digits, '.', '_' or '-'.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid service name %q: use 1 to 80 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// ServeArgs returns the command line the service manager starts the mobility service with. The
// configuration path must be absolute: a service starts in the system directory.
func ServeArgs(config string) ([]string, error) {
	if !filepath.IsAbs(config) {
		return nil, fmt.Errorf("configuration path %q is not absolute: the service manager starts services in the system directory", config)
	}
	return []string{"mobility", "serve", "--config", config}, nil
}

// withDefaults fills the empty fields of c.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if err := CheckName(c.Name); err != nil {
		return c, err
	}
	if c.DisplayName == "" {
		c.DisplayName = "osr mobility service"
	}
	if c.Description == "" {
		c.Description = "Open Site Recovery mobility service: tracks writes to this machine's disks and replicates them to a process server."
	}
	if !filepath.IsAbs(c.Exe) {
		return c, fmt.Errorf("service program %q is not an absolute path", c.Exe)
	}
	return c, nil
}
