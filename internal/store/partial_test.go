package store

import (
	"context"
	"testing"

	"github.com/zeebo/xxh3"
)

// TestPartialPointsAndLabels: a partial point keeps its labels, reopens, is skipped by "latest" and
// can be the parent of the point that completes the initial replication.
func TestPartialPointsAndLabels(t *testing.T) {
	ctx := context.Background()
	r, dir := newTestRepo(t)
	img := randomImage(7, 1<<20+512)
	spec := []DiskSpec{{Name: "sda", Size: int64(len(img))}}

	w, err := r.NewWriter(ctx, "web01", nil, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Disk("sda").WriteAt(img[:256<<10], 0); err != nil {
		t.Fatal(err)
	}
	part, err := w.Commit(ctx, CommitMeta{Partial: true, Labels: map[string]string{"osr.seq": "1", "osr.initial.sda": "262144"}})
	if err != nil {
		t.Fatal(err)
	}
	if part.Consistency != NoConsistency || !part.Partial {
		t.Fatalf("partial point: consistency %q partial %v", part.Consistency, part.Partial)
	}
	if _, err := r.ResolvePoint(ctx, "web01", "latest"); err == nil || err.Error() != `machine "web01" has no recovery point (latest)` {
		t.Fatalf("latest with only a partial point: %v", err)
	}

	r2 := reopenRepo(t, dir)
	got, err := r2.LoadPoint(ctx, part.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Partial || got.Labels["osr.initial.sda"] != "262144" || got.Labels["osr.seq"] != "1" {
		t.Fatalf("reloaded partial point: partial %v labels %v", got.Partial, got.Labels)
	}

	w, err = r2.NewWriter(ctx, "web01", got, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Disk("sda").WriteAt(img[256<<10:], 256<<10); err != nil {
		t.Fatal(err)
	}
	full, err := w.Commit(ctx, CommitMeta{Consistency: AppConsistent, Labels: map[string]string{"osr.seq": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	latest, err := r2.ResolvePoint(ctx, "web01", "latest")
	if err != nil || latest.ID != full.ID {
		t.Fatalf("latest = %v, %v; want %s", latest, err, full.ID)
	}
	sameBytes(t, "completed image", exportDisk(t, r2, full, "sda"), img)
}

func TestCommitMetaErrors(t *testing.T) {
	ctx := context.Background()
	r, _ := newTestRepo(t)
	for _, tc := range []struct {
		meta CommitMeta
		want string
	}{
		{CommitMeta{Partial: true, Consistency: AppConsistent}, `a partial point cannot be "app" consistent`},
		{CommitMeta{Consistency: NoConsistency}, `unknown consistency "none"`},
		{CommitMeta{Consistency: "weird"}, `unknown consistency "weird"`},
		{CommitMeta{Labels: map[string]string{"": "x"}}, "a point label has an empty name"},
	} {
		w, err := r.NewWriter(ctx, "m", nil, []DiskSpec{{Name: "d", Size: 8192}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.Commit(ctx, tc.meta)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%+v: got %v, want %q", tc.meta, err, tc.want)
		}
		w.Abort()
	}
}

// TestFingerprints: the tree's fingerprints equal XXH3-128 of the exported blocks, zero blocks and
// holes read as the zero fingerprint, and ranges are checked.
func TestFingerprints(t *testing.T) {
	ctx := context.Background()
	r, _ := newTestRepo(t)
	img := randomImage(11, 3<<20+1000) // not a multiple of 4 KiB: the last block is padded
	pt := putImage(t, r, "db01", nil, map[string][]byte{"sda": img})
	dr, err := r.OpenDisk(pt, "sda")
	if err != nil {
		t.Fatal(err)
	}
	n := dr.Blocks()
	if want := int64((len(img) + BlockSize - 1) / BlockSize); n != want {
		t.Fatalf("Blocks() = %d, want %d", n, want)
	}
	all := make([][FingerprintSize]byte, n)
	if err := dr.Fingerprints(ctx, 0, all); err != nil {
		t.Fatal(err)
	}
	for b := int64(0); b < n; b++ {
		blk := make([]byte, BlockSize)
		copy(blk, img[b*BlockSize:])
		if want := xxh3.Hash128(blk).Bytes(); all[b] != want {
			t.Fatalf("block %d: fingerprint %x, want %x", b, all[b], want)
		}
	}
	// A range that starts and ends inside leaves.
	part := make([][FingerprintSize]byte, 77)
	if err := dr.Fingerprints(ctx, 45, part); err != nil {
		t.Fatal(err)
	}
	for i := range part {
		if part[i] != all[45+i] {
			t.Fatalf("range block %d differs", 45+i)
		}
	}
	if err := dr.Fingerprints(ctx, n-1, make([][FingerprintSize]byte, 2)); err == nil ||
		err.Error() != "fingerprints of blocks 768..770: the disk has 769 blocks" {
		t.Fatalf("out of range: %v", err)
	}
	zero := make([]byte, BlockSize)
	if ZeroFingerprint() != xxh3.Hash128(zero).Bytes() {
		t.Fatal("zero fingerprint is wrong")
	}
}
