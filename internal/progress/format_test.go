package progress

import (
	"math"
	"testing"
	"time"
)

func TestFormatBytes(t *testing.T) {
	const (
		KiB = 1 << 10
		MiB = 1 << 20
		GiB = 1 << 30
		TiB = 1 << 40
	)
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{1023, "1023 B"},
		{KiB, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{KiB*KiB - 1, "1.0 MiB"}, // 1023.999 KiB rounds up a unit, not to "1024.0 KiB"
		{KiB*KiB - 52, "1023.9 KiB"},
		{MiB, "1.0 MiB"},
		{420 * MiB, "420.0 MiB"},
		{GiB, "1.0 GiB"},
		{GiB + GiB/4, "1.2 GiB"}, // 1.25 is exact in binary and rounds half to even
		{3*TiB + TiB/2, "3.5 TiB"},
		{1 << 50, "1.0 PiB"},
		{1 << 60, "1.0 EiB"},
		{math.MaxInt64, "8.0 EiB"},
		{-1, "-1 B"},
		{-1536, "-1.5 KiB"},
		{math.MinInt64, "-8.0 EiB"},
	}
	for _, tt := range tests {
		if got := FormatBytes(tt.n); got != tt.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestFormatRate(t *testing.T) {
	tests := []struct {
		rate float64
		want string
	}{
		{-1, "--/s"},
		{0, "0 B/s"},
		{999.9, "999 B/s"},
		{16 << 20, "16.0 MiB/s"},
		{math.Inf(1), "8.0 EiB/s"},
	}
	for _, tt := range tests {
		if got := formatRate(tt.rate); got != tt.want {
			t.Errorf("formatRate(%v) = %q, want %q", tt.rate, got, tt.want)
		}
	}
}

func TestFormatClock(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0:00"},
		{0, "0:00"},
		{999 * time.Millisecond, "0:00"},
		{48 * time.Second, "0:48"},
		{64 * time.Second, "1:04"},
		{59*time.Minute + 59*time.Second, "59:59"},
		{time.Hour, "1:00:00"},
		{25*time.Hour + 3*time.Minute + 7*time.Second, "25:03:07"},
		{100*time.Hour - time.Second, "99:59:59"},
		{100 * time.Hour, ">99h"},
	}
	for _, tt := range tests {
		if got := formatClock(tt.d); got != tt.want {
			t.Errorf("formatClock(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestETA(t *testing.T) {
	tests := []struct {
		remaining int64
		rate      float64
		want      string
	}{
		{0, 10, "0:00"},
		{-5, 10, "0:00"},
		{100, 0, "--:--"},
		{100, -1, "--:--"},
		{100, 10, "0:10"},
		{101, 10, "0:11"}, // rounded up: never "0:00" before the end
		{1, 1e9, "0:01"},
		{1 << 40, 1, ">99h"},
	}
	for _, tt := range tests {
		if got := eta(tt.remaining, tt.rate); got != tt.want {
			t.Errorf("eta(%d, %v) = %q, want %q", tt.remaining, tt.rate, got, tt.want)
		}
	}
}
