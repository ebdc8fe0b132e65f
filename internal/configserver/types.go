package configserver

import (
	"time"

	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
	"github.com/opensiterecovery/osr/internal/vcenter"
)

// PSHealth is the health JSON a process server sends in its heartbeat (POST /v1/heartbeat with a
// process-server certificate): the fields of its /health document (internal/processserver Health)
// that the configuration server rates, plus the address agents dial if it changed. Unknown fields
// are ignored: the process server may say more.
type PSHealth struct {
	// Drain is how far each machine's acknowledged points are committed (finalsync.go).
	Drain []PSDrain `json:"drain,omitempty"`
	// HealthAnswer is the newest PSConfig.HealthAsk the process server had when it read this
	// health: the document was read after that ask (finalsync_ask.go). 0: not an answer; -1: the
	// heartbeat carries no health document read (the process server is starting), no answer.
	HealthAnswer int64 `json:"health_answer,omitempty"`

	Address          string   `json:"address,omitempty"`
	Version          string   `json:"version,omitempty"`
	Status           string   `json:"status,omitempty"` // the process server's own rating: ok, warning, critical
	Problems         []string `json:"problems,omitempty"`
	CPUPercent       float64  `json:"cpu_percent"`
	MemoryPercent    float64  `json:"memory_percent,omitempty"`
	CacheFreePercent float64  `json:"cache_free_percent"`
	BacklogBytes     int64    `json:"backlog_bytes"`
	DrainSeconds     float64  `json:"drain_seconds"` // projected time to upload the backlog; -1: no upload progress
	ConnectedAgents  int      `json:"connected_agents"`
	LastError        string   `json:"last_error,omitempty"`
	// Cache size and free bytes, and the machines with their change rates: what switch, balance
	// and the automatic moves weigh (balance.go).
	CacheBytes     int64           `json:"cache_bytes,omitempty"`
	CacheFreeBytes int64           `json:"cache_free_bytes,omitempty"`
	Machines       []MachineReport `json:"machines,omitempty"`
}

// drain is the projected drain time; a backlog without upload progress counts as a day.
func (h PSHealth) drain() time.Duration {
	if h.DrainSeconds < 0 {
		if h.BacklogBytes > 0 {
			return 24 * time.Hour
		}
		return 0
	}
	return time.Duration(h.DrainSeconds * float64(time.Second))
}

// AgentHeartbeat is what an agent sends in its heartbeat (agent certificate): its version and the
// state of its replication, forwarded to the vault as the protected item's report.
type AgentHeartbeat struct {
	// FinalSync reports the final sync the agent was told last (finalsync.go).
	FinalSync *FinalSyncReport `json:"final_sync,omitempty"`

	Version        string     `json:"version,omitempty"`
	State          string     `json:"state,omitempty"` // enabling, initial-replication, protected, resynchronising, error; empty: not replicating
	InitialPercent float64    `json:"initial_percent,omitempty"`
	LastPointTime  *time.Time `json:"last_point_time,omitempty"`
	LastPointID    string     `json:"last_point_id,omitempty"`
	Error          string     `json:"error,omitempty"`
	// ProcessServerConnected: whether the agent has a session with its process server now (absent:
	// an agent that does not say); agents that all cannot reach theirs make it lost (balance.go).
	ProcessServerConnected *bool `json:"process_server_connected,omitempty"`
}

// HeartbeatAnswer answers a heartbeat: the version of the holder's configuration, so that it
// fetches it again when it changed, and whether its certificate should be renewed.
type HeartbeatAnswer struct {
	ServerTime    time.Time `json:"server_time"`
	ConfigVersion int64     `json:"config_version"`
	RenewCert     bool      `json:"renew_certificate"`
}

// AgentInfo is what an agent says about its machine when it enrolls.
type AgentInfo struct {
	Hostname  string           `json:"hostname"`
	OS        string           `json:"os"`
	Addresses []string         `json:"addresses"`
	Disks     []vaultlink.Disk `json:"disks"`
}

// PSInfo is what a process server says about itself when it enrolls.
type PSInfo struct {
	Address string `json:"address"` // host:port agents dial
}

// AgentConfig is what an agent is told (GET /v1/agent/config).
type AgentConfig struct {
	// FinalSync, when set, asks for a planned failover's final sync (finalsync.go).
	FinalSync *FinalSyncOrder `json:"final_sync,omitempty"`

	Version           int64             `json:"version"`
	Machine           string            `json:"machine"`
	ProcessServer     string            `json:"process_server"`      // host:port; empty: none assigned yet
	ProcessServerName string            `json:"process_server_name"` // the name in its certificate
	Replicate         bool              `json:"replicate"`
	Policy            *vaultlink.Policy `json:"policy,omitempty"`
	HeartbeatSeconds  int64             `json:"heartbeat_seconds"`
}

// PSConfig is what a process server is told (GET /v1/process-server/config).
type PSConfig struct {
	Version  int64              `json:"version"`
	Name     string             `json:"name"`
	Storage  *vaultlink.Storage `json:"storage,omitempty"` // where to upload; absent until the vault sent it
	Machines []PSMachine        `json:"machines"`
	// HealthAsk, when it grows, asks for a heartbeat at once whose health is read after it; the
	// heartbeat says so in PSHealth.HealthAnswer (finalsync_ask.go). 0: never asked.
	HealthAsk int64 `json:"health_ask,omitempty"`
}

// PSMachine is a machine assigned to a process server.
type PSMachine struct {
	Machine string            `json:"machine"`
	Policy  *vaultlink.Policy `json:"policy,omitempty"`
}

// Infrastructure is the answer of GET /v1/infrastructure and the output of osr infrastructure
// --json.
type Infrastructure struct {
	ConfigurationServers []CSView `json:"configuration_servers"`
}

// CSView is one configuration server and its associated servers.
type CSView struct {
	Name           string      `json:"name"`
	ID             string      `json:"id"`
	Vault          string      `json:"vault"`
	Status         Status      `json:"status"`
	Reason         string      `json:"reason,omitempty"`
	LastVault      *time.Time  `json:"last_vault_contact,omitempty"`
	ProcessServers []PSView    `json:"process_servers"`
	Agents         []AgentView `json:"agents"`
	// VCenters are the vCenter Servers this configuration server discovers machines from, with
	// the status of their last inventory sync.
	VCenters []vcenter.Summary `json:"vcenters"`
}

// PSView is a process server in the infrastructure view.
type PSView struct {
	Name     string     `json:"name"`
	Address  string     `json:"address"`
	Status   Status     `json:"status"`
	Reason   string     `json:"reason,omitempty"`
	LastSeen *time.Time `json:"last_seen,omitempty"`
	Agents   int        `json:"agents"`
	Health   *PSHealth  `json:"health,omitempty"`
}

// AgentView is an agent in the infrastructure view.
type AgentView struct {
	Machine       string     `json:"machine"`
	ProcessServer string     `json:"process_server"`
	Status        Status     `json:"status"`
	Reason        string     `json:"reason,omitempty"`
	LastSeen      *time.Time `json:"last_seen,omitempty"`
	State         string     `json:"state,omitempty"`
}
