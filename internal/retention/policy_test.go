package retention

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultPolicy(t *testing.T) {
	got := DefaultPolicy(72 * time.Hour)
	want := Policy{KeepAll: 2 * time.Hour, Window: 72 * time.Hour, Interval: time.Hour}
	if got != want {
		t.Fatalf("DefaultPolicy(72h) = %+v, want %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("default policy invalid: %v", err)
	}
}

func TestValidate(t *testing.T) {
	h := time.Hour
	tests := []struct {
		name    string
		p       Policy
		wantErr []string // substrings; nil means valid
	}{
		{name: "default", p: DefaultPolicy(24 * h)},
		{name: "zero keep-all and interval take defaults", p: Policy{Window: 24 * h}},
		{name: "window equal to keep-all", p: Policy{KeepAll: 2 * h, Window: 2 * h, Interval: h}},
		{name: "interval longer than window", p: Policy{KeepAll: h, Window: 3 * h, Interval: 24 * h}},
		{
			name:    "window shorter than keep-all",
			p:       Policy{KeepAll: 2 * h, Window: h, Interval: h},
			wantErr: []string{"retention: window 1h0m0s is shorter than the keep-all period 2h0m0s"},
		},
		{
			name:    "window shorter than default keep-all",
			p:       Policy{Window: 90 * time.Minute},
			wantErr: []string{"window 1h30m0s is shorter than the keep-all period 2h0m0s"},
		},
		{
			name:    "zero window",
			p:       Policy{KeepAll: h, Interval: h},
			wantErr: []string{"retention: window must be positive, got 0s"},
		},
		{
			name:    "negative window",
			p:       Policy{KeepAll: h, Window: -h, Interval: h},
			wantErr: []string{"window must be positive, got -1h0m0s"},
		},
		{
			name:    "negative keep-all",
			p:       Policy{KeepAll: -h, Window: h, Interval: h},
			wantErr: []string{"retention: keep-all period must be positive, got -1h0m0s"},
		},
		{
			name:    "negative interval",
			p:       Policy{KeepAll: h, Window: 2 * h, Interval: -time.Minute},
			wantErr: []string{"retention: interval must be positive, got -1m0s"},
		},
		{
			name: "several problems reported together",
			p:    Policy{KeepAll: -h, Window: 0, Interval: -h},
			wantErr: []string{
				"keep-all period must be positive",
				"interval must be positive",
				"window must be positive",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tt.wantErr)
			}
			msg := err.Error()
			for _, w := range tt.wantErr {
				if !strings.Contains(msg, w) {
					t.Errorf("Validate() = %q, want it to contain %q", msg, w)
				}
			}
			if msg != strings.ToLower(msg[:1])+msg[1:] || strings.HasSuffix(msg, ".") {
				t.Errorf("error %q should start lowercase and not end with a period", msg)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{2 * time.Hour, "2h"},
		{90 * time.Minute, "1h30m"},
		{30 * time.Minute, "30m"},
		{45 * time.Second, "45s"},
		{time.Hour + time.Second, "1h0m1s"},
		{1500 * time.Millisecond, "1.5s"},
		{48 * time.Hour, "48h"},
	}
	for _, tt := range tests {
		if got := formatDuration(tt.d); got != tt.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestBucketReason(t *testing.T) {
	start := time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC)
	tests := []struct {
		interval time.Duration
		start    time.Time
		want     string
	}{
		{time.Hour, start, "newest in hour 2026-11-28T13:00Z"},
		{24 * time.Hour, start.Truncate(24 * time.Hour), "newest in day 2026-11-28"},
		{30 * time.Minute, start.Add(30 * time.Minute), "newest in 30m bucket 2026-11-28T13:30Z"},
		{6 * time.Hour, start.Add(-time.Hour), "newest in 6h bucket 2026-11-28T12:00Z"},
		{90 * time.Second, start.Add(90 * time.Second), "newest in 1m30s bucket 2026-11-28T13:01:30Z"},
		// A bucket start in another zone is still printed in UTC.
		{time.Hour, start.In(time.FixedZone("X", 5*3600)), "newest in hour 2026-11-28T13:00Z"},
	}
	for _, tt := range tests {
		if got := bucketReason(tt.interval, tt.start); got != tt.want {
			t.Errorf("bucketReason(%v, %v) = %q, want %q", tt.interval, tt.start, got, tt.want)
		}
	}
}
