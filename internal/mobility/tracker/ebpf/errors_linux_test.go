package ebpf

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// TestHelperProbeAsNobody probes in a process that gave up root (run by TestNotRoot).
func TestHelperProbeAsNobody(t *testing.T) {
	if os.Getenv("OSR_TEST_PROBE_AS_NOBODY") == "" {
		return
	}
	if err := syscall.Setuid(65534); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("probe: %v\n", Probe())
}

// Without root or capabilities the tracker says what it needs.
func TestNotRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (to drop it)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProbeAsNobody$")
	cmd.Env = append(os.Environ(), "OSR_TEST_PROBE_AS_NOBODY=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	want := "probe: ebpf tracker: not permitted to load the BPF program (run as root, or grant CAP_BPF and CAP_PERFMON): "
	if !strings.Contains(string(out), want) {
		t.Fatalf("output %q, want it to contain %q", out, want)
	}
}

func TestStartErrors(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(img, make([]byte, 8192), 0o600)
	cases := []struct {
		name string
		path string
		err  string
	}{
		{"image file", img, "disk d: " + img + " is not a block device (the ebpf tracker follows block devices; image files need the scan tracker)"},
		{"missing", "/nonexistent/disk", "disk d: /nonexistent/disk: no such file or directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, _ := New(Options{})
			err := tr.Start(context.Background(), []tracker.Disk{{Name: "d", Path: c.path, Size: 8192}}, false)
			if err == nil || err.Error() != c.err {
				t.Fatalf("error %v, want %q", err, c.err)
			}
			if _, err := tr.Changes(context.Background(), "d"); err == nil {
				t.Fatal("changes of a tracker that did not start")
			}
		})
	}
}
