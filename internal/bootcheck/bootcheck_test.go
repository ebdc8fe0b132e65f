package bootcheck_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/bootcheck"
	"github.com/opensiterecovery/osr/internal/bootcheck/bootdisk"
	"github.com/opensiterecovery/osr/internal/target"
)

// The boot disk is built once per test binary.
var (
	diskOnce sync.Once
	diskDir  string
	diskErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if diskDir != "" {
		os.RemoveAll(diskDir)
	}
	os.Exit(code)
}

// bootDisk returns the path of the test boot disk (raw), building it on first use.
func bootDisk(t *testing.T) string {
	t.Helper()
	diskOnce.Do(func() {
		if diskErr = bootdisk.Check(); diskErr != nil {
			return
		}
		if diskDir, diskErr = os.MkdirTemp("", "osr-bootcheck-test-"); diskErr != nil {
			return
		}
		start := time.Now()
		diskErr = bootdisk.Build(context.Background(), filepath.Join(diskDir, "boot.raw"), bootdisk.Options{})
		fmt.Fprintf(os.Stderr, "boot disk built in %s\n", time.Since(start).Round(time.Millisecond))
	})
	if diskErr != nil {
		t.Fatalf("boot disk: %v", diskErr)
	}
	return filepath.Join(diskDir, "boot.raw")
}

func def(name, file, format string) target.Definition {
	return target.Definition{Version: 1, Name: name, Firmware: "bios", CPUs: 1, MemoryMB: 4096,
		Disks: []target.DefinitionDisk{{Name: "sda", Format: format, File: file}}}
}

func TestBootsTestDisk(t *testing.T) {
	raw := bootDisk(t)
	c, err := bootcheck.New(bootcheck.Config{Markers: []string{bootdisk.DefaultMarker}, Timeout: 5 * time.Minute, MaxMemoryMB: 256}, bootcheck.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Check(context.Background(), def("web01", raw, "raw"), "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Marker != bootdisk.DefaultMarker || res.Machine != "web01" {
		t.Fatalf("result %+v", res)
	}
	t.Logf("boot check wall time (raw): %s", res.Duration.Round(time.Millisecond))
	t.Logf("console tail:\n%s", strings.Join(res.Console, "\n"))
}

func checker(t *testing.T, cfg bootcheck.Config) *bootcheck.Checker {
	t.Helper()
	if cfg.Markers == nil {
		cfg.Markers = []string{bootdisk.DefaultMarker}
	}
	cfg.MaxMemoryMB = 256
	c, err := bootcheck.New(cfg, bootcheck.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBootsConvertedFormats: the same disk as fixed VHD and qcow2 (written by qemu-img, the
// oracle) boots with the matching format=, through a definition file with relative paths.
func TestBootsConvertedFormats(t *testing.T) {
	raw := bootDisk(t)
	dir := t.TempDir()
	for _, tc := range []struct{ format, qemuFmt, opts string }{
		{"vhd", "vpc", "subformat=fixed,force_size=on"},
		{"qcow2", "qcow2", ""},
	} {
		t.Run(tc.format, func(t *testing.T) {
			file := "disk0." + tc.format
			args := []string{"convert", "-f", "raw", "-O", tc.qemuFmt}
			if tc.opts != "" {
				args = append(args, "-o", tc.opts)
			}
			if out, err := exec.Command("qemu-img", append(args, raw, filepath.Join(dir, file))...).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img (apt-get install qemu-utils): %v: %s", err, out)
			}
			d := def("app-"+tc.format, file, tc.format)
			b, _ := json.Marshal(d)
			path := filepath.Join(dir, tc.format+".json")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := checker(t, bootcheck.Config{Timeout: 5 * time.Minute}).CheckFile(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("boot check wall time (%s): %s", tc.format, res.Duration.Round(time.Millisecond))
		})
	}
}

// TestBrokenBootSectorTimesOut: a disk whose MBR is zeroed is not bootable; the check times out
// with the exact error and the BIOS's last words.
func TestBrokenBootSectorTimesOut(t *testing.T) {
	raw := bootDisk(t)
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	clear(b[:512])
	broken := filepath.Join(t.TempDir(), "broken.raw")
	if err := os.WriteFile(broken, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c := checker(t, bootcheck.Config{Timeout: 6 * time.Second})
	start := time.Now()
	_, err = c.Check(context.Background(), def("db01", broken, "raw"), "")
	var te *bootcheck.TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if el := time.Since(start); el < 6*time.Second || el > 20*time.Second {
		t.Fatalf("timed out after %s", el)
	}
	want := "boot check of db01: \"OSR-BOOT-OK\" did not appear on the serial console within 6s; last console lines:\n  " + strings.Join(te.Tail, "\n  ")
	if err.Error() != want {
		t.Fatalf("error:\n%s\nwant:\n%s", err, want)
	}
	if !strings.Contains(strings.Join(te.Tail, "\n"), "Boot failed: not a bootable disk") {
		t.Fatalf("console tail %q lacks the BIOS's message", te.Tail)
	}
	// The original disk is untouched by the check (-snapshot): compare with a fresh copy.
	after, _ := os.ReadFile(broken)
	if !bytes.Equal(after, b) {
		t.Fatal("the boot check wrote to the disk")
	}
}

// TestQEMUMissing: no qemu binary gives the exact error with the install command.
func TestQEMUMissing(t *testing.T) {
	f := filepath.Join(t.TempDir(), "d.raw")
	os.WriteFile(f, make([]byte, 4096), 0o644)
	c, err := bootcheck.New(bootcheck.Config{QEMU: "qemu-system-x86_64-not-here"}, bootcheck.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Check(context.Background(), def("web02", f, "raw"), "")
	if !errors.Is(err, bootcheck.ErrQEMUMissing) || err.Error() != "boot check of web02: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)" {
		t.Fatalf("err = %v", err)
	}
}

// TestQEMUExits: a disk that is not the format the definition says makes qemu exit at once.
func TestQEMUExits(t *testing.T) {
	f := filepath.Join(t.TempDir(), "d.qcow2")
	os.WriteFile(f, make([]byte, 1<<20), 0o644)
	_, err := checker(t, bootcheck.Config{Timeout: time.Minute}).Check(context.Background(), def("web03", f, "qcow2"), "")
	var ee *bootcheck.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want an exit error", err)
	}
	want := "boot check of web03: qemu exited before a marker appeared (exit status 1): " + ee.Stderr + "; last console lines:\n  (nothing)"
	if err.Error() != want || !strings.Contains(ee.Stderr, "Image is not in qcow2 format") {
		t.Fatalf("error:\n%s\nwant:\n%s", err, want)
	}
}

// TestDefinitionErrors: definitions qemu cannot run are refused before qemu starts.
func TestDefinitionErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.raw"), make([]byte, 512), 0o644)
	c := checker(t, bootcheck.Config{})
	for _, tc := range []struct {
		name string
		d    target.Definition
		want string
	}{
		{"no disks", target.Definition{Name: "m"}, "boot check of m: the definition has no disks"},
		{"page blob", def("m", "https://x/blob", "page-blob-vhd"), `boot check of m: disk sda has format "page-blob-vhd", which the boot check cannot open (raw, vhd or qcow2)`},
		{"missing file", def("m", "nope.raw", "raw"), "boot check of m: disk sda: stat " + filepath.Join(dir, "nope.raw") + ": no such file or directory"},
		{"no file", def("m", "", "raw"), "boot check of m: disk sda has no file"},
		{"firmware", func() target.Definition { d := def("m", "a.raw", "raw"); d.Firmware = "coreboot"; return d }(), `boot check of m: unknown firmware "coreboot" (bios or uefi)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Check(context.Background(), tc.d, dir)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant  %s", err, tc.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  bootcheck.Config
		want string
	}{
		{bootcheck.Config{Timeout: -1}, "boot check: timeout, memory, cpus and tail lines must not be negative"},
		{bootcheck.Config{Markers: []string{""}}, `boot check: marker "" must be non-empty and on one line`},
		{bootcheck.Config{Markers: []string{"a\nb"}}, `boot check: marker "a\nb" must be non-empty and on one line`},
	} {
		if _, err := bootcheck.New(tc.cfg, bootcheck.Deps{}); err == nil || err.Error() != tc.want {
			t.Errorf("New(%+v) = %v, want %s", tc.cfg, err, tc.want)
		}
	}
}
