package main

import "testing"

func TestUpCacheBudget(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		avail uint64
		want  int64
	}{
		{10 * gib, 5 * gib},
		{128 * gib, 64 * gib},
		{900 * gib, 64 * gib},
	} {
		if got := upCacheBudget(tc.avail); got != tc.want {
			t.Errorf("upCacheBudget(%d GiB) = %d, want %d", tc.avail/gib, got, tc.want)
		}
	}
	var s sizeFlag
	if err := s.Set("50GiB"); err != nil || int64(s) != 50*gib {
		t.Fatalf("sizeFlag 50GiB = %d, %v", s, err)
	}
	if err := s.Set("lots"); err == nil {
		t.Fatal("a bad size was accepted")
	}
}
