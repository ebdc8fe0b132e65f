//go:build !windows

package winsvc

import "testing"

func TestNotWindows(t *testing.T) {
	if is, err := IsService(); is || err != nil {
		t.Fatalf("IsService = %v, %v", is, err)
	}
	want := "windows services exist only on windows: on linux, systemd units are written by osr mobility install or osr mobility deploy"
	for name, err := range map[string]error{
		"Run":       Run(DefaultName, nil),
		"Install":   Install(t.Context(), Config{}),
		"Uninstall": Uninstall(t.Context(), DefaultName),
	} {
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}
