package prereq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

// Thresholds of the checks.
const (
	MinCacheFree         = 5 << 30   // below: fail
	RecommendedCacheFree = 600 << 30 // below: warn
	MaxClockSkew         = 5 * time.Minute
	ReservedPort         = 443 // the configuration server's own port; a process server never takes it
)

// Env is what the checks observe. Default returns the real one.
type Env struct {
	// FreeBytes returns the free space (for unprivileged users) of the file system holding path.
	FreeBytes func(path string) (uint64, error)
	// Listen opens a listener, to see whether an address and port are free.
	Listen func(network, address string) (net.Listener, error)
	// InterfaceAddrs returns the addresses of the named network interface.
	InterfaceAddrs func(name string) ([]net.Addr, error)
	// ProbeVault connects to the vault (through the proxy, if any) and returns its clock.
	ProbeVault func(ctx context.Context) (time.Time, error)
	Clock      clock.Clock
}

// Default returns the environment of this host; probe is the vault probe (nil: no vault check).
func Default(probe func(ctx context.Context) (time.Time, error)) Env {
	return Env{
		FreeBytes: statfsFree,
		Listen:    net.Listen,
		InterfaceAddrs: func(name string) ([]net.Addr, error) {
			ifc, err := net.InterfaceByName(name)
			if err != nil {
				return nil, err
			}
			return ifc.Addrs()
		},
		ProbeVault: probe,
		Clock:      clock.Real{},
	}
}

// GiB formats a byte count in GiB with one decimal.
func GiB(n uint64) string { return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB" }

// CacheSpace checks the free space of the cache directory.
func CacheSpace(env Env, dir string) Check {
	return Check{Name: "cache space", Run: func(context.Context) Result {
		free, err := env.FreeBytes(dir)
		switch {
		case err != nil:
			return Result{Status: Fail, Message: fmt.Sprintf("cannot measure the free space of %s: %v", dir, err),
				Fix: "choose an existing, writable --cache-dir"}
		case free < MinCacheFree:
			return Result{Status: Fail, Message: fmt.Sprintf("%s free in %s, less than the 5 GiB needed", GiB(free), dir),
				Fix: "choose a --cache-dir on a file system with at least 5 GiB free (600 GiB recommended)"}
		case free < RecommendedCacheFree:
			return Result{Status: Warn, Message: fmt.Sprintf("%s free in %s, less than the 600 GiB recommended", GiB(free), dir),
				Fix: "for many machines or large changes, move --cache-dir to a file system with 600 GiB free"}
		}
		return Result{Status: Pass, Message: fmt.Sprintf("%s free in %s", GiB(free), dir)}
	}}
}

// Port checks that port on host (empty: all addresses) is allowed and free. what names the
// component that will listen, for messages ("process server", "configuration server").
func Port(env Env, what, host string, port int, reserved bool) Check {
	return Check{Name: what + " port", Run: func(context.Context) Result {
		if port < 1 || port > 65535 {
			return Result{Status: Fail, Message: fmt.Sprintf("port %d is not a TCP port", port), Fix: "choose a port from 1 to 65535"}
		}
		if reserved && port == ReservedPort {
			return Result{Status: Fail, Message: "port 443 is prohibited for the process server: the configuration server uses it",
				Fix: "use --port 9443 (the default)"}
		}
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		l, err := env.Listen("tcp", addr)
		if err != nil {
			return Result{Status: Fail, Message: fmt.Sprintf("cannot listen on %s: %v", addr, unwrapOp(err)),
				Fix: fmt.Sprintf("stop the program that uses port %d, or choose another port", port)}
		}
		l.Close()
		return Result{Status: Pass, Message: fmt.Sprintf("%s is free", addr)}
	}}
}

// unwrapOp drops the "listen tcp ADDR:" prefix of a net.OpError, which the message already says.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var se *os.SyscallError
		if errors.As(op.Err, &se) {
			return se.Err
		}
		return op.Err
	}
	return err
}

// Network resolves the seed's "Network Selection": the address the process server listens on,
// from --listen-address or --listen-interface. It stores the chosen IP in *chosen (nil: all
// addresses).
func Network(env Env, address, iface string, chosen *net.IP) Check {
	return Check{Name: "network", Run: func(context.Context) Result {
		switch {
		case address != "" && iface != "":
			return Result{Status: Fail, Message: "both --listen-address and --listen-interface are given",
				Fix: "give one of them"}
		case address != "":
			ip := net.ParseIP(address)
			if ip == nil {
				return Result{Status: Fail, Message: fmt.Sprintf("%q is not an IP address", address),
					Fix: "give an address of this host, or --listen-interface"}
			}
			l, err := env.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
			if err != nil {
				return Result{Status: Fail, Message: fmt.Sprintf("%s is not an address of this host: %v", ip, unwrapOp(err)),
					Fix: "give an address of this host (ip -br addr), or --listen-interface"}
			}
			l.Close()
			*chosen = ip
			return Result{Status: Pass, Message: fmt.Sprintf("listening on %s", ip)}
		case iface != "":
			addrs, err := env.InterfaceAddrs(iface)
			if err != nil {
				return Result{Status: Fail, Message: fmt.Sprintf("network interface %s: %v", iface, err),
					Fix: "choose an interface of this host (ip -br link)"}
			}
			var ip4, ip6 net.IP
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					switch {
					case n.IP.To4() != nil && ip4 == nil:
						ip4 = n.IP.To4()
					case n.IP.To4() == nil && ip6 == nil && !n.IP.IsLinkLocalUnicast():
						ip6 = n.IP
					}
				}
			}
			ip := ip4
			if ip == nil {
				ip = ip6
			}
			if ip == nil {
				return Result{Status: Fail, Message: fmt.Sprintf("network interface %s has no usable IP address", iface),
					Fix: "configure an address on it, or choose another interface"}
			}
			*chosen = ip
			return Result{Status: Pass, Message: fmt.Sprintf("listening on %s (%s)", ip, iface)}
		}
		*chosen = nil
		return Result{Status: Warn, Message: "listening on all addresses",
			Fix: "choose the interface agents reach with --listen-interface or --listen-address"}
	}}
}

// VaultAndClock probes the vault once and reports two results: reachability (through the proxy, if
// any) and the clock difference with the vault. The two checks share the probe.
func VaultAndClock(env Env, vaultURL string, proxy *url.URL) []Check {
	var probed bool
	var vaultTime, localTime time.Time
	var probeErr error
	probe := func(ctx context.Context) {
		if probed {
			return
		}
		probed = true
		if env.ProbeVault == nil {
			probeErr = errors.New("no vault to probe")
			return
		}
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		vaultTime, probeErr = env.ProbeVault(pctx)
		localTime = env.Clock.Now().Truncate(time.Second) // the resolution of the vault's Date
	}
	via := "directly"
	if proxy != nil {
		via = "through proxy " + proxy.Redacted()
	}
	return []Check{
		{Name: "vault", Run: func(ctx context.Context) Result {
			probe(ctx)
			if probeErr != nil {
				fix := "check the network path to the vault (firewall, DNS) and that the vault service runs"
				if proxy != nil {
					fix = "check the proxy address and that it allows CONNECT to the vault"
				}
				return Result{Status: Fail, Message: fmt.Sprintf("cannot reach the vault at %s %s: %v", vaultURL, via, probeErr), Fix: fix}
			}
			return Result{Status: Pass, Message: fmt.Sprintf("vault at %s reached %s", vaultURL, via)}
		}},
		{Name: "clock", Run: func(ctx context.Context) Result {
			probe(ctx)
			if probeErr != nil {
				return Result{Status: Fail, Message: "cannot compare the clock with the vault's: the vault is unreachable",
					Fix: "fix the vault check first"}
			}
			skew := localTime.Sub(vaultTime)
			if skew < 0 {
				skew = -skew
			}
			// The vault's Date header has a resolution of one second.
			if skew > MaxClockSkew {
				dir := "ahead of"
				if localTime.Before(vaultTime) {
					dir = "behind"
				}
				return Result{Status: Fail, Message: fmt.Sprintf("this host's clock is %s %s the vault's (more than 5m0s)", skew.Round(time.Second), dir),
					Fix: "synchronise the clock with NTP (timedatectl set-ntp true) on this host or the vault"}
			}
			return Result{Status: Pass, Message: fmt.Sprintf("within %s of the vault's clock", skew.Round(time.Second))}
		}},
	}
}

// Static is a check whose result is already known (the registration key, an earlier installation).
func Static(name string, r Result) Check {
	return Check{Name: name, Run: func(context.Context) Result { return r }}
}
