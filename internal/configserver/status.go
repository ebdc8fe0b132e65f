package configserver

import (
	"fmt"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

// Status is the health of an associated server as the seed's "Validate the infrastructure" shows it.
type Status string

// The statuses, best first.
const (
	Connected    Status = "Connected"
	Warning      Status = "Warning"
	Critical     Status = "Critical"
	Disconnected Status = "Disconnected"
)

// Heartbeat timing. Process servers and agents send a heartbeat every HeartbeatInterval.
const (
	HeartbeatInterval = 30 * time.Second
	LateAfter         = 3 * HeartbeatInterval // Warning: heartbeats are late
	DisconnectAfter   = 5 * time.Minute       // Disconnected (the vault's "heartbeat lost")
	VaultLostAfter    = 3 * time.Minute       // the vault marks a configuration server Disconnected then
)

// Thresholds of process server health, as the vault's alerts use them.
const (
	LoadWarn      = 80.0 // CPU or memory percent
	LoadCritical  = 95.0
	CacheWarn     = 30.0 // free percent below
	CacheCritical = 25.0
	DrainWarn     = 30 * time.Minute
	DrainCritical = 45 * time.Minute
)

func worse(a, b Status) Status {
	rank := map[Status]int{Connected: 0, Warning: 1, Critical: 2, Disconnected: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// seenStatus rates a last heartbeat time.
func seenStatus(c clock.Clock, last time.Time) (Status, string) {
	if last.IsZero() {
		return Disconnected, "no heartbeat yet"
	}
	age := c.Now().Sub(last)
	switch {
	case age > DisconnectAfter:
		return Disconnected, fmt.Sprintf("no heartbeat for %s", age.Truncate(time.Second))
	case age > LateAfter:
		return Warning, fmt.Sprintf("last heartbeat %s ago", age.Truncate(time.Second))
	}
	return Connected, ""
}

// psStatus rates a process server from its last heartbeat and health.
func psStatus(c clock.Clock, last time.Time, h PSHealth) (Status, string) {
	st, why := seenStatus(c, last)
	if st == Disconnected {
		return st, why
	}
	check := func(bad bool, s Status, msg string) {
		if bad && worse(st, s) != st {
			st, why = s, msg
		}
	}
	drain := h.drain().Truncate(time.Second)
	problems := strings.Join(h.Problems, "; ")
	if problems == "" {
		problems = h.LastError
	}
	check(h.Status == "warning", Warning, "process server reports: "+problems)
	check(h.Status == "critical", Critical, "process server reports: "+problems)
	check(h.CPUPercent > LoadWarn, Warning, fmt.Sprintf("CPU %.0f%%", h.CPUPercent))
	check(h.MemoryPercent > LoadWarn, Warning, fmt.Sprintf("memory %.0f%%", h.MemoryPercent))
	check(h.CacheFreePercent < CacheWarn, Warning, fmt.Sprintf("cache %.0f%% free", h.CacheFreePercent))
	check(drain > DrainWarn, Warning, drainText(h, drain))
	check(h.CPUPercent > LoadCritical, Critical, fmt.Sprintf("CPU %.0f%%", h.CPUPercent))
	check(h.MemoryPercent > LoadCritical, Critical, fmt.Sprintf("memory %.0f%%", h.MemoryPercent))
	check(h.CacheFreePercent < CacheCritical, Critical, fmt.Sprintf("cache %.0f%% free", h.CacheFreePercent))
	check(drain > DrainCritical, Critical, drainText(h, drain))
	return st, why
}

// agentStatus rates an agent from its last heartbeat and report.
func agentStatus(c clock.Clock, last time.Time, h AgentHeartbeat) (Status, string) {
	st, why := seenStatus(c, last)
	if st == Connected && h.Error != "" {
		return Warning, h.Error
	}
	return st, why
}

func drainText(h PSHealth, d time.Duration) string {
	if h.DrainSeconds < 0 {
		return fmt.Sprintf("%d bytes wait for upload and uploads make no progress", h.BacklogBytes)
	}
	return fmt.Sprintf("upload backlog drains in %s", d)
}

// RatePS rates a process server from its last heartbeat and health at c's time (for views built
// from the vault's copy of the heartbeats).
func RatePS(c clock.Clock, last time.Time, h PSHealth) (Status, string) { return psStatus(c, last, h) }

// RateAgent rates an agent from its last heartbeat.
func RateAgent(c clock.Clock, last time.Time) (Status, string) {
	return agentStatus(c, last, AgentHeartbeat{})
}

// RateConfigServer rates a configuration server from its last heartbeat to the vault.
func RateConfigServer(c clock.Clock, last time.Time) (Status, string) {
	if last.IsZero() {
		return Disconnected, "no heartbeat to the vault yet"
	}
	if age := c.Now().Sub(last); age > VaultLostAfter {
		return Disconnected, fmt.Sprintf("no heartbeat to the vault for %s", age.Truncate(time.Second))
	}
	return Connected, ""
}
