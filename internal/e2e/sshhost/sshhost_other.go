//go:build !linux

package sshhost

import "testing"

// destroy has nothing to remove: no host can be created without Linux network namespaces.
func (h *Host) destroy(testing.TB, string) {}

// allocate fails the test: SSH hosts live in Linux network namespaces.
func allocate(t testing.TB) (int, func()) {
	t.Helper()
	t.Fatal("sshhost: SSH hosts need Linux network namespaces (ip netns) and root")
	return 0, nil
}

// inNamespace is never reached: allocate fails first.
func (h *Host) inNamespace(argv ...string) []string { return argv }
