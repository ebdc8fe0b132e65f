package local

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDataBytes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []int64 // offsets of 4 KiB writes
		size   int64
		want   int64
	}{
		{"empty", nil, 2 << 20, 0},
		{"two blocks", []int64{0, 1 << 20}, 2 << 20, 8192},
		{"last block", []int64{2<<20 - 4096}, 2 << 20, 4096},
		{"beyond size", []int64{0, 3 << 20}, 2 << 20, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "f"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(tc.size); err != nil {
				t.Fatal(err)
			}
			blk := make([]byte, 4096)
			blk[7] = 1
			for _, off := range tc.writes {
				if _, err := f.WriteAt(blk, off); err != nil {
					t.Fatal(err)
				}
			}
			if got := dataBytes(f, tc.size); got != tc.want {
				t.Fatalf("dataBytes = %d, want %d", got, tc.want)
			}
		})
	}
}
