package sshhost

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// destroy ends every process in the namespace and removes the namespace and the link.
func (h *Host) destroy(veth string) {
	if out, err := exec.Command("ip", "netns", "pids", h.Name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	_ = exec.Command("ip", "link", "del", veth).Run()
	_ = exec.Command("ip", "netns", "del", h.Name).Run()
}

// allocate picks a /24 of 10.231.0.0/16 that no interface of this machine uses. It holds a lock
// (flock, across processes) until unlock is called, once the caller's link holds the address.
func allocate(t testing.TB) (int, func()) {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "osr-sshhost.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		lock.Close()
		t.Fatal(err)
	}
	unlock := func() { lock.Close() }
	addrs, _ := net.InterfaceAddrs()
	used := map[int]bool{}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip4 := ipn.IP.To4(); ip4 != nil && ip4[0] == 10 && ip4[1] == 231 {
				used[int(ip4[2])] = true
			}
		}
	}
	for n := 1; n < 255; n++ {
		if !used[n] {
			if _, err := net.InterfaceByName(fmt.Sprintf("osh%dh", n)); err == nil {
				continue // a link left without an address
			}
			return n, unlock
		}
	}
	unlock()
	t.Fatal("sshhost: no free subnet in 10.231.0.0/16")
	return 0, nil
}
