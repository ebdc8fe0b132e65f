package mobility

import (
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/wire"
)

func TestNextCapture(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	const crash, app = 30 * time.Second, time.Hour
	tests := []struct {
		name        string
		advance     time.Duration
		lastCapture time.Time
		lastApp     time.Time
		wantKind    wire.Kind
		wantAt      time.Time
	}{
		{"first point is app-consistent, now", 0, time.Time{}, time.Time{}, wire.KindApp, t0},
		{"crash after the interval", 0, t0.Add(-10 * time.Second), t0.Add(-10 * time.Minute), wire.KindCrash, t0.Add(20 * time.Second)},
		{"overdue: now", time.Minute, t0.Add(-10 * time.Second), t0.Add(-10 * time.Minute), wire.KindCrash, t0.Add(time.Minute)},
		{"app interval reached at the next capture", 0, t0.Add(-10 * time.Second), t0.Add(-time.Hour + 20*time.Second), wire.KindApp, t0.Add(20 * time.Second)},
		{"app interval not yet", 0, t0.Add(-10 * time.Second), t0.Add(-time.Hour + 21*time.Second), wire.KindCrash, t0.Add(20 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Set(t0.Add(tt.advance))
			kind, at := nextCapture(clk.Now(), tt.lastCapture, tt.lastApp, crash, app)
			if kind != tt.wantKind || !at.Equal(tt.wantAt) {
				t.Fatalf("got %s at %v, want %s at %v", kind, at, tt.wantKind, tt.wantAt)
			}
		})
	}
}

func TestRateMeterAndEvents(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	m := &monitor{log: discardLogger(), now: clk.Now}
	m.sent(10 << 20)
	clk.Advance(time.Second)
	m.sent(10 << 20)
	if got := m.snapshot().ThroughputBps; got != 2<<20 {
		t.Fatalf("throughput %v, want %v", got, 2<<20)
	}
	clk.Advance(11 * time.Second)
	if got := m.snapshot().ThroughputBps; got != 0 {
		t.Fatalf("throughput after 11s idle: %v", got)
	}
	for i := range maxEvents + 5 {
		m.event("x", "info", "event", "i", string(rune('a'+i%26)))
	}
	s := m.snapshot()
	if len(s.Events) != maxEvents || s.SentBytes != 20<<20 || s.RPOSeconds != -1 {
		t.Fatalf("events %d, sent %d, rpo %v", len(s.Events), s.SentBytes, s.RPOSeconds)
	}
	m.update(func(st *Status) { st.CaptureTime = clk.Now().Add(-45 * time.Second) })
	if s := m.snapshot(); s.RPOSeconds != 45 {
		t.Fatalf("rpo %v, want 45", s.RPOSeconds)
	}
}
