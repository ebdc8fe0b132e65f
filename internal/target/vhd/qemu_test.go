package vhd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// qemuImg returns the path of qemu-img, failing the test when it is missing.
func qemuImg(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Fatal("qemu-img not found: install it with apt-get install qemu-utils")
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestQemuFooters parses the footers qemu-img writes for fixed images of several sizes and
// expects the specification's geometry for the size qemu chose.
func TestQemuFooters(t *testing.T) {
	qi := qemuImg(t)
	dir := t.TempDir()
	for _, size := range []string{"1M", "10M", "100M", "1000M", "3G", "127G"} {
		t.Run(size, func(t *testing.T) {
			p := filepath.Join(dir, size+".vhd")
			run(t, qi, "create", "-q", "-f", "vpc", "-o", "subformat=fixed", p, size)
			fh, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			st, err := fh.Stat()
			if err != nil {
				t.Fatal(err)
			}
			f, err := ReadFixed(fh, st.Size())
			if err != nil {
				t.Fatal(err)
			}
			if got := ComputeGeometry(int64(f.CurrentSize)); got != f.Geometry {
				t.Fatalf("geometry of %d bytes: computed %+v, qemu wrote %+v", f.CurrentSize, got, f.Geometry)
			}
			if f.OriginalSize != f.CurrentSize || f.Features != FeaturesReserved || f.SavedState != 0 {
				t.Fatalf("footer %+v", f)
			}
		})
	}
}

// TestQemuReadsOurs writes fixed VHDs with osr's footer and has qemu-img read their virtual size
// the way the seed's cloud does (from the footer's current size).
func TestQemuReadsOurs(t *testing.T) {
	qi := qemuImg(t)
	dir := t.TempDir()
	for _, size := range []int64{MiB, AlignedSize(10*MiB - 4096), 1 << 30} {
		p := filepath.Join(dir, itoa(size)+".vhd")
		f, err := NewFixedFooter(size, time.Now(), [16]byte{1})
		if err != nil {
			t.Fatal(err)
		}
		fh, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fh.WriteAt(f.Marshal(), size); err != nil {
			t.Fatal(err)
		}
		if err := fh.Close(); err != nil {
			t.Fatal(err)
		}
		out := run(t, qi, "info", "--output=json", "--image-opts",
			"driver=vpc,force_size_calc=current_size,file.filename="+p)
		if want := `"virtual-size": ` + itoa(size) + ","; !strings.Contains(out, want) {
			t.Fatalf("qemu-img info of a %d-byte vhd:\n%s\nwant %s", size, out, want)
		}
		if !strings.Contains(out, `"format": "vpc"`) {
			t.Fatalf("qemu-img does not see a vpc image:\n%s", out)
		}
	}
}
