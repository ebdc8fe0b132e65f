package portal

import (
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver"
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

// health fills in the health of each configuration server, and of the process servers and agents
// of its last heartbeat, with the rules `osr infrastructure` uses (internal/configserver's Rate
// functions: late heartbeats are a Warning, none for 5 minutes Disconnected, process servers also
// rated by CPU, memory, free cache and upload drain time against the vault's alert thresholds),
// so that the portal and the CLI say the same word. One difference: while the configuration
// server itself is Disconnected, what it last said about its servers is stale, so they are shown
// Disconnected too.
func (p *Portal) health(css []ConfigServer) {
	for i := range css {
		cs := &css[i]
		var last time.Time
		if cs.LastHeartbeat != nil {
			last = *cs.LastHeartbeat
		}
		st, _ := configserver.RateConfigServer(p.clock, last)
		cs.Health = string(st)
		up := st != configserver.Disconnected
		for j := range cs.Heartbeat.ProcessServers {
			ps := &cs.Heartbeat.ProcessServers[j]
			ps.Health, ps.Reasons = psHealth(p.clock, up, ps)
		}
		for j := range cs.Heartbeat.Agents {
			a := &cs.Heartbeat.Agents[j]
			a.Health = healthDisconnected
			if up {
				st, _ := configserver.RateAgent(p.clock, a.LastSeen)
				a.Health = string(st)
			}
		}
	}
}

func psHealth(c clock.Clock, csUp bool, ps *ProcessServer) (string, []string) {
	if !csUp {
		return healthDisconnected, []string{"configuration server disconnected"}
	}
	st, why := configserver.RatePS(c, ps.LastSeen, configserver.PSHealth{
		CPUPercent: ps.CPUPercent, MemoryPercent: ps.MemoryPercent, CacheFreePercent: ps.CacheFreePercent,
		BacklogBytes: ps.UploadBacklogBytes, DrainSeconds: float64(ps.UploadDrainSeconds),
	})
	if why == "" {
		return string(st), nil
	}
	return string(st), []string{why}
}
