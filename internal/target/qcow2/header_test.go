package qcow2

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func goodHeader() Header {
	return Header{
		ClusterBits: ClusterBits, Size: 5 << 20, L1Size: 1, L1TableOffset: ClusterSize,
		RefcountTableOffset: 2 * ClusterSize, RefcountTableClusters: 1, RefcountOrder: RefcountOrder,
		HeaderLength: HeaderLength,
	}
}

func TestParseHeaderErrors(t *testing.T) {
	mod := func(fn func(h *Header)) []byte { h := goodHeader(); fn(&h); return h.Marshal() }
	set := func(off int, v uint32) []byte {
		b := goodHeader().Marshal()
		binary.BigEndian.PutUint32(b[off:], v)
		return b
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"short", []byte("QFI"), "qcow2 header: 3 bytes, want at least 104"},
		{"magic", set(0, 0x12345678), "qcow2 header: magic 0x12345678: not a qcow2 image"},
		{"version 2", set(4, 2), "qcow2 header: version 2, want 3"},
		{"truncated", goodHeader().Marshal()[:100], "qcow2 header: 100 bytes, want at least 104"},
		{"header length", set(100, 100), "qcow2 header: header length 100 (have 112 bytes; want a multiple of 8, at least 104)"},
		{"header length beyond", set(100, 120), "qcow2 header: header length 120 (have 112 bytes; want a multiple of 8, at least 104)"},
		{"cluster bits", mod(func(h *Header) { h.ClusterBits = 22 }), "qcow2 header: cluster bits 22, want 9 to 21"},
		{"backing", mod(func(h *Header) { h.BackingFileOffset = 512; h.BackingFileSize = 4 }), "qcow2 header: the image has a backing file"},
		{"encrypted", mod(func(h *Header) { h.CryptMethod = 2 }), "qcow2 header: encryption method 2 is not supported"},
		{"dirty", mod(func(h *Header) { h.IncompatibleFeatures = 1 }), "qcow2 header: incompatible features 0x1 are set"},
		{"refcount order", mod(func(h *Header) { h.RefcountOrder = 7 }), "qcow2 header: refcount order 7, want at most 6"},
		{"size 0", mod(func(h *Header) { h.Size = 0 }), "qcow2 header: virtual size 0, want 1 to 70368744177664"},
		{"l1 small", mod(func(h *Header) { h.Size = 1 << 30 }), "qcow2 header: l1 table of 1 entries, the virtual size needs 2"},
		{"l1 offset", mod(func(h *Header) { h.L1TableOffset = 4096 }), "qcow2 header: l1 table offset 0x1000 is not a cluster boundary after the header"},
		{"refcount offset", mod(func(h *Header) { h.RefcountTableOffset = 0 }), "qcow2 header: refcount table offset 0x0 is not a cluster boundary after the header"},
		{"refcount clusters", mod(func(h *Header) { h.RefcountTableClusters = 0 }), "qcow2 header: the refcount table has no clusters"},
		{"snapshots", mod(func(h *Header) { h.NbSnapshots = 1 }), "qcow2 header: 1 snapshots, want none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHeader(tc.in)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("ParseHeader: %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := ParseHeader(set(0, 0)); !errors.Is(err, ErrNotQcow2) {
		t.Fatalf("zero magic: %v does not wrap ErrNotQcow2", err)
	}
	h, err := ParseHeader(goodHeader().Marshal())
	if err != nil || h != goodHeader() {
		t.Fatalf("round trip: %+v, %v", h, err)
	}
}

// TestParseQemuHeader parses the header of images qemu-img creates.
func TestParseQemuHeader(t *testing.T) {
	qi := qemuImg(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		opts, want string
		size       uint64
	}{
		{"cluster_size=65536", "", 10 << 20},
		{"cluster_size=4096,refcount_bits=64", "", 3 << 30},
		{"compat=0.10", "qcow2 header: version 2, want 3", 1 << 20},
		{"lazy_refcounts=on", "", 1 << 20},
	} {
		p := filepath.Join(dir, "q.qcow2")
		os.Remove(p)
		if out, err := exec.Command(qi, "create", "-q", "-f", "qcow2", "-o", tc.opts, p, itoa(tc.size)).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img create: %v\n%s", err, out)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ParseHeader(b[:min(len(b), 4096)])
		if tc.want != "" {
			if err == nil || err.Error() != tc.want {
				t.Fatalf("%s: %v, want %q", tc.opts, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.opts, err)
		}
		if h.Size != tc.size {
			t.Fatalf("%s: header %+v", tc.opts, h)
		}
	}
}
