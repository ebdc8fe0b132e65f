package sshhost

import (
	"os/exec"
	"testing"

	"github.com/opensiterecovery/osr/internal/e2e/netlab"
)

// destroy ends every process in the namespace and removes the namespace and the link (while no
// test needs this machine's addresses to stay still: netlab.NetworkStill).
func (h *Host) destroy(t testing.TB, veth string) {
	defer netlab.Changing(t)()
	netlab.KillNamespace(h.Name)
	_ = exec.Command("ip", "link", "del", veth).Run()
}

// allocate picks a /24 of 10.231.0.0/16 that no interface of this machine uses (links osh<N>h),
// under a lock held until unlock is called, once the caller's link holds the address.
func allocate(t testing.TB) (int, func()) {
	return netlab.FreeSubnet(t, 231, "osh%dh", "osr-sshhost.lock")
}

// inNamespace returns argv run in the host's network namespace only (netlab.InNamespace).
func (h *Host) inNamespace(argv ...string) []string { return netlab.InNamespace(h.Name, argv...) }
