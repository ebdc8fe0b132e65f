package prereq

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver/cstest"
	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
)

func run(c Check) Result { return Run(context.Background(), []Check{c})[0] }

func TestCacheSpace(t *testing.T) {
	for _, tc := range []struct {
		free uint64
		err  error
		want Result
	}{
		{free: 700 << 30, want: Result{Check: "cache space", Status: Pass, Message: "700.0 GiB free in /cache"}},
		{free: 600 << 30, want: Result{Check: "cache space", Status: Pass, Message: "600.0 GiB free in /cache"}},
		{free: 100 << 30, want: Result{Check: "cache space", Status: Warn, Message: "100.0 GiB free in /cache, less than the 600 GiB recommended",
			Fix: "for many machines or large changes, move --cache-dir to a file system with 600 GiB free"}},
		{free: 5 << 30, want: Result{Check: "cache space", Status: Warn, Message: "5.0 GiB free in /cache, less than the 600 GiB recommended",
			Fix: "for many machines or large changes, move --cache-dir to a file system with 600 GiB free"}},
		{free: 5<<30 - 1, want: Result{Check: "cache space", Status: Fail, Message: "5.0 GiB free in /cache, less than the 5 GiB needed",
			Fix: "choose a --cache-dir on a file system with at least 5 GiB free (600 GiB recommended)"}},
		{err: errors.New("permission denied"), want: Result{Check: "cache space", Status: Fail, Message: "cannot measure the free space of /cache: permission denied",
			Fix: "choose an existing, writable --cache-dir"}},
	} {
		env := Env{FreeBytes: func(string) (uint64, error) { return tc.free, tc.err }}
		if got := run(CacheSpace(env, "/cache")); got != tc.want {
			t.Errorf("free %d: got %+v, want %+v", tc.free, got, tc.want)
		}
	}
}

// TestCacheSpaceReal measures a real file system, through a directory that does not exist yet.
func TestCacheSpaceReal(t *testing.T) {
	dir := t.TempDir()
	free, err := statfsFree(filepath.Join(dir, "not", "yet"))
	if err != nil {
		t.Fatal(err)
	}
	if free == 0 {
		t.Fatal("statfs says 0 bytes free in a temporary directory")
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := statfsFree(filepath.Join(dir, "f", "x")); err == nil {
		t.Fatal("statfs below a regular file succeeded")
	}
}

func TestPort(t *testing.T) {
	env := Env{Listen: net.Listen}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	freePort := free.Addr().(*net.TCPAddr).Port
	free.Close()
	bp, fp := strconv.Itoa(busyPort), strconv.Itoa(freePort)
	for _, tc := range []struct {
		port     int
		reserved bool
		want     Result
	}{
		{443, true, Result{Check: "process server port", Status: Fail, Message: "port 443 is prohibited for the process server: the configuration server uses it", Fix: "use --port 9443 (the default)"}},
		{busyPort, true, Result{Check: "process server port", Status: Fail, Message: "cannot listen on 127.0.0.1:" + bp + ": address already in use", Fix: "stop the program that uses port " + bp + ", or choose another port"}},
		{freePort, true, Result{Check: "process server port", Status: Pass, Message: "127.0.0.1:" + fp + " is free"}},
		{70000, true, Result{Check: "process server port", Status: Fail, Message: "port 70000 is not a TCP port", Fix: "choose a port from 1 to 65535"}},
	} {
		if got := run(Port(env, "process server", "127.0.0.1", tc.port, tc.reserved)); got != tc.want {
			t.Errorf("port %d: got %+v, want %+v", tc.port, got, tc.want)
		}
	}
	// The configuration server itself may take 443 (the check is then only whether it is free).
	got := run(Port(Env{Listen: func(string, string) (net.Listener, error) { return busy, nil }}, "configuration server", "", 443, false))
	if got.Status != Pass || got.Message != ":443 is free" {
		t.Errorf("configuration server on 443: %+v", got)
	}
}

func TestNetwork(t *testing.T) {
	env := Default(nil)
	var ip net.IP
	for _, tc := range []struct {
		addr, iface string
		want        Result
		wantIP      string
	}{
		{"127.0.0.1", "", Result{Check: "network", Status: Pass, Message: "listening on 127.0.0.1"}, "127.0.0.1"},
		{"", "lo", Result{Check: "network", Status: Pass, Message: "listening on 127.0.0.1 (lo)"}, "127.0.0.1"},
		{"", "", Result{Check: "network", Status: Warn, Message: "listening on all addresses", Fix: "choose the interface agents reach with --listen-interface or --listen-address"}, "<nil>"},
		{"192.0.2.77", "", Result{Check: "network", Status: Fail, Message: "192.0.2.77 is not an address of this host: cannot assign requested address", Fix: "give an address of this host (ip -br addr), or --listen-interface"}, "<nil>"},
		{"web01", "", Result{Check: "network", Status: Fail, Message: `"web01" is not an IP address`, Fix: "give an address of this host, or --listen-interface"}, "<nil>"},
		{"", "osrnone0", Result{Check: "network", Status: Fail, Message: "network interface osrnone0: route ip+net: no such network interface", Fix: "choose an interface of this host (ip -br link)"}, "<nil>"},
		{"127.0.0.1", "lo", Result{Check: "network", Status: Fail, Message: "both --listen-address and --listen-interface are given", Fix: "give one of them"}, "<nil>"},
	} {
		ip = nil
		got := run(Network(env, tc.addr, tc.iface, &ip))
		if got != tc.want || ip.String() != tc.wantIP {
			t.Errorf("%q/%q: got %+v ip %v, want %+v ip %s", tc.addr, tc.iface, got, ip, tc.want, tc.wantIP)
		}
	}
}

// vault starts an HTTPS server with a certificate from root; date, if set, overrides its clock.
func vault(t *testing.T, root *cstest.CA, date func() time.Time) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if date != nil {
			w.Header().Set("Date", date().UTC().Format(http.TimeFormat))
		}
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
	}))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{root.ServerCert(t)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func probeFor(root *cstest.CA, base string, proxy *url.URL) func(ctx context.Context) (time.Time, error) {
	c := vaultlink.NewClient(base, vaultlink.HTTPClient(vaultlink.PinnedTLS(root.SHA256()), proxy, 10*time.Second))
	return c.Probe
}

func TestVaultAndClock(t *testing.T) {
	root := cstest.NewRoot(t, "osr vault root")
	now := time.Now()
	fake := clock.NewFake(now)
	srv := vault(t, root, nil)
	base := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)

	// Direct, in time.
	env := Env{ProbeVault: probeFor(root, base, nil), Clock: clock.Real{}}
	rep := Run(context.Background(), VaultAndClock(env, base, nil))
	if rep[0].Status != Pass || rep[0].Message != "vault at "+base+" reached directly" {
		t.Errorf("vault: %+v", rep[0])
	}
	if rep[1].Status != Pass || !strings.HasPrefix(rep[1].Message, "within ") {
		t.Errorf("clock: %+v", rep[1])
	}

	// Through a real CONNECT proxy.
	proxy := cstest.StartProxy(t)
	pu, _ := url.Parse(proxy.URL)
	env.ProbeVault = probeFor(root, base, pu)
	rep = Run(context.Background(), VaultAndClock(env, base, pu))
	if rep[0].Status != Pass || rep[0].Message != "vault at "+base+" reached through proxy "+proxy.URL {
		t.Errorf("vault through proxy: %+v", rep[0])
	}
	if tg := proxy.Targets(); len(tg) != 1 || tg[0] != strings.TrimPrefix(base, "https://") {
		t.Errorf("proxy served %v, want one CONNECT to the vault", tg)
	}

	// Our clock 7 minutes ahead (fake clock), then the vault's 6 minutes ahead (its Date header).
	// Set from the real time just before the probe: the vault's clock is the real one, and a slow
	// run must not move the measured skew below 7m0s.
	fake.Set(time.Now().Add(7 * time.Minute))
	env = Env{ProbeVault: probeFor(root, base, nil), Clock: fake}
	rep = Run(context.Background(), VaultAndClock(env, base, nil))
	want := Result{Check: "clock", Status: Fail, Message: "this host's clock is 7m0s ahead of the vault's (more than 5m0s)",
		Fix: "synchronise the clock with NTP (timedatectl set-ntp true) on this host or the vault"}
	if rep[1].Message != want.Message && rep[1].Message != strings.Replace(want.Message, "7m0s", "7m1s", 1) || rep[1].Status != Fail || rep[1].Fix != want.Fix {
		t.Errorf("clock ahead: %+v", rep[1])
	}
	fake.Set(now)
	skewed := vault(t, root, func() time.Time { return fake.Now().Add(6 * time.Minute) })
	sbase := strings.Replace(skewed.URL, "127.0.0.1", "localhost", 1)
	env = Env{ProbeVault: probeFor(root, sbase, nil), Clock: fake}
	rep = Run(context.Background(), VaultAndClock(env, sbase, nil))
	if rep[1].Status != Fail || rep[1].Message != "this host's clock is 6m0s behind the vault's (more than 5m0s)" {
		t.Errorf("clock behind: %+v", rep[1])
	}

	// A vault with another root CA: the pin refuses it.
	other := cstest.NewRoot(t, "other")
	env = Env{ProbeVault: probeFor(other, base, nil), Clock: clock.Real{}}
	rep = Run(context.Background(), VaultAndClock(env, base, nil))
	wantMsg := "cannot reach the vault at " + base + " directly: Get \"" + base + "/api/v1/\": the vault does not present the pinned root CA (sha256 " + other.SHA256() + ")"
	if rep[0].Status != Fail || rep[0].Message != wantMsg {
		t.Errorf("pin mismatch: %+v\nwant %s", rep[0], wantMsg)
	}
	if rep[1].Status != Fail || rep[1].Message != "cannot compare the clock with the vault's: the vault is unreachable" {
		t.Errorf("clock of an unreachable vault: %+v", rep[1])
	}

	// Nothing listening.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "https://localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	env = Env{ProbeVault: probeFor(root, dead, pu), Clock: clock.Real{}}
	rep = Run(context.Background(), VaultAndClock(env, dead, pu))
	if rep[0].Status != Fail || !strings.HasPrefix(rep[0].Message, "cannot reach the vault at "+dead+" through proxy "+proxy.URL+": ") ||
		rep[0].Fix != "check the proxy address and that it allows CONNECT to the vault" {
		t.Errorf("dead vault through proxy: %+v", rep[0])
	}
}

func TestTable(t *testing.T) {
	rep := Report{
		{Check: "cache space", Status: Pass, Message: "700.0 GiB free in /cache"},
		{Check: "process server port", Status: Fail, Message: "port 443 is prohibited", Fix: "use --port 9443"},
	}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"CHECK                RESULT  MESSAGE                   HOW TO FIX\n" +
		"cache space          pass    700.0 GiB free in /cache  -\n" +
		"process server port  fail    port 443 is prohibited    use --port 9443\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	if !rep.Failed() || rep[:1].Failed() {
		t.Error("Failed is wrong")
	}
}
