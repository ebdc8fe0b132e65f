package configserver

import (
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

func TestPSStatus(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := clock.NewFake(now)
	ok := PSHealth{CPUPercent: 10, MemoryPercent: 20, CacheFreePercent: 70, DrainSeconds: 60}
	with := func(f func(h *PSHealth)) PSHealth { h := ok; f(&h); return h }
	for _, tc := range []struct {
		name   string
		last   time.Time
		h      PSHealth
		status Status
		reason string
	}{
		{"fine", now, ok, Connected, ""},
		{"never", time.Time{}, ok, Disconnected, "no heartbeat yet"},
		{"late", now.Add(-91 * time.Second), ok, Warning, "last heartbeat 1m31s ago"},
		{"just in time", now.Add(-90 * time.Second), ok, Connected, ""},
		{"lost", now.Add(-5*time.Minute - time.Second), ok, Disconnected, "no heartbeat for 5m1s"},
		{"cpu warn", now, with(func(h *PSHealth) { h.CPUPercent = 81 }), Warning, "CPU 81%"},
		{"cpu critical", now, with(func(h *PSHealth) { h.CPUPercent = 96 }), Critical, "CPU 96%"},
		{"memory warn", now, with(func(h *PSHealth) { h.MemoryPercent = 85 }), Warning, "memory 85%"},
		{"cache warn", now, with(func(h *PSHealth) { h.CacheFreePercent = 29 }), Warning, "cache 29% free"},
		{"cache critical", now, with(func(h *PSHealth) { h.CacheFreePercent = 24 }), Critical, "cache 24% free"},
		{"drain warn", now, with(func(h *PSHealth) { h.DrainSeconds = 31 * 60 }), Warning, "upload backlog drains in 31m0s"},
		{"drain critical", now, with(func(h *PSHealth) { h.DrainSeconds = 46 * 60 }), Critical, "upload backlog drains in 46m0s"},
		{"no progress", now, with(func(h *PSHealth) { h.DrainSeconds, h.BacklogBytes = -1, 4096 }), Critical, "4096 bytes wait for upload and uploads make no progress"},
		{"idle", now, with(func(h *PSHealth) { h.DrainSeconds = -1 }), Connected, ""},
		{"self warning", now, with(func(h *PSHealth) { h.Status, h.Problems = "warning", []string{"store unreachable"} }), Warning, "process server reports: store unreachable"},
		{"critical wins", now, with(func(h *PSHealth) { h.CPUPercent, h.CacheFreePercent = 85, 20 }), Critical, "cache 20% free"},
		{"late and critical", now.Add(-2 * time.Minute), with(func(h *PSHealth) { h.CPUPercent = 99 }), Critical, "CPU 99%"},
	} {
		st, why := psStatus(c, tc.last, tc.h)
		if st != tc.status || why != tc.reason {
			t.Errorf("%s: %s %q, want %s %q", tc.name, st, why, tc.status, tc.reason)
		}
	}
	st, why := agentStatus(c, now, AgentHeartbeat{Error: "disk sda: read error"})
	if st != Warning || why != "disk sda: read error" {
		t.Errorf("agent error: %s %q", st, why)
	}
}
