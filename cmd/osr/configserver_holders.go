package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/enroll"
	"github.com/opensiterecovery/osr/internal/configserver/prereq"
	"github.com/opensiterecovery/osr/internal/configserver/privfile"
	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
	"github.com/opensiterecovery/osr/internal/mobility"
	"github.com/opensiterecovery/osr/internal/passphrase"
)

// configServerAddr adds the default port to a --config-server value.
func configServerAddr(s string) string {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	return net.JoinHostPort(s, strconv.Itoa(configserver.DefaultAPIPort))
}

func shortHostname() (string, string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", "", err
	}
	return h, strings.ToLower(strings.SplitN(h, ".", 2)[0]), nil
}

func alreadyEnrolled(dir string) prereq.Result {
	if _, err := os.Stat(filepath.Join(dir, configserver.LinkFile)); err == nil {
		return prereq.Result{Status: prereq.Fail, Message: fmt.Sprintf("already enrolled (%s exists)", filepath.Join(dir, configserver.LinkFile)),
			Fix: "to enroll again, remove " + dir + " first"}
	}
	return prereq.Result{Status: prereq.Pass, Message: "not enrolled yet"}
}

// processServerInstallCommand is `osr process-server install`: a scale-out process server joins a
// configuration server with the passphrase. Registered under `process-server` (pipeline_ps.go).
func (a *app) processServerInstallCommand() *cobra.Command {
	var csAddr, passFile, name, cacheDir, dir, listenAddr, listenIf, healthListen string
	var cacheSize sizeFlag
	var port int
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Check prerequisites and join a configuration server with its passphrase (scale-out process server)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := passphrase.ReadFile(passFile, false)
			if err != nil {
				return err
			}
			hostname, short, err := shortHostname()
			if err != nil {
				return err
			}
			if name == "" {
				name = short
			}
			env := prereq.Default(nil)
			env.Clock = a.clock
			var chosen net.IP
			host := ""
			if listenAddr != "" {
				host = listenAddr
			}
			rep := prereq.Run(cmd.Context(), []prereq.Check{
				prereq.Static("enrollment", alreadyEnrolled(dir)),
				prereq.Static("name", nameResult(name)),
				prereq.CacheSpace(env, cacheDir),
				prereq.Network(env, listenAddr, listenIf, &chosen),
				prereq.Port(env, "process server", host, port, true),
			})
			fmt.Fprintln(a.stdout, "Prerequisites:")
			_ = rep.WriteTable(a.stdout)
			fmt.Fprintln(a.stdout)
			if rep.Failed() {
				return &exitError{code: 2, err: errors.New("prerequisite checks failed; nothing was installed")}
			}
			adv := net.JoinHostPort(hostname, strconv.Itoa(port))
			var ips []net.IP
			if chosen != nil {
				adv, ips = net.JoinHostPort(chosen.String(), strconv.Itoa(port)), []net.IP{chosen}
			}
			key := configserver.NewKey()
			addr := configServerAddr(csAddr)
			res, err := enroll.Enroll(cmd.Context(), enroll.ClientRequest{Address: addr, Passphrase: p, Role: enroll.RoleProcessServer,
				Name: name, Key: key, DNSNames: []string{strings.ToLower(hostname)}, IPs: ips, Info: configserver.PSInfo{Address: adv}})
			if err != nil {
				return fmt.Errorf("enroll with the configuration server at %s: %w", addr, err)
			}
			if err := configserver.WriteIdentity(dir, configserver.HolderIdentity{Role: enroll.RoleProcessServer, Name: name,
				Cert: res.Cert, CA: res.CA, Root: res.Root, Key: key, ConfigServerAddr: addr}); err != nil {
				return err
			}
			if err := configserver.WritePSConfig(dir, configserver.PSSettings{Name: name, Listen: net.JoinHostPort(host, strconv.Itoa(port)),
				HealthListen: healthListen, CacheDir: cacheDir, CacheBytes: int64(cacheSize)}); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Process server %s enrolled with the configuration server at %s; agents reach it at %s.\n", name, addr, adv)
			fmt.Fprintf(a.stdout, "Start it with: osr process-server serve --config %s\n", filepath.Join(dir, configserver.PSConfigFile))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&csAddr, "config-server", "", "configuration server HOST[:PORT] (port 443 by default)")
	f.StringVar(&passFile, "passphrase-file", "", "file holding the configuration server's passphrase")
	f.StringVar(&name, "name", "", "process server name (default: the short host name)")
	f.IntVar(&port, "port", configserver.DefaultPSPort, "port agents connect to (443 is prohibited)")
	f.StringVar(&cacheDir, "cache-dir", "", "cache directory (at least 5 GiB free, 600 GiB recommended)")
	f.Var(&cacheSize, "cache-size", "cache budget on a shared disk, e.g. 50GiB (default: the cache owns its file system)")
	f.StringVar(&dir, "dir", "/etc/osr/process-server", "where the certificate and settings are written")
	f.StringVar(&listenAddr, "listen-address", "", "address to listen on (network selection)")
	f.StringVar(&listenIf, "listen-interface", "", "interface to listen on (network selection)")
	f.StringVar(&healthListen, "health-listen", configserver.DefaultHealthListen, "where the process server serves /health and /metrics")
	for _, n := range []string{"config-server", "passphrase-file", "cache-dir"} {
		_ = cmd.MarkFlagRequired(n)
	}
	cmd.MarkFlagsMutuallyExclusive("listen-address", "listen-interface")
	return cmd
}

func nameResult(name string) prereq.Result {
	if err := enroll.ValidName(name); err != nil {
		return prereq.Result{Status: prereq.Fail, Message: err.Error(), Fix: "give --name"}
	}
	return prereq.Result{Status: prereq.Pass, Message: name}
}

// mobilityInstallCommand is `osr mobility install`: the seed's manual Linux agent installation.
// Registered under `mobility` (cmd_mobility.go).
func (a *app) mobilityInstallCommand() *cobra.Command {
	var csAddr, passFile, name, dir, stateDir string
	var disks []string
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Register this machine with a configuration server (passphrase) and write the agent's configuration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := passphrase.ReadFile(passFile, false)
			if err != nil {
				return err
			}
			hostname, short, err := shortHostname()
			if err != nil {
				return err
			}
			if name == "" {
				name = short
			}
			if r := alreadyEnrolled(dir); r.Status == prereq.Fail {
				return errors.New(r.Message + "; " + r.Fix)
			}
			if err := enroll.ValidName(name); err != nil {
				return fmt.Errorf("machine name: %w (give --name)", err)
			}
			info := configserver.AgentInfo{Hostname: hostname, OS: runtime.GOOS, Addresses: localAddresses()}
			var mdisks []mobility.Disk
			for _, d := range disks {
				n, path, ok := strings.Cut(d, "=")
				if !ok || n == "" || path == "" {
					return fmt.Errorf("--disk %q: want NAME=PATH", d)
				}
				size, err := diskSize(path)
				if err != nil {
					return fmt.Errorf("--disk %s: %w", n, err)
				}
				info.Disks = append(info.Disks, vaultlink.Disk{Name: n, SizeBytes: size})
				mdisks = append(mdisks, mobility.Disk{Name: n, Path: path})
			}
			key := configserver.NewKey()
			addr := configServerAddr(csAddr)
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			res, err := enroll.Enroll(ctx, enroll.ClientRequest{Address: addr, Passphrase: p, Role: enroll.RoleAgent, Name: name, Key: key, Info: info})
			if err != nil {
				return fmt.Errorf("register with the configuration server at %s: %w", addr, err)
			}
			var ac configserver.AgentConfig
			if err := json.Unmarshal(res.Config, &ac); err != nil || ac.ProcessServer == "" {
				return fmt.Errorf("machine %s is registered, but the configuration server has assigned it no process server yet", name)
			}
			if err := configserver.WriteIdentity(dir, configserver.HolderIdentity{Role: enroll.RoleAgent, Name: name,
				Cert: res.Cert, CA: res.CA, Root: res.Root, Key: key, ConfigServerAddr: addr}); err != nil {
				return err
			}
			cfg := agentConfigFile{Machine: name, ProcessServer: ac.ProcessServer, StateDir: stateDir, Disks: mdisks}
			cfg.TLS.CA, cfg.TLS.Cert, cfg.TLS.Key = configserver.IdentityRoot, configserver.IdentityCert, configserver.IdentityKey
			cfgPath := filepath.Join(dir, "mobility.yaml")
			b, err := yaml.Marshal(cfg)
			if err != nil {
				return err
			}
			if _, err := mobility.ParseConfig(b, dir); err != nil {
				return fmt.Errorf("the agent configuration would not load: %w", err)
			}
			if err := privfile.Write(cfgPath, b); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Machine %s registered with the configuration server at %s; process server %s (%s).\n", name, addr, ac.ProcessServerName, ac.ProcessServer)
			fmt.Fprintf(a.stdout, "Agent configuration: %s\nStart it with: osr mobility serve --config %s\n", cfgPath, cfgPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&csAddr, "config-server", "", "configuration server HOST[:PORT] (port 443 by default)")
	f.StringVar(&passFile, "passphrase-file", "", "file holding the configuration server's passphrase")
	f.StringVar(&name, "name", "", "machine name (default: the short host name)")
	f.StringArrayVar(&disks, "disk", nil, "disk to protect, NAME=PATH (repeat for each disk)")
	f.StringVar(&dir, "dir", "/etc/osr/mobility", "where the certificate and mobility.yaml are written")
	f.StringVar(&stateDir, "state-dir", "/var/lib/osr/mobility", "the agent's state directory")
	for _, n := range []string{"config-server", "passphrase-file", "disk"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

// agentConfigFile is the part of mobility.yaml the installation writes; the rest takes defaults.
type agentConfigFile struct {
	Machine       string `yaml:"machine"`
	ProcessServer string `yaml:"process_server"`
	TLS           struct {
		CA   string `yaml:"ca"`
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	StateDir string          `yaml:"state_dir"`
	Disks    []mobility.Disk `yaml:"disks"`
}

func diskSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := f.Seek(0, io.SeekEnd) // works for block devices and files alike
	if err != nil {
		return 0, err
	}
	return n, nil
}

func localAddresses() []string {
	out := []string{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			out = append(out, n.IP.String())
		}
	}
	return out
}
