package portal

import (
	"net/http"
	"net/url"
	"time"
)

// The shapes below are the API's JSON objects as docs/api/openapi.yaml describes them; the portal
// reads only the fields it shows.

// Me is the signed-in user.
type Me struct {
	User string `json:"user"`
	Role string `json:"role"`
}

// Vault is a vault and its target settings.
type Vault struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	StorageURL string    `json:"storage_url"`
	Created    time.Time `json:"created"`
	Target     Target    `json:"target"`
}

// Target is where failed-over machines go (the seed's "Target" step).
type Target struct {
	Provider      string `json:"provider"`
	Location      string `json:"location"`
	ResourceGroup string `json:"resource_group"`
	Network       string `json:"network"`
}

// Policy is a replication policy.
type Policy struct {
	ID                      string   `json:"id"`
	Name                    string   `json:"name"`
	RPOThresholdSeconds     int64    `json:"rpo_threshold_seconds"`
	RetentionSeconds        int64    `json:"retention_seconds"`
	AppConsistentSeconds    int64    `json:"app_consistent_frequency_seconds"`
	CrashConsistentSeconds  int64    `json:"crash_consistent_frequency_seconds"`
	FailbackOf              string   `json:"failback_of"`
	AssociatedConfigServers []string `json:"config_servers"`
}

// ConfigServer is a registered configuration server with what its last heartbeat said.
type ConfigServer struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	Hostname      string     `json:"hostname"`
	Registered    time.Time  `json:"registered"`
	LastHeartbeat *time.Time `json:"last_heartbeat"`
	Status        string     `json:"status"` // connected, disconnected
	Heartbeat     struct {
		ProcessServers []ProcessServer `json:"process_servers"`
		Agents         []Agent         `json:"agents"`
	} `json:"heartbeat"`
	// Health is computed by the portal (see health.go).
	Health string `json:"-"`
}

// ProcessServer is a process server as its configuration server reports it.
type ProcessServer struct {
	Name               string    `json:"name"`
	Address            string    `json:"address"`
	LastSeen           time.Time `json:"last_seen"`
	CPUPercent         float64   `json:"cpu_percent"`
	MemoryPercent      float64   `json:"memory_percent"`
	CacheFreePercent   float64   `json:"cache_free_percent"`
	UploadBacklogBytes int64     `json:"upload_backlog_bytes"`
	UploadDrainSeconds int64     `json:"upload_drain_seconds"`
	// Health and Reasons are computed by the portal (see health.go).
	Health  string   `json:"-"`
	Reasons []string `json:"-"`
}

// Agent is a mobility agent as its configuration server reports it.
type Agent struct {
	Machine       string    `json:"machine"`
	ProcessServer string    `json:"process_server"`
	LastSeen      time.Time `json:"last_seen"`
	Version       string    `json:"version"`
	Health        string    `json:"-"` // computed by the portal
}

// Machine is a machine of a configuration server's inventory.
type Machine struct {
	Name         string   `json:"name"`
	Hostname     string   `json:"hostname"`
	OS           string   `json:"os"`
	Source       string   `json:"source"`
	Addresses    []string `json:"addresses"`
	ConfigServer string   `json:"config_server"`
	Protected    bool     `json:"protected"`
}

// Item is a replicated (protected) item.
type Item struct {
	Machine        string     `json:"machine"`
	Policy         string     `json:"policy"`
	ProcessServer  string     `json:"process_server"`
	ConfigServer   string     `json:"config_server"`
	State          string     `json:"state"`
	InitialPercent float64    `json:"initial_percent"`
	LastPointTime  *time.Time `json:"last_point_time"`
	LastPointID    string     `json:"last_point_id"`
	RPOSeconds     *int64     `json:"rpo_seconds"` // now minus the newest point's time, by the vault's clock
	Error          string     `json:"error"`
	Created        time.Time  `json:"created"`
}

// RecoveryPoint is one recovery point of an item.
type RecoveryPoint struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Consistency string    `json:"consistency"` // app, crash
	Disks       []string  `json:"disks"`
	Committed   time.Time `json:"committed"`
}

// Job is a long operation.
type Job struct {
	ID        string     `json:"id"`
	VaultID   string     `json:"vault_id"`
	Kind      string     `json:"kind"`
	Target    string     `json:"target"`
	State     string     `json:"state"`
	Progress  float64    `json:"progress"`
	Result    string     `json:"result"`
	Error     string     `json:"error"`
	CreatedBy string     `json:"created_by"`
	Started   time.Time  `json:"started"`
	Ended     *time.Time `json:"ended"`
}

// Alert is a raised (or cleared) alert.
type Alert struct {
	ID       string     `json:"id"`
	Kind     string     `json:"kind"`
	Subject  string     `json:"subject"`
	Severity string     `json:"severity"`
	Message  string     `json:"message"`
	Raised   time.Time  `json:"raised"`
	Cleared  *time.Time `json:"cleared"`
}

// Event is one entry of the event log.
type Event struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Severity string    `json:"severity"`
	Kind     string    `json:"kind"`
	Subject  string    `json:"subject"`
	Message  string    `json:"message"`
}

// esc escapes one path segment.
func esc(s string) string { return url.PathEscape(s) }

// vaultPath is the API path of a vault's sub-resource.
func vaultPath(vault string, rest string) string { return "/vaults/" + esc(vault) + rest }

// itemsPath is the API path of a vault's protected items (or of one, with "/"+machine).
func itemsPath(vault, rest string) string { return vaultPath(vault, "/protected-items"+rest) }

// listPath is the API path of a list across vaults (jobs, events, alerts) for one vault.
func listPath(what, vault, extra string) string {
	return "/" + what + "?vault=" + url.QueryEscape(vault) + extra
}

// get reads an API resource as the session's user.
func (p *Portal) get(r *http.Request, s *session, path string, out any) error {
	return p.api.do(r.Context(), r, s.Token, call{method: http.MethodGet, path: path, out: out})
}

// send changes an API resource as the session's user.
func (p *Portal) send(r *http.Request, s *session, method, path string, in, out any) error {
	return p.api.do(r.Context(), r, s.Token, call{method: method, path: path, in: in, out: out})
}

// whoami checks the session cookie's token ("ID.SECRET") with the API and returns its session.
func (p *Portal) whoami(r *http.Request, token string) (*session, error) {
	var me Me
	id, secret, err := parseSessionCookie(token)
	if err != nil {
		return nil, &APIError{Status: http.StatusUnauthorized, Message: err.Error()}
	}
	if err := p.api.do(r.Context(), r, secret, call{method: http.MethodGet, path: pathWhoami, out: &me}); err != nil {
		return nil, err
	}
	return &session{Token: secret, TokenID: id, User: me.User, Role: me.Role, CSRF: csrfFor(secret)}, nil
}

// API paths the portal uses beyond the resource lists.
const (
	pathLogin  = "/login"  // POST {user, password} → a token {id, token, expires}
	pathWhoami = "/whoami" // GET → {user, role}
	pathTokens = "/tokens" // DELETE /tokens/{id} revokes a token
)
