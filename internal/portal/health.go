package portal

import (
	"fmt"
	"strings"
	"time"
)

// Health values as the API reports them for configuration servers, process servers and agents
// (the seed's "Validate the infrastructure" column).
const (
	healthConnected    = "Connected"
	healthWarning      = "Warning"
	healthCritical     = "Critical"
	healthDisconnected = "Disconnected"
)

// healthClass maps a health value to its CSS class.
func healthClass(h string) string {
	switch strings.ToLower(h) {
	case "connected", "healthy", "ok":
		return "ok"
	case "warning":
		return "warn"
	case "critical":
		return "crit"
	default:
		return "off"
	}
}

// stateLabels are the words shown for protected item states.
var stateLabels = map[string]string{
	"enabling":            "Enabling protection",
	"initial-replication": "Initial replication",
	"protected":           "Protected",
	"resynchronising":     "Resynchronising",
	"error":               "Error",
	"failed-over":         "Failed over",
	"committed":           "Committed",
	"migration-completed": "Migration completed",
}

// stateOrder is the order of states on the dashboard.
var stateOrder = []string{"enabling", "initial-replication", "protected", "resynchronising", "error",
	"failed-over", "committed", "migration-completed"}

func stateLabel(s string) string {
	if l, ok := stateLabels[s]; ok {
		return l
	}
	return s
}

// stateClass maps an item state to its CSS class.
func stateClass(s string) string {
	switch s {
	case "protected", "committed", "migration-completed":
		return "ok"
	case "error":
		return "crit"
	case "enabling", "initial-replication", "resynchronising", "failed-over":
		return "warn"
	}
	return "off"
}

// Thresholds of process-server health, as docs/control-plane.md sets them for the vault's alerts.
const (
	cpuWarn, cpuCrit     = 80.0, 95.0 // percent, CPU and memory
	cacheWarn, cacheCrit = 30.0, 25.0 // percent of the cache free
	drainWarn, drainCrit = 30 * 60, 45 * 60
	heartbeatLost        = 5 * time.Minute
)

// health fills in the health of each configuration server, and of the process servers and agents
// of its last heartbeat: Disconnected when the configuration server is, or when a server's last
// report is older than 5 minutes; else Critical or Warning past the alert thresholds; else
// Connected.
func (p *Portal) health(css []ConfigServer) {
	now := p.clock.Now()
	for i := range css {
		cs := &css[i]
		up := cs.Status == "connected"
		cs.Health = healthDisconnected
		if up {
			cs.Health = healthConnected
		}
		for j := range cs.Heartbeat.ProcessServers {
			ps := &cs.Heartbeat.ProcessServers[j]
			ps.Health, ps.Reasons = psHealth(now, up, ps)
		}
		for j := range cs.Heartbeat.Agents {
			a := &cs.Heartbeat.Agents[j]
			a.Health = healthConnected
			if !up || now.Sub(a.LastSeen) > heartbeatLost {
				a.Health = healthDisconnected
			}
		}
	}
}

func psHealth(now time.Time, csUp bool, ps *ProcessServer) (string, []string) {
	if !csUp {
		return healthDisconnected, []string{"configuration server disconnected"}
	}
	if now.Sub(ps.LastSeen) > heartbeatLost {
		return healthDisconnected, []string{"heartbeat lost"}
	}
	var crit, warn []string
	check := func(bad, worse bool, what string) {
		switch {
		case worse:
			crit = append(crit, what)
		case bad:
			warn = append(warn, what)
		}
	}
	check(ps.CPUPercent > cpuWarn, ps.CPUPercent > cpuCrit, fmt.Sprintf("CPU %.0f %%", ps.CPUPercent))
	check(ps.MemoryPercent > cpuWarn, ps.MemoryPercent > cpuCrit, fmt.Sprintf("memory %.0f %%", ps.MemoryPercent))
	check(ps.CacheFreePercent < cacheWarn, ps.CacheFreePercent < cacheCrit, fmt.Sprintf("cache free %.0f %%", ps.CacheFreePercent))
	check(ps.UploadDrainSeconds > drainWarn, ps.UploadDrainSeconds > drainCrit, "upload backlog drains in "+duration(ps.UploadDrainSeconds))
	switch {
	case len(crit) > 0:
		return healthCritical, append(crit, warn...)
	case len(warn) > 0:
		return healthWarning, warn
	}
	return healthConnected, nil
}
