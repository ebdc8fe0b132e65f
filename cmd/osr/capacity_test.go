package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/opensiterecovery/osr/internal/capacity"
	"github.com/opensiterecovery/osr/internal/clock"
)

// runCapacity runs the capacity commands as main registers them: plan at the top, profile under
// mobility (with the mobility area's persistent --config).
func runCapacity(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, clock: clock.Real{}}
	root := &cobra.Command{Use: "osr", SilenceUsage: true, SilenceErrors: true}
	root.SetOut(&out)
	root.SetErr(&errb)
	mob := &cobra.Command{Use: "mobility"}
	mob.PersistentFlags().String("config", "/etc/osr/mobility/mobility.yaml", "")
	mob.AddCommand(a.mobilityProfileCommand())
	root.AddCommand(mob)
	root.AddCommand(a.capacityCommands()...)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func TestCapacityCommands(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, bytes.Repeat([]byte{7}, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(dir, "web01.json")
	_, _, err := runCapacity(t, "mobility", "profile", "--disk", "sda="+img, "--machine", "web01", "--tracker", "scan",
		"--duration", "300ms", "--interval", "100ms", "--out", prof)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(prof)
	if err != nil {
		t.Fatal(err)
	}
	p, err := capacity.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	d := p.Disks[0]
	if p.Machine != "web01" || p.Tracker != "scan" || p.IntervalSeconds != 0.1 || d.SizeBytes != 1<<20 || d.UsedBytes != 1<<20 ||
		len(d.Samples) != 3 || d.ChangedBytes != 0 {
		t.Fatalf("profile %+v", p)
	}

	out, _, err := runCapacity(t, "plan", "capacity", "--profile", prof, "--bandwidth", "8Mbit/s")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"web01    1      1.0 MB  1.0 MB  0 B           0 B/s",
		"process servers:      1 (by machines), each 8 vCPU, 16 GB RAM, 600 GB cache",
		"initial replication:  1.0 MB of used data in 1s at 1 MB/s",
		"the commercial service's published sizing",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plan", "capacity"}, "plan capacity: give at least one --profile FILE"},
		{[]string{"plan", "capacity", "--profile", prof, "--bandwidth", "fast"}, `--bandwidth: bad rate "fast" (want unlimited, or a size per second such as 10MB/s or 100Mbit/s)`},
		{[]string{"plan", "capacity", "--profile", img}, img + ": profile: not JSON: invalid character '\\a' looking for beginning of value"},
		{[]string{"mobility", "profile", "--disk", "sda=" + img, "--duration", "0s"}, "mobility profile: --duration must be more than 0"},
		{[]string{"mobility", "profile", "--disk", "sda", "--duration", "1s"}, `--disk "sda": want NAME=PATH`},
	} {
		_, _, err := runCapacity(t, tc.args...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
