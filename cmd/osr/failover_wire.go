package main

import (
	"fmt"
	"path/filepath"

	"github.com/opensiterecovery/osr/internal/failover"
	"github.com/opensiterecovery/osr/internal/target"
	"github.com/opensiterecovery/osr/internal/target/azure"
	"github.com/opensiterecovery/osr/internal/target/local"
	"github.com/opensiterecovery/osr/internal/vault"
)

// failoverProviders is the one registry of failover target providers: a target's provider name
// picks its factory here.
func (a *app) failoverProviders() map[string]failover.Factory {
	return map[string]failover.Factory{
		"local": func(tc failover.TargetConfig) (target.Provider, error) {
			c, err := local.ConfigFromSettings(tc.Settings)
			if err != nil {
				return nil, err
			}
			if !filepath.IsAbs(c.Dir) {
				return nil, fmt.Errorf("local target: dir %q is not an absolute path", c.Dir)
			}
			c.Clock, c.Logger = a.clock, a.logger
			return local.New(c)
		},
		"azure": func(tc failover.TargetConfig) (target.Provider, error) {
			c, err := azure.ConfigFromSettings(tc.Settings, tc.Secret)
			if err != nil {
				return nil, err
			}
			return azure.New(c, azure.Deps{Clock: a.clock, Logger: a.logger})
		},
	}
}

// withFailover adds the failover endpoints to cfg and returns what builds the failover service
// once the vault service exists (vault.New needs the routes first). The vault service is the
// source control (final sync, latest received) and the agent remover when it implements them.
// The boot check of verify_boot is the plans' (bootChecker: qemu-system-x86_64 from PATH,
// OSR_BOOTCHECK_MARKER, OSR_BOOTCHECK_TIMEOUT).
//
//	bind := a.withFailover(&cfg)
//	svc, err := vault.New(cfg, deps)
//	fo, err := bind(svc) // fo.Close() before svc.Close()
func (a *app) withFailover(cfg *vault.Config) func(*vault.Service) (*failover.Service, error) {
	api := &failover.API{}
	cfg.ExtraRoutes = append(cfg.ExtraRoutes, api.Routes()...)
	return func(vs *vault.Service) (*failover.Service, error) {
		bc, err := a.bootChecker()
		if err != nil {
			return nil, err
		}
		fc := failover.Config{Vault: vs, Providers: a.failoverProviders(), BootCheck: bc}
		if sc, ok := any(vs).(failover.SourceControl); ok {
			fc.Source = sc
		}
		if ar, ok := any(vs).(failover.AgentRemover); ok {
			fc.Agents = ar
		}
		fs, err := failover.New(fc, failover.Deps{Clock: a.clock, Logger: a.logger})
		if err != nil {
			return nil, err
		}
		api.Bind(fs)
		return fs, nil
	}
}
