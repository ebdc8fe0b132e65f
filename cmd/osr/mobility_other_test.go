//go:build !windows

package main

import "testing"

// The Windows service commands exist everywhere, and say where Linux units come from.
func TestMobilityServiceNotWindows(t *testing.T) {
	want := "windows services exist only on windows: on linux, systemd units are written by osr mobility install or osr mobility deploy"
	for _, args := range [][]string{
		{"mobility", "service", "install"},
		{"mobility", "service", "install", "--name", "x", "--start=false"},
		{"mobility", "service", "uninstall"},
	} {
		out, _, err := runMobility(t, args...)
		if err == nil || err.Error() != want || out != "" {
			t.Errorf("%q: %v (stdout %q), want %q", args, err, out, want)
		}
	}
}
