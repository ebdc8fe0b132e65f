package processserver

import "testing"

func TestFreeShare(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		name         string
		avail, total uint64
		max, used    int64
		want         float64
	}{
		{"dedicated drive, 31% free", 31 * gib, 100 * gib, 0, 0, 31},
		{"empty file system of size 0", 0, 0, 0, 0, 100},
		{"budget on a large, mostly full disk", 80 * gib, 260 * gib, 50 * gib, 0, 100},
		{"budget partly used", 80 * gib, 260 * gib, 50 * gib, 20 * gib, 60},
		{"budget larger than what the disk has left", 10 * gib, 260 * gib, 50 * gib, 0, 20},
		{"budget overrun", 80 * gib, 260 * gib, 50 * gib, 60 * gib, 0},
		{"budget larger than a small file system", 60 << 20, 64 << 20, 4 * gib, 0, 93.75},
		{"small file system filled by others", 6 << 20, 64 << 20, 4 * gib, 0, 9.375},
	} {
		if got := freeShare(tc.avail, tc.total, tc.max, tc.used); got != tc.want {
			t.Errorf("%s: %v%%, want %v%%", tc.name, got, tc.want)
		}
	}
}
