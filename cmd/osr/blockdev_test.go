package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPutFromBlockDevice stores a loop device (an ext4 file system on it) and exports it back.
func TestPutFromBlockDevice(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	writeImage(t, img, 32<<20, 21)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-E", "nodiscard", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup (the tests run as root on Linux): %v\n%s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "--detach", dev).Run() })
	c := newCLI(t, filepath.Join(dir, "vault"))
	c.ok("store", "init")
	p1 := lastLine(c.ok("store", "put", "--machine", "phys01", "--disk", "sda="+dev))
	sum1 := fileSHA(t, img)
	// Change the device through the block layer, then take an incremental point.
	if out, err := exec.Command("dd", "if=/dev/urandom", "of="+dev, "bs=4096", "seek=3000", "count=16", "oflag=direct", "status=none").CombinedOutput(); err != nil {
		t.Fatalf("dd: %v\n%s", err, out)
	}
	p2 := lastLine(c.ok("store", "put", "--machine", "phys01", "--disk", "sda="+dev))
	sum2 := fileSHA(t, img)
	if sum1 == sum2 {
		t.Fatal("dd changed nothing")
	}
	for _, tc := range []struct {
		id   string
		want [32]byte
	}{{p1, sum1}, {p2, sum2}} {
		raw := filepath.Join(dir, "out.raw")
		c.ok("store", "export", "--point", tc.id, "--machine", "phys01", "--disk", "sda", "--out", raw)
		if got := fileSHA(t, raw); got != tc.want {
			t.Fatalf("point %s: export differs from the device", tc.id[:12])
		}
	}
	raw := filepath.Join(dir, "out.raw")
	c.ok("store", "export", "--point", p1, "--machine", "phys01", "--disk", "sda", "--out", raw)
	if out, err := exec.Command("e2fsck", "-fn", raw).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck of the exported first point: %v\n%s", err, out)
	}
}
