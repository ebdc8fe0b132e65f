//go:build linux

package flow

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/e2e/proctest"
)

// needTools fails the test, naming the package to install, when a tool is missing.
func needTools(t *testing.T, tools map[string]string) {
	t.Helper()
	for tool, pkg := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: apt-get install %s", tool, pkg)
		}
	}
}

// qemuImageOpts is how qemu-img opens a failed-over disk: a fixed VHD by its footer's current size
// (what the seed's cloud reads), the others by their format.
func qemuImageOpts(path, format string) []string {
	switch format {
	case "vhd":
		return []string{"--image-opts", "driver=vpc,force_size_calc=current_size,file.filename=" + path}
	case "qcow2":
		return []string{"--image-opts", "driver=qcow2,file.filename=" + path}
	default:
		return []string{"--image-opts", "driver=raw,file.filename=" + path}
	}
}

// qemuVirtualSize returns qemu-img info's virtual size of a disk.
func qemuVirtualSize(t *testing.T, path, format string) int64 {
	t.Helper()
	out, err := exec.Command("qemu-img", append([]string{"info", "--output=json"}, qemuImageOpts(path, format)...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v\n%s", path, err, out)
	}
	var qi struct {
		VirtualSize int64  `json:"virtual-size"`
		Format      string `json:"format"`
	}
	if err := json.Unmarshal(out, &qi); err != nil {
		t.Fatalf("qemu-img info %s: %v\n%s", path, err, out)
	}
	return qi.VirtualSize
}

// qemuCheck runs qemu-img check (qcow2) and fails the test on any finding.
func qemuCheck(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("qemu-img", "check", "-f", "qcow2", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No errors were found on the image.") {
		t.Fatalf("qemu-img check %s: %v\n%s", path, err, out)
	}
}

// qemuCompare fails the test unless the disk holds exactly the bytes of the raw file want.
func qemuCompare(t *testing.T, want, path, format string) {
	t.Helper()
	args := append([]string{"compare"}, qemuImageOpts(path, format)...)
	args = append(args, "driver=raw,file.filename="+want)
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "Images are identical." {
		t.Fatalf("qemu-img compare %s (%s) with %s: %v\n%s", path, format, want, err, out)
	}
}

// checkImage runs the qemu-img checks of a failed-over disk against the raw export of its point.
func checkImage(t *testing.T, export, path, format string, size int64) {
	t.Helper()
	if format == "qcow2" {
		qemuCheck(t, path)
	}
	if got := qemuVirtualSize(t, path, format); got != size {
		t.Fatalf("qemu-img info %s: virtual size %d, want %d", path, got, size)
	}
	qemuCompare(t, export, path, format)
}

// checkExt4 runs fsck.ext4 -n -f on a raw disk holding ext4, mounts it read-only from a read-only
// loop device, and runs workload verify on the workload's directory in it for the capture time
// at: every operation done before at is there byte-exact, none begun at or after at+slack shows.
// It returns verify's summary.
func checkExt4(t *testing.T, raw, manifest string, at time.Time, slack time.Duration) string {
	t.Helper()
	if out, err := exec.Command("fsck.ext4", "-n", "-f", raw).CombinedOutput(); err != nil {
		t.Fatalf("fsck.ext4 -n -f %s: %v\n%s", raw, err, out)
	}
	out, err := exec.Command("losetup", "-r", "-f", "--show", raw).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup -r %s: %v: %s", raw, err, out)
	}
	dev := strings.TrimSpace(string(out))
	defer func() {
		if err := proctest.DetachLoop(dev); err != nil {
			t.Error(err)
		}
	}()
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "ro", dev, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount -o ro %s (%s): %v: %s", dev, raw, err, out)
	}
	defer func() {
		if err := proctest.Unmount(mnt); err != nil {
			t.Error(err)
		}
	}()
	verify := func(at time.Time, slack time.Duration) (string, int) {
		return proctest.Run(t, time.Minute, nil, workloadBin, "verify", "--manifest", manifest, "--root", "a="+filepath.Join(mnt, "w"),
			"--at", at.Format(time.RFC3339Nano), "--slack", slack.String())
	}
	got, code := verify(at, slack)
	if code != 0 {
		t.Fatalf("workload verify of %s at %s (slack %v): exit %d\n%s", raw, at.Format(time.RFC3339Nano), slack, code, got)
	}
	// The check can fail: the same disk is not an image of a later instant (the workload went on).
	if later := time.Now(); doneOps(t, manifest, later) > doneOps(t, manifest, at.Add(slack))+5 {
		if out, code := verify(later, 0); code != 1 || !strings.Contains(out, "problems") {
			t.Fatalf("workload verify of %s at a later instant %s: exit %d, want 1 with problems\n%s", raw, later.Format(time.RFC3339Nano), code, out)
		}
	}
	return strings.TrimSpace(got)
}

// dirEntries lists what a directory holds (names, recursively), for "nothing left behind".
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}
