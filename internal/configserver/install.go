package configserver

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver/enroll"
	"github.com/opensiterecovery/osr/internal/configserver/prereq"
	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
	"github.com/opensiterecovery/osr/internal/passphrase"
	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/regkey"
)

// DefaultPSPort is the process server's port.
const DefaultPSPort = 9443

// InstallOptions are the answers of the seed's Unified Setup.
type InstallOptions struct {
	KeyText         string // the registration key file's text
	DataDir         string
	CacheDir        string // the default process server's cache
	CacheBytes      int64  // its budget; 0: the cache owns its file system (a dedicated cache drive)
	Port            int    // the default process server's port (9443)
	APIPort         int    // the configuration server's port (443)
	ListenAddress   string // Network Selection: an address, or
	ListenInterface string // an interface
	Proxy           string // Internet Settings: "" direct, or http(s)://host:port
	Name            string // configuration server name in the vault; default: the host name
	Hostname        string // default: os.Hostname
	HealthListen    string // where the default process server serves /health; default DefaultHealthListen
	// Env replaces the checks' view of the host (tests). ProbeVault, if nil, is the pinned probe.
	Env    *prereq.Env
	Clock  clock.Clock
	Logger *slog.Logger
}

// InstallResult is the outcome of Install.
type InstallResult struct {
	Report       prereq.Report
	Registration *Registration
	Passphrase   passphrase.Passphrase // show it once; it is also in the data directory
}

// ErrPrerequisites is returned when a prerequisite check failed; nothing was written.
var ErrPrerequisites = errors.New("prerequisite checks failed; nothing was installed")

func (o *InstallOptions) defaults() error {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir
	}
	if o.Port == 0 {
		o.Port = DefaultPSPort
	}
	if o.APIPort == 0 {
		o.APIPort = DefaultAPIPort
	}
	if o.HealthListen == "" {
		o.HealthListen = DefaultHealthListen
	}
	if o.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return err
		}
		o.Hostname = h
	}
	if o.Name == "" {
		o.Name = strings.ToLower(strings.SplitN(o.Hostname, ".", 2)[0])
	}
	return nil
}

// Install checks the prerequisites, registers with the vault and writes the data directory: the
// vault root, this server's CA and certificates, the passphrase, the default process server's
// identity and configuration. On a failed check it writes nothing; the data directory appears
// whole or not at all.
func Install(ctx context.Context, o InstallOptions) (*InstallResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	res := &InstallResult{}
	key, keyCheck := checkKey(o)
	proxy, proxyErr := vaultlink.ParseProxy(o.Proxy)
	var env prereq.Env
	if o.Env != nil {
		env = *o.Env
	} else {
		env = prereq.Default(nil)
		env.Clock = o.Clock
	}
	var vaultURL string
	if key != nil {
		vaultURL = key.VaultURLs[0]
		if env.ProbeVault == nil && proxyErr == nil {
			env.ProbeVault = vaultlink.NewClient(vaultURL, vaultlink.HTTPClient(vaultlink.PinnedTLS(key.CASHA256), proxy, 20*time.Second)).Probe
		}
	}
	var chosen net.IP
	checks := []prereq.Check{
		prereq.Static("registration key", keyCheck),
		prereq.Static("registration", checkNotInstalled(o.DataDir)),
		prereq.Static("name", checkName(o.Name)),
		prereq.CacheSpace(env, o.CacheDir),
		prereq.Network(env, o.ListenAddress, o.ListenInterface, &chosen),
	}
	host := ""
	if o.ListenAddress != "" && net.ParseIP(o.ListenAddress) != nil {
		host = o.ListenAddress
	}
	checks = append(checks,
		prereq.Port(env, "process server", host, o.Port, true),
		prereq.Port(env, "configuration server", "", o.APIPort, false))
	if o.Port == o.APIPort {
		checks = append(checks, prereq.Static("ports", prereq.Result{Status: prereq.Fail,
			Message: fmt.Sprintf("the process server and the configuration server cannot share port %d", o.Port),
			Fix:     "keep --port 9443 and --api-port 443 (the defaults)"}))
	}
	if proxyErr != nil {
		checks = append(checks, prereq.Static("internet settings", prereq.Result{Status: prereq.Fail, Message: proxyErr.Error(), Fix: "give --proxy http://HOST:PORT, or no --proxy for a direct connection"}))
	} else if key != nil {
		settings := "direct connection to the vault"
		if proxy != nil {
			settings = "all traffic to the vault through proxy " + proxy.Redacted()
		}
		checks = append(checks, prereq.Static("internet settings", prereq.Result{Status: prereq.Pass, Message: settings}))
		checks = append(checks, prereq.VaultAndClock(env, vaultURL, proxy)...)
	}
	res.Report = prereq.Run(ctx, checks)
	if res.Report.Failed() {
		return res, ErrPrerequisites
	}

	// Register: this uses the key, once.
	caKey := NewKey()
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "osr config-server " + o.Name + " CA"}}, caKey)
	if err != nil {
		return res, err
	}
	hc := vaultlink.HTTPClient(vaultlink.PinnedTLS(key.CASHA256), proxy, 60*time.Second)
	var ans *vaultlink.Registration
	for _, u := range key.VaultURLs {
		ans, err = vaultlink.NewClient(u, hc).Register(ctx, vaultlink.RegisterRequest{
			RegistrationKey: strings.TrimSpace(o.KeyText), Name: o.Name, Hostname: o.Hostname,
			CSRPEM:     string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})),
			ClientTime: o.Clock.Now().UTC(),
		})
		var ae *vaultlink.APIError
		if err == nil || errors.As(err, &ae) {
			break // an answer of the vault is final; a network error tries the next URL
		}
	}
	if err != nil {
		return res, fmt.Errorf("register with the vault: %w", err)
	}
	root, ca, err := checkRegistration(ans, key.CASHA256, caKey)
	if err != nil {
		return res, fmt.Errorf("register with the vault: %w", err)
	}
	auth, err := enroll.NewAuthority(ca, caKey, root, o.Clock)
	if err != nil {
		return res, err
	}
	psAddr := net.JoinHostPort(o.Hostname, strconv.Itoa(o.Port))
	if chosen != nil {
		psAddr = net.JoinHostPort(chosen.String(), strconv.Itoa(o.Port))
	}
	reg := &Registration{
		Version: 1, Name: o.Name, Hostname: o.Hostname, ConfigServerID: ans.ConfigServerID,
		VaultID: ans.VaultID, VaultName: ans.VaultName, VaultURLs: ans.VaultURLs, CASHA256: key.CASHA256,
		Proxy: o.Proxy, APIAddress: net.JoinHostPort("", strconv.Itoa(o.APIPort)), Registered: o.Clock.Now().UTC(),
		ProcessServer: DefaultPS{Name: o.Name, Address: psAddr, CacheDir: o.CacheDir,
			ListenAddress: net.JoinHostPort(host, strconv.Itoa(o.Port))},
	}
	if len(reg.VaultURLs) == 0 {
		reg.VaultURLs = key.VaultURLs
	}
	pass := passphrase.Generate()
	if err := writeDataDir(o, reg, auth, caKey, chosen, pass); err != nil {
		return res, fmt.Errorf("registered with the vault as %s, but writing %s failed (a new registration key is needed): %w", ans.ConfigServerID, o.DataDir, err)
	}
	res.Registration, res.Passphrase = reg, pass
	o.Logger.Info("configuration server installed", "name", o.Name, "id", ans.ConfigServerID, "vault", ans.VaultName)
	return res, nil
}

func checkKey(o InstallOptions) (*regkey.Signed, prereq.Result) {
	fix := "download a new registration key from the vault (osr vault registration-key)"
	k, err := regkey.Parse(o.KeyText)
	if err != nil {
		return nil, prereq.Result{Status: prereq.Fail, Message: err.Error(), Fix: fix}
	}
	if !o.Clock.Now().Before(k.Expires) {
		return nil, prereq.Result{Status: prereq.Fail, Message: fmt.Sprintf("registration key has expired (expired %s)", k.Expires.UTC().Format(time.RFC3339)), Fix: fix}
	}
	return k, prereq.Result{Status: prereq.Pass, Message: fmt.Sprintf("vault %s (%s), key valid until %s", k.VaultName, k.VaultID, k.Expires.UTC().Format(time.RFC3339))}
}

func checkNotInstalled(dir string) prereq.Result {
	r, err := LoadRegistration(dir)
	switch {
	case err == nil:
		return prereq.Result{Status: prereq.Fail, Message: fmt.Sprintf("already registered with vault %s as configuration server %s (%s)", r.VaultName, r.Name, r.ConfigServerID),
			Fix: "run osr config-server serve; to install afresh, remove " + dir + " first"}
	case !errors.Is(err, os.ErrNotExist):
		return prereq.Result{Status: prereq.Fail, Message: fmt.Sprintf("cannot read %s: %v", dir, err), Fix: "check " + dir}
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return prereq.Result{Status: prereq.Fail, Message: fmt.Sprintf("%s is not empty", dir), Fix: "choose an empty or new --data-dir"}
	}
	return prereq.Result{Status: prereq.Pass, Message: "not registered yet"}
}

func checkName(name string) prereq.Result {
	if err := enroll.ValidName(name); err != nil {
		return prereq.Result{Status: prereq.Fail, Message: err.Error(), Fix: "give --name"}
	}
	return prereq.Result{Status: prereq.Pass, Message: "configuration server " + name}
}

// checkRegistration verifies the vault's answer: the root is the pinned one and signed the CA for
// our key.
func checkRegistration(ans *vaultlink.Registration, pin string, caKey crypto.Signer) (*x509.Certificate, *x509.Certificate, error) {
	roots, err := enroll.ParseCerts([]byte(ans.RootCAPEM))
	if err != nil {
		return nil, nil, fmt.Errorf("root_ca_pem: %w", err)
	}
	cas, err := enroll.ParseCerts([]byte(ans.CACertPEM))
	if err != nil {
		return nil, nil, fmt.Errorf("ca_cert_pem: %w", err)
	}
	root, ca := roots[0], cas[0]
	if pki.CertSHA256(root) != pin {
		return nil, nil, errors.New("the vault answered with a root CA other than the registration key's")
	}
	if !publicKeyEqual(ca.PublicKey, caKey.Public()) {
		return nil, nil, errors.New("the vault signed a CA for another key")
	}
	return root, ca, nil
}
