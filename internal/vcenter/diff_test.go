package vcenter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

func TestDiff(t *testing.T) {
	a := VM{Name: "web01", InstanceID: "i-1", PowerState: "poweredOn", IPs: []string{"10.0.0.7"}, Disks: []Disk{{Key: 2000, SizeBytes: 1 << 30}}}
	b := VM{Name: "db01", InstanceID: "i-2", PowerState: "poweredOff"}
	grown := a
	grown.Disks = []Disk{{Key: 2000, SizeBytes: 2 << 30}}
	on := b
	on.PowerState = "poweredOn"
	off := a
	off.PowerState = "poweredOff"
	moved := a
	moved.IPs = []string{"10.0.0.9"}
	for _, tc := range []struct {
		name     string
		old, new []VM
		want     string
	}{
		{"same", []VM{a, b}, []VM{a, b}, "[]"},
		{"added", []VM{a}, []VM{a, b}, "[{added db01 i-2}]"},
		{"removed", []VM{a, b}, []VM{b}, "[{removed web01 i-1}]"},
		{"disk grown", []VM{a}, []VM{grown}, "[{changed web01 i-1}]"},
		{"new address", []VM{a}, []VM{moved}, "[{changed web01 i-1}]"},
		{"powered on", []VM{b}, []VM{on}, "[{powered-on db01 i-2}]"},
		{"powered off", []VM{a}, []VM{off}, "[{powered-off web01 i-1}]"},
		{"renamed keeps identity", []VM{a}, []VM{{Name: "web02", InstanceID: "i-1", PowerState: "poweredOn", IPs: a.IPs, Disks: a.Disks}}, "[{changed web02 i-1}]"},
	} {
		if got := fmt.Sprint(Diff(tc.old, tc.new)); got != tc.want && !(tc.want == "[]" && got == "[]") {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestSummaries(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	inv, _ := Open(t.TempDir(), clk)
	ctx := context.Background()
	tp := "AB" + fmt.Sprintf("%062d", 0)
	if err := inv.AddVCenter(ctx, VCenter{Name: "vc1", Address: "10.0.0.20", Account: "vc", Thumbprint: tp}); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.record(ctx, "vc1", clk.Now(), "VMware vCenter Server 8.0", []VM{{Name: "a", InstanceID: "1"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.record(ctx, "vc1", clk.Now().Add(time.Minute), "", nil, fmt.Errorf("vcenter vc1: connect to 10.0.0.20:443: connect: connection refused")); err != nil {
		t.Fatal(err)
	}
	s, err := inv.Summaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("[{vc1 10.0.0.20:443 Disconnected vcenter vc1: connect to 10.0.0.20:443: connect: connection refused %v 1}]", s[0].LastSync)
	if fmt.Sprint(s) != want || !s[0].LastSync.Equal(clk.Now()) {
		t.Fatalf("%v", s)
	}
}
