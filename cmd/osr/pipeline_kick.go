package main

import (
	"context"
	"time"
)

// kickWhenHealthy sends a heartbeat as soon as the process server's /health answers after a
// (re)start, instead of at the next 30 s tick: the heartbeat sent before it served said
// "waiting for the vault's storage settings" without any cache figures, and until the next one
// the configuration server would rate it by that (and not move machines to it).
func (m *managedPS) kickWhenHealthy(ctx context.Context) {
	if m.health == "" {
		return
	}
	for range 100 { // 10 s
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := m.hc.Get("http://" + m.health + "/health")
		if err != nil {
			continue
		}
		resp.Body.Close()
		select {
		case m.kick <- struct{}{}:
		default:
		}
		return
	}
}
