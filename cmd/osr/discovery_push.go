package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/installrepo"
	"github.com/opensiterecovery/osr/internal/passphrase"
	"github.com/opensiterecovery/osr/internal/pushinstall"
	"github.com/opensiterecovery/osr/internal/vcenter"
)

// repoDir is the install repository inside the configuration server's data directory.
const repoDir = "agents"

// mobilityDeployCommands are `osr mobility push|uninstall|repo|fetch|deploy`, registered
// under `osr mobility`.
func (a *app) mobilityDeployCommands() []*cobra.Command {
	return []*cobra.Command{a.mobilityPushCommand(), a.mobilityUninstallCommand(), a.mobilityRepoCommand(), a.mobilityFetchCommand(),
		a.mobilityDeployCommand()}
}

type pushFlags struct {
	dataDir, csAddr, account string
	disks                    []string
	parallel                 int
	timeout                  time.Duration
}

func (f *pushFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", configserver.DefaultDataDir, "configuration server data directory")
	fl.StringVar(&f.account, "account", "", "ssh account for machines discovered in vCenter (physical servers use their own)")
}

func (a *app) pusher(f *pushFlags) (*pushinstall.Pusher, *vcenter.Inventory, error) {
	reg, err := configserver.LoadRegistration(f.dataDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("no configuration server is installed in %s: run osr config-server install", f.dataDir)
	}
	if err != nil {
		return nil, nil, err
	}
	if f.csAddr == "" {
		// The agents reach this host where they send their data: the default process server's
		// address (chosen at install, network selection), else this host's name.
		_, port, _ := net.SplitHostPort(reg.APIAddress)
		host, _, _ := net.SplitHostPort(reg.ProcessServer.Address)
		if ip := net.ParseIP(host); host == "" || ip != nil && (ip.IsUnspecified() || ip.IsLoopback()) {
			host, _ = os.Hostname()
		}
		f.csAddr = net.JoinHostPort(host, port)
	}
	pass, err := passphrase.ReadFile(filepath.Join(f.dataDir, configserver.PassphraseFile), true)
	if err != nil {
		return nil, nil, err
	}
	acc, err := a.accountStore(f.dataDir)
	if err != nil {
		return nil, nil, err
	}
	repo, err := installrepo.Open(filepath.Join(f.dataDir, repoDir))
	if err != nil {
		return nil, nil, err
	}
	inv, err := a.inventory(f.dataDir)
	if err != nil {
		return nil, nil, err
	}
	p, err := pushinstall.New(pushinstall.Config{Secrets: acc, Builds: repo, KnownHosts: pushinstall.NewKnownHosts(filepath.Join(f.dataDir, "known_hosts")),
		Heartbeats: pushinstall.AdminSocket{Path: filepath.Join(f.dataDir, configserver.AdminSocket)}, ConfigServer: f.csAddr,
		Passphrase: pass.String(), Parallel: f.parallel, HeartbeatTimeout: f.timeout, Clock: a.clock, Logger: a.logger})
	return p, inv, err
}

// targets resolves machine names through the inventory (pushinstall.Resolver).
func (a *app) targets(cmd *cobra.Command, inv *vcenter.Inventory, f *pushFlags, names []string) ([]pushinstall.Target, error) {
	r := pushinstall.Resolver{Inventory: inv, VMAccount: f.account, Disks: f.disks}
	var out []pushinstall.Target
	for _, n := range names {
		t, err := r.Resolve(cmd.Context(), n)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func (a *app) mobilityPushCommand() *cobra.Command {
	var f pushFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "push MACHINE...",
		Short: "Install or upgrade the mobility service on machines over SSH from the configuration server",
		Long: `Push logs in to each machine with its stored account, detects the system, copies the matching
build from the install repository, registers the machine with the passphrase, starts the service
and waits until its heartbeat is Connected. A machine that has the agent already is upgraded in
place. A failure before the service starts leaves the machine as it was. Machines are pushed in
parallel, --parallel at once. Exit code 0 when every push succeeded, 1 otherwise.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, inv, err := a.pusher(&f)
			if err != nil {
				return err
			}
			ts, err := a.targets(cmd, inv, &f, args)
			if err != nil {
				return err
			}
			res := p.PushAll(cmd.Context(), ts)
			failed := 0
			for _, r := range res {
				if r.Err != nil {
					failed++
				}
			}
			if asJSON {
				if err := json.NewEncoder(a.stdout).Encode(res); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "MACHINE\tADDRESS\tRESULT\tACTION\tSERVICE\tSTATUS\tERROR")
				for _, r := range res {
					result := "ok"
					if r.Err != nil {
						result = "failed"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Machine, r.Address, result, orDash(r.Action), orDash(r.Service), orDash(r.Status), orDash(r.Error))
				}
				_ = tw.Flush()
			}
			if failed > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d pushes failed", failed, len(res))}
			}
			return nil
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.csAddr, "config-server", "", "HOST:PORT the agents reach this configuration server at (default: the default process server's host and the API port)")
	fl.StringArrayVar(&f.disks, "disk", nil, "disk to protect, NAME=PATH (repeat; default: every whole disk lsblk lists)")
	fl.IntVar(&f.parallel, "parallel", 8, "machines pushed at once")
	fl.DurationVar(&f.timeout, "heartbeat-timeout", 2*time.Minute, "how long to wait for each agent's first heartbeat")
	fl.BoolVar(&asJSON, "json", false, "results as JSON")
	return cmd
}

func (a *app) mobilityUninstallCommand() *cobra.Command {
	var f pushFlags
	cmd := &cobra.Command{
		Use:   "uninstall MACHINE...",
		Short: "Stop the mobility service on machines and remove its files, over SSH from the configuration server",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, inv, err := a.pusher(&f)
			if err != nil {
				return err
			}
			ts, err := a.targets(cmd, inv, &f, args)
			if err != nil {
				return err
			}
			var errs []error
			for _, t := range ts {
				if err := p.Uninstall(cmd.Context(), t); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(a.stdout, "mobility service removed from %s (%s)\n", t.Machine, t.Address)
			}
			return errors.Join(errs...)
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) mobilityRepoCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "repo",
		Short: "The configuration server's install repository of agent builds (served at /agents/)",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", configserver.DefaultDataDir, "configuration server data directory")
	var plat, file string
	var self bool
	add := &cobra.Command{
		Use:   "add",
		Short: "Add or replace the build of a platform (--self: this osr binary for its own platform)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if self {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				file, plat = exe, runtime.GOOS+"/"+runtime.GOARCH
			}
			if file == "" || plat == "" {
				return errors.New("give --platform and --file, or --self")
			}
			p, err := installrepo.ParsePlatform(plat)
			if err != nil {
				return err
			}
			r, err := installrepo.Open(filepath.Join(dataDir, repoDir))
			if err != nil {
				return err
			}
			sum, err := r.AddFile(cmd.Context(), p, file)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s  %s\n", sum, p.Path())
			return nil
		},
	}
	add.Flags().StringVar(&plat, "platform", "", "linux/amd64, linux/arm64 or windows/amd64")
	add.Flags().StringVar(&file, "file", "", "the build")
	add.Flags().BoolVar(&self, "self", false, "add this osr binary for its own platform")
	list := &cobra.Command{
		Use:   "list",
		Short: "Show the builds with their SHA-256 (give it to manual installs as --sha256)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := installrepo.Open(filepath.Join(dataDir, repoDir))
			if err != nil {
				return err
			}
			sums, err := r.Sums()
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(installrepo.FormatSums(sums))
			return err
		},
	}
	cmd.AddCommand(add, list)
	return cmd
}

func (a *app) mobilityFetchCommand() *cobra.Command {
	var o installrepo.FetchOptions
	var from, plat, caFile string
	cmd := &cobra.Command{
		Use:   "fetch",
		Short: "Download the agent build for this machine from a configuration server's install repository",
		Long: `Fetch downloads SHA256SUMS and the build for this platform from https://CS[:PORT]/agents, checks
the build's SHA-256 against the list and against --sha256, and only then installs it at --out.
Without --ca-file (the vault's root certificate) the server's certificate is not checked, so
--sha256 (from osr mobility repo list on the configuration server) is required. Exit code 5 on a
checksum mismatch; nothing is installed then.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := installrepo.ParsePlatform(plat)
			if err != nil {
				return err
			}
			tc := &tls.Config{MinVersion: tls.VersionTLS12}
			switch {
			case caFile != "":
				b, err := os.ReadFile(caFile)
				if err != nil {
					return err
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(b) {
					return fmt.Errorf("%s holds no PEM certificate", caFile)
				}
				tc.RootCAs = pool
			case o.SHA256 == "":
				return errors.New("give --sha256 (from osr mobility repo list on the configuration server) or --ca-file")
			default:
				tc.InsecureSkipVerify = true // the content is pinned by --sha256
			}
			base := strings.TrimSuffix(from, "/")
			if !strings.HasPrefix(base, "https://") {
				base = "https://" + base
			}
			o.BaseURL, o.Platform = base+strings.TrimSuffix(installrepo.Prefix, "/"), p
			o.Client = &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
			sum, err := installrepo.Fetch(cmd.Context(), o)
			if errors.Is(err, installrepo.ErrChecksum) {
				return &exitError{code: 5, err: err}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s build %s installed at %s\n", p, sum, o.Dest)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "configuration server, https://HOST[:PORT]")
	fl.StringVar(&plat, "platform", runtime.GOOS+"/"+runtime.GOARCH, "platform of the build")
	fl.StringVar(&o.SHA256, "sha256", "", "expected SHA-256 of the build")
	fl.StringVar(&caFile, "ca-file", "", "PEM root certificate to check the server with (the vault's root CA)")
	fl.StringVar(&o.Dest, "out", "/opt/osr/bin/osr", "where to install the binary")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}
