//go:build linux

package netlab

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Lab is one bridge and its hosts.
type Lab struct {
	t       testing.TB
	n       int    // the third octet of the lab's subnet
	bridge  string // the bridge's name
	Gateway string // the test side's address on the bridge
	hosts   []*Host
}

// Host is one network namespace on the lab's bridge.
type Host struct {
	lab  *Lab
	Name string // the host's short name, as given
	NS   string // the namespace's name
	Addr string // the host's address
	veth string // the link's end on the bridge side
}

// New creates a lab; it fails the test with what to install when root or a tool is missing.
func New(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("netlab: needs root (network namespaces); run the tests as root")
	}
	for tool, pkg := range map[string]string{"ip": "iproute2", "nft": "nftables", "tc": "iproute2"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("netlab: %s not found: apt-get install -y %s", tool, pkg)
		}
	}
	n, unlock := allocate(t)
	defer unlock()
	l := &Lab{t: t, n: n, bridge: fmt.Sprintf("osrlab%d", n), Gateway: fmt.Sprintf("10.233.%d.1", n)}
	t.Cleanup(l.destroy)
	l.must("ip", "link", "add", l.bridge, "type", "bridge")
	// No IPv6 link-local address: the kernel would add it a while after the link is up, outside
	// Changing, and that change too aborts the page loads of a browser test.
	l.must("ip", "link", "set", l.bridge, "addrgenmode", "none")
	l.must("ip", "addr", "add", l.Gateway+"/24", "dev", l.bridge)
	l.must("ip", "link", "set", l.bridge, "up")
	return l
}

// Host adds a host to the lab.
func (l *Lab) Host(name string) *Host {
	l.t.Helper()
	i := len(l.hosts) + 10
	h := &Host{lab: l, Name: name, NS: fmt.Sprintf("osrlab%d-%s", l.n, name), Addr: fmt.Sprintf("10.233.%d.%d", l.n, i), veth: fmt.Sprintf("ol%d-%d", l.n, i)}
	l.hosts = append(l.hosts, h)
	defer Changing(l.t)() // a link of this machine's namespace comes
	peer := h.veth + "p"
	l.must("ip", "netns", "add", h.NS)
	l.must("ip", "link", "add", h.veth, "type", "veth", "peer", "name", peer)
	l.must("ip", "link", "set", h.veth, "addrgenmode", "none") // as for the bridge
	l.must("ip", "link", "set", h.veth, "master", l.bridge, "up")
	l.must("ip", "link", "set", peer, "netns", h.NS)
	l.must("ip", "-n", h.NS, "link", "set", peer, "name", "eth0")
	l.must("ip", "-n", h.NS, "addr", "add", h.Addr+"/24", "dev", "eth0")
	l.must("ip", "-n", h.NS, "link", "set", "eth0", "up")
	l.must("ip", "-n", h.NS, "link", "set", "lo", "up")
	l.must("ip", "-n", h.NS, "route", "add", "default", "via", l.Gateway)
	return h
}

// Argv returns argv run inside the host's namespace.
func (h *Host) Argv(argv ...string) []string { return InNamespace(h.NS, argv...) }

// InNamespace returns argv run in network namespace ns, and in no other namespace. It is not
// `ip netns exec`: that one also gives the process a mount namespace of its own, a copy of every
// mount at that instant which this machine does not propagate (its root is private). The copy
// held file systems that tests running at the same time unmounted, and through them their loop
// devices and the files behind those, as long as the process lived.
func InNamespace(ns string, argv ...string) []string {
	return append([]string{"nsenter", "--net=/run/netns/" + ns, "--"}, argv...)
}

// run runs argv and ignores how it ends (a cleanup of what may not be there).
func run(argv []string) { _ = exec.Command(argv[0], argv[1:]...).Run() }

// Cut drops every packet to and from the host (a pulled cable: no RST, no ICMP).
func (h *Host) Cut() { h.rules("drop") }

// Loss drops pct percent of the host's packets in each direction, at random.
func (h *Host) Loss(pct int) {
	if pct >= 100 {
		h.rules("drop")
		return
	}
	h.rules(fmt.Sprintf("numgen random mod 100 < %d drop", pct))
}

// Heal removes Cut and Loss.
func (h *Host) Heal() {
	run(InNamespace(h.NS, "nft", "delete", "table", "inet", "osrfault"))
}

func (h *Host) rules(verdict string) {
	h.lab.t.Helper()
	h.Heal()
	rs := fmt.Sprintf(`table inet osrfault {
	chain in { type filter hook input priority 0; policy accept; iifname "lo" accept; %s; }
	chain out { type filter hook output priority 0; policy accept; oifname "lo" accept; %s; }
}
`, verdict, verdict)
	argv := InNamespace(h.NS, "nft", "-f", "-")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(rs)
	if out, err := cmd.CombinedOutput(); err != nil {
		h.lab.t.Fatalf("netlab: nft in %s: %v: %s", h.NS, err, out)
	}
}

// Rate caps the host's link at kbit kilobits per second in each direction (tc tbf on both ends).
func (h *Host) Rate(kbit int) {
	h.lab.t.Helper()
	rate := strconv.Itoa(kbit) + "kbit"
	burst := strconv.Itoa(max(kbit/8, 16)) + "kb" // about 1 s worth at low rates, 16 KiB at least
	h.lab.must(append(InNamespace(h.NS, "tc"), "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", rate, "burst", burst, "latency", "400ms")...)
	h.lab.must("tc", "qdisc", "replace", "dev", h.veth, "root", "tbf", "rate", rate, "burst", burst, "latency", "400ms")
}

// Unrate removes the cap of Rate.
func (h *Host) Unrate() {
	run(InNamespace(h.NS, "tc", "qdisc", "del", "dev", "eth0", "root"))
	_ = exec.Command("tc", "qdisc", "del", "dev", h.veth, "root").Run()
}

func (l *Lab) must(argv ...string) {
	l.t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		l.t.Fatalf("netlab: %s: %v: %s", strings.Join(argv, " "), err, out)
	}
}

// destroy ends every process in the hosts and removes the namespaces, links and bridge.
func (l *Lab) destroy() {
	defer Changing(l.t)()
	for _, h := range l.hosts {
		KillNamespace(h.NS)
		_ = exec.Command("ip", "link", "del", h.veth).Run()
	}
	_ = exec.Command("ip", "link", "del", l.bridge).Run()
}

// KillNamespace ends every process in the network namespace ns (SIGKILL; never the calling
// process) and deletes the namespace.
func KillNamespace(ns string) {
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	_ = exec.Command("ip", "netns", "del", ns).Run()
}

func allocate(t testing.TB) (int, func()) {
	return FreeSubnet(t, 233, "osrlab%d", "osr-netlab.lock")
}

// FreeSubnet picks n in 1..254 such that no interface of this machine has an address in
// 10.b.n.0/24 and no link is named fmt.Sprintf(linkName, n). It holds a lock (flock on lockName
// in the temporary directory, across processes) until unlock is called, once the caller's link
// holds its address.
func FreeSubnet(t testing.TB, b int, linkName, lockName string) (n int, unlock func()) {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		lock.Close()
		t.Fatal(err)
	}
	still := Changing(t) // the caller's link and address are about to come
	unlock = func() { lock.Close(); still() }
	addrs, _ := net.InterfaceAddrs()
	used := map[int]bool{}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip4 := ipn.IP.To4(); ip4 != nil && ip4[0] == 10 && int(ip4[1]) == b {
				used[int(ip4[2])] = true
			}
		}
	}
	for n := 1; n < 255; n++ {
		if _, err := net.InterfaceByName(fmt.Sprintf(linkName, n)); err == nil || used[n] {
			continue
		}
		return n, unlock
	}
	unlock()
	t.Fatalf("no free subnet in 10.%d.0.0/16", b)
	return 0, nil
}

// Do runs fn on a thread inside the host's network namespace: sockets fn opens (net.Listen,
// net.Dial) belong to the host, and keep belonging to it after fn returns. The thread is thrown
// away afterwards.
func (h *Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		fd, err := unix.Open(filepath.Join("/var/run/netns", h.NS), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netlab: open namespace %s: %w", h.NS, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netlab: enter namespace %s: %w", h.NS, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Listen opens a listener inside the host.
func (h *Host) Listen(addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// Dial connects from inside the host.
func (h *Host) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	return c, err
}
