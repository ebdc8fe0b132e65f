package configserver

import (
	"crypto"
	"crypto/ecdsa"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/opensiterecovery/osr/internal/configserver/enroll"
	"github.com/opensiterecovery/osr/internal/configserver/privfile"
	"github.com/opensiterecovery/osr/internal/passphrase"
)

func publicKeyEqual(a, b crypto.PublicKey) bool {
	ae, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ae.Equal(b)
}

// hostIPs returns the addresses of this host's interfaces (for certificate SANs).
func hostIPs() []net.IP {
	var out []net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
			out = append(out, n.IP)
		}
	}
	return out
}

// writeDataDir builds the data directory in a staging directory beside it and renames it into
// place: it appears whole or not at all.
func writeDataDir(o InstallOptions, reg *Registration, auth *enroll.Authority, caKey *ecdsa.PrivateKey, chosen net.IP, pass passphrase.Passphrase) (err error) {
	parent := filepath.Dir(filepath.Clean(o.DataDir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(parent, "."+filepath.Base(o.DataDir)+".installing-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(stage)
		}
	}()
	if err := os.Chmod(stage, 0o700); err != nil {
		return err
	}
	p := func(name string) string { return filepath.Join(stage, name) }
	if err := privfile.Write(p(RootFile), enroll.PEM(auth.Root())); err != nil {
		return err
	}
	if err := privfile.Write(p(CAFile), enroll.PEM(auth.CA())); err != nil {
		return err
	}
	if err := WriteKey(p(CAKeyFile), caKey); err != nil {
		return err
	}
	// The configuration server's own certificate: its API and its client certificate for the vault.
	ips := hostIPs()
	if chosen != nil {
		ips = append([]net.IP{chosen}, ips...)
	}
	tlsKey := NewKey()
	leaf, err := auth.Issue(tlsKey.Public(), enroll.Leaf{Role: enroll.RoleConfigServer, Name: reg.Name,
		DNSNames: dnsNames(o.Hostname), IPs: ips})
	if err != nil {
		return err
	}
	if err := privfile.Write(p(TLSFile), enroll.PEM(leaf, auth.CA())); err != nil {
		return err
	}
	if err := WriteKey(p(TLSKeyFile), tlsKey); err != nil {
		return err
	}
	if err := passphrase.WriteFile(p(PassphraseFile), pass); err != nil {
		return err
	}
	if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
		return fmt.Errorf("create the cache directory: %w", err)
	}
	// The default process server, enrolled directly (it shares this host and its trust).
	psDir := p(ProcessServerDir)
	if err := os.Mkdir(psDir, 0o700); err != nil {
		return err
	}
	psKey := NewKey()
	psCert, err := auth.Issue(psKey.Public(), enroll.Leaf{Role: enroll.RoleProcessServer, Name: reg.ProcessServer.Name,
		DNSNames: dnsNames(o.Hostname), IPs: ips})
	if err != nil {
		return err
	}
	final := filepath.Join(o.DataDir, ProcessServerDir)
	ident := PSIdentity{
		Dir: psDir, Name: reg.ProcessServer.Name, Cert: psCert, CA: auth.CA(), Root: auth.Root(), Key: psKey,
		Listen: reg.ProcessServer.ListenAddress, Address: reg.ProcessServer.Address, CacheDir: o.CacheDir,
		ConfigServer: net.JoinHostPort("localhost", strconv.Itoa(o.APIPort)),
	}
	if _, err := ident.Write(final); err != nil {
		return err
	}
	if err := WritePSConfig(psDir, PSSettings{Name: reg.ProcessServer.Name, Listen: reg.ProcessServer.ListenAddress,
		HealthListen: o.HealthListen, CacheDir: o.CacheDir, CacheBytes: o.CacheBytes}); err != nil {
		return err
	}
	reg.ProcessServer.ConfigPath = filepath.Join(final, PSConfigFile)
	registry, err := OpenRegistry(p(StateFile), o.Clock)
	if err != nil {
		return err
	}
	if err := registry.AddProcessServer(ProcessServerRecord{Name: reg.ProcessServer.Name, Address: reg.ProcessServer.Address,
		Serial: psCert.SerialNumber.Text(16), Enrolled: o.Clock.Now().UTC()}); err != nil {
		return err
	}
	if err := writeJSON(p(RegistrationFile), reg); err != nil {
		return err
	}
	// An empty data directory (checked by the prerequisites) is replaced.
	if err := os.Remove(o.DataDir); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("replace %s: %w", o.DataDir, err)
	}
	if err := os.Rename(stage, o.DataDir); err != nil {
		return err
	}
	if d, err := os.Open(parent); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func dnsNames(hostname string) []string {
	out := []string{"localhost"}
	if hostname != "" && hostname != "localhost" && net.ParseIP(hostname) == nil {
		out = append(out, hostname)
	}
	return out
}
