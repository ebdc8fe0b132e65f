package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/opensiterecovery/osr/internal/apiclient"
	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/prereq"
	"github.com/opensiterecovery/osr/internal/vault"
)

// upSummary is what osr up prints once everything runs.
type upSummary struct {
	portalURL    string
	passwordFile string // "" when the owner was not created by osr up
	tokenFile    string
	vaultName    string
	registration *configserver.Registration
	passphrase   string // the passphrase file
	dataDir      string
}

// upSetup does what is missing of a first start (owner, vault, configuration server) and returns
// what to print. Every step is skipped when its result exists, so a start after an interrupted one
// finishes the job.
func (a *app) upSetup(ctx context.Context, svc *vault.Service, url string, o upOptions) (*upSummary, error) {
	admin := vault.WithActor(ctx, vault.Actor{User: "admin", Role: vault.RoleOwner, Remote: "osr up"})
	sum := &upSummary{portalURL: url + "/", tokenFile: filepath.Join(o.dataDir, apiclient.TokenFileName), dataDir: o.dataDir}
	if err := os.WriteFile(filepath.Join(o.dataDir, apiclient.CAFileName), svc.RootCAPEM(), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.dataDir, apiclient.ServerFileName), []byte(url+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := a.upOwner(admin, svc, o, sum); err != nil {
		return nil, err
	}
	vaultName, err := a.upVault(admin, svc, o)
	if err != nil {
		return nil, err
	}
	sum.vaultName = vaultName
	csDir := filepath.Join(o.dataDir, upConfigServerDir)
	reg, err := configserver.LoadRegistration(csDir)
	if errors.Is(err, os.ErrNotExist) {
		reg, err = a.upInstallConfigServer(admin, svc, vaultName, csDir, o)
	}
	if err != nil {
		return nil, err
	}
	sum.registration = reg
	sum.passphrase = filepath.Join(csDir, configserver.PassphraseFile)
	return sum, nil
}

// upOwner creates the owner "admin" with a random password and an API token on first start.
func (a *app) upOwner(ctx context.Context, svc *vault.Service, o upOptions, sum *upSummary) error {
	pwPath := filepath.Join(o.dataDir, upPasswordFile)
	users, err := svc.ListUsers(ctx)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		if _, err := os.Stat(pwPath); err == nil {
			sum.passwordFile = pwPath
		}
		if _, err := os.Stat(sum.tokenFile); err != nil {
			fmt.Fprintf(a.stderr, "osr up: users exist but %s is missing: create a token with osr token create\n", sum.tokenFile)
		}
		return nil
	}
	raw := make([]byte, 18)
	rand.Read(raw)
	pw := base64.RawURLEncoding.EncodeToString(raw)
	// The password file first: a start that stops between the two steps finds it and no user, and
	// writes it again.
	if err := os.WriteFile(pwPath, []byte(pw+"\n"), 0o600); err != nil {
		return fmt.Errorf("write the admin password: %w", err)
	}
	if _, err := svc.AddUser(ctx, vault.AddUserRequest{Name: "admin", Role: string(vault.RoleOwner), Password: pw}); err != nil {
		return fmt.Errorf("create the owner: %w", err)
	}
	tok, err := svc.CreateToken(ctx, vault.CreateTokenRequest{Name: "osr up"})
	if err != nil {
		return fmt.Errorf("create the owner's token: %w", err)
	}
	_ = os.Remove(sum.tokenFile)
	if err := writeFileExcl(sum.tokenFile, tok.Secret+"\n", 0o600); err != nil {
		return fmt.Errorf("write the admin token: %w", err)
	}
	sum.passwordFile = pwPath
	fmt.Fprintf(a.stderr, "osr up: created user admin (owner)\n")
	return nil
}

// upVault creates the vault with storage in the data directory unless a vault exists.
func (a *app) upVault(ctx context.Context, svc *vault.Service, o upOptions) (string, error) {
	vs, err := svc.ListVaults(ctx)
	if err != nil {
		return "", err
	}
	for _, v := range vs {
		if v.Name == o.vaultName {
			return v.Name, nil
		}
	}
	if len(vs) > 0 {
		return vs[0].Name, nil
	}
	storage := "file://" + filepath.Join(o.dataDir, upStoreDir)
	v, err := svc.CreateVault(ctx, vault.CreateVaultRequest{Name: o.vaultName, StorageURL: storage})
	if err != nil {
		return "", fmt.Errorf("create vault %s: %w", o.vaultName, err)
	}
	fmt.Fprintf(a.stderr, "osr up: created vault %s with storage %s\n", v.Name, storage)
	return v.Name, nil
}

// upInstallConfigServer registers this host's configuration server with a fresh registration key,
// as osr config-server install does, and prints the prerequisite checks.
func (a *app) upInstallConfigServer(ctx context.Context, svc *vault.Service, vaultName, csDir string, o upOptions) (*configserver.Registration, error) {
	key, err := svc.CreateRegistrationKey(ctx, vaultName)
	if err != nil {
		return nil, fmt.Errorf("registration key: %w", err)
	}
	apiPort, err := a.upPort("configuration server", "", o.apiPort)
	if err != nil {
		return nil, err
	}
	psPort, err := a.upPort("process server", "", o.psPort, apiPort)
	if err != nil {
		return nil, err
	}
	hh, hp, err := net.SplitHostPort(o.healthListen)
	if err != nil {
		return nil, fmt.Errorf("--health-listen: %w", err)
	}
	n, err := strconv.Atoi(hp)
	if err != nil {
		return nil, fmt.Errorf("--health-listen: port %q: %w", hp, err)
	}
	if n, err = a.upPort("process server health", hh, n, apiPort, psPort); err != nil {
		return nil, err
	}
	budget := int64(o.cacheSize)
	if budget == 0 {
		free, err := prereq.Default(nil).FreeBytes(o.dataDir)
		if err != nil {
			return nil, fmt.Errorf("free space of %s: %w", o.dataDir, err)
		}
		budget = upCacheBudget(free)
	}
	res, err := configserver.Install(ctx, configserver.InstallOptions{KeyText: key.Key, DataDir: csDir,
		CacheDir: filepath.Join(o.dataDir, upCacheDir), CacheBytes: budget, Port: psPort, APIPort: apiPort,
		HealthListen: net.JoinHostPort(hh, strconv.Itoa(n)), Clock: a.clock, Logger: a.logger})
	if res != nil && len(res.Report) > 0 {
		fmt.Fprintln(a.stdout, "Configuration server prerequisites:")
		_ = res.Report.WriteTable(a.stdout)
		fmt.Fprintln(a.stdout)
	}
	if err != nil {
		return nil, err
	}
	return res.Registration, nil
}

// upPort picks the wanted port, or the next free one with a message saying so.
func (a *app) upPort(what, host string, want int, avoid ...int) (int, error) {
	p, err := nextFreePort(host, want, avoid...)
	if err != nil && want < 1024 {
		// Privileged ports need root: look among the unprivileged ones, 10000 higher.
		p, err = nextFreePort(host, want+10000, avoid...)
	}
	if err != nil {
		return 0, fmt.Errorf("%s port: %w", what, err)
	}
	if p != want {
		fmt.Fprintf(a.stderr, "osr up: port %d is taken (or not allowed); the %s uses port %d\n", want, what, p)
	}
	return p, nil
}

func (a *app) printUpSummary(s *upSummary) {
	w := a.stdout
	r := s.registration
	fmt.Fprintf(w, "osr is up.\n\n")
	fmt.Fprintf(w, "  Portal:                %s\n", s.portalURL)
	if s.passwordFile != "" {
		fmt.Fprintf(w, "  Sign in:               user admin, password in %s\n", s.passwordFile)
	}
	fmt.Fprintf(w, "  API token:             %s (the osr CLI finds it with OSR_DATA_DIR=%s)\n", s.tokenFile, s.dataDir)
	fmt.Fprintf(w, "  Vault:                 %s\n", s.vaultName)
	fmt.Fprintf(w, "  Configuration server:  %s, registered with vault %s (%s)\n", r.Name, r.VaultName, r.ConfigServerID)
	fmt.Fprintf(w, "  Process server:        %s at %s\n", r.ProcessServer.Name, r.ProcessServer.Address)
	fmt.Fprintf(w, "  Passphrase:            %s (readable by its owner only)\n", s.passphrase)
	host, port, _ := net.SplitHostPort(r.APIAddress)
	if host == "" {
		host = r.Hostname
	}
	cs := host
	if port != strconv.Itoa(configserver.DefaultAPIPort) {
		cs = net.JoinHostPort(host, port)
	}
	fmt.Fprintf(w, "\nProtect a machine: copy the passphrase to it and run there\n\n")
	fmt.Fprintf(w, "    osr mobility install --config-server %s --passphrase-file PASSPHRASE-FILE --disk NAME=PATH\n", cs)
	fmt.Fprintf(w, "    osr mobility serve --config /etc/osr/mobility/mobility.yaml\n\n")
	fmt.Fprintf(w, "then create a policy and enable replication (osr policy create, osr replication enable) or use the portal.\n")
	fmt.Fprintf(w, "Press Ctrl-C to stop.\n")
}
