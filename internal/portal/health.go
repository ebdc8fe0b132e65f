package portal

import "strings"

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
