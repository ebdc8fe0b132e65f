package vaultlink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// APIError is an error answer of the vault: its status and exact message.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("vault: %s (HTTP %d)", e.Message, e.Status) }

// Client calls one vault URL. It is safe for concurrent use.
type Client struct {
	base string
	http *http.Client
}

// NewClient returns a client of the vault at base (https://host:port) using hc.
func NewClient(base string, hc *http.Client) *Client {
	return &Client{base: strings.TrimSuffix(base, "/"), http: hc}
}

// URL returns the vault URL of the client.
func (c *Client) URL() string { return c.base }

const maxAnswer = 4 << 20

// do sends a JSON request and decodes a JSON answer into out (nil: ignore the body). It returns the
// answer's Date header (zero if absent).
func (c *Client) do(ctx context.Context, method, path string, in, out any) (time.Time, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return time.Time{}, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return time.Time{}, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	defer resp.Body.Close()
	date, _ := http.ParseTime(resp.Header.Get("Date"))
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return date, fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	if len(b) > maxAnswer {
		return date, fmt.Errorf("answer of %s %s is larger than %d bytes", method, path, maxAnswer)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
			if len(e.Error) > 200 || e.Error == "" {
				e.Error = http.StatusText(resp.StatusCode)
			}
		}
		return date, &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return date, fmt.Errorf("decode answer of %s %s: %w", method, path, err)
		}
	}
	return date, nil
}

// Probe connects to the vault and returns its clock (the Date of its answer). Any HTTP answer counts
// as reachable: the probe proves the network path and the pinned certificate, nothing else.
func (c *Client) Probe(ctx context.Context) (time.Time, error) {
	date, err := c.do(ctx, http.MethodGet, "/api/v1/", nil, nil)
	var ae *APIError
	if errors.As(err, &ae) {
		err = nil
	}
	if err != nil {
		return time.Time{}, err
	}
	if date.IsZero() {
		return time.Time{}, fmt.Errorf("the vault at %s sent no Date header", hostOf(c.base))
	}
	return date, nil
}

// RegisterRequest is the body of POST /api/v1/registrations.
type RegisterRequest struct {
	RegistrationKey string    `json:"registration_key"`
	Name            string    `json:"name"`
	Hostname        string    `json:"hostname"`
	CSRPEM          string    `json:"csr_pem"`
	ClientTime      time.Time `json:"client_time"`
}

// Registration is the vault's answer to a registration.
type Registration struct {
	ConfigServerID string    `json:"config_server_id"`
	VaultID        string    `json:"vault_id"`
	VaultName      string    `json:"vault_name"`
	RootCAPEM      string    `json:"root_ca_pem"`
	CACertPEM      string    `json:"ca_cert_pem"`
	VaultURLs      []string  `json:"vault_urls"`
	ServerTime     time.Time `json:"server_time"`
}

// Register uses a registration key (once) and returns the configuration server's intermediate CA.
func (c *Client) Register(ctx context.Context, r RegisterRequest) (*Registration, error) {
	var out Registration
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/registrations", r, &out); err != nil {
		return nil, err
	}
	if out.ConfigServerID == "" || out.RootCAPEM == "" || out.CACertPEM == "" {
		return nil, errors.New("vault answered the registration without an ID or certificates")
	}
	return &out, nil
}

// Heartbeat is the body of POST /api/v1/cs/heartbeat: the whole current picture.
type Heartbeat struct {
	Time           time.Time     `json:"time"`
	ProcessServers []PSHealth    `json:"process_servers"`
	Agents         []AgentHealth `json:"agents"`
	Items          []ItemReport  `json:"items"`
}

// PSHealth is one process server in a heartbeat.
type PSHealth struct {
	Name               string    `json:"name"`
	Address            string    `json:"address"`
	LastSeen           time.Time `json:"last_seen"`
	CPUPercent         float64   `json:"cpu_percent"`
	MemoryPercent      float64   `json:"memory_percent"`
	CacheFreePercent   float64   `json:"cache_free_percent"`
	UploadBacklogBytes int64     `json:"upload_backlog_bytes"`
	UploadDrainSeconds int64     `json:"upload_drain_seconds"`
}

// AgentHealth is one agent in a heartbeat.
type AgentHealth struct {
	Machine       string    `json:"machine"`
	ProcessServer string    `json:"process_server"`
	LastSeen      time.Time `json:"last_seen"`
	Version       string    `json:"version"`
}

// ItemReport is the state of one protected item as the configuration server sees it.
type ItemReport struct {
	Machine        string     `json:"machine"`
	State          string     `json:"state"`
	InitialPercent float64    `json:"initial_percent"`
	LastPointTime  *time.Time `json:"last_point_time"`
	LastPointID    string     `json:"last_point_id"`
	Error          string     `json:"error"`
}

// HeartbeatAnswer is the vault's answer to a heartbeat.
type HeartbeatAnswer struct {
	ServerTime          time.Time `json:"server_time"`
	DesiredStateVersion int64     `json:"desired_state_version"`
}

// SendHeartbeat posts a heartbeat.
func (c *Client) SendHeartbeat(ctx context.Context, h Heartbeat) (*HeartbeatAnswer, error) {
	var out HeartbeatAnswer
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/cs/heartbeat", h, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Machine is one machine of the inventory (docs/control-plane.md, PUT /cs/inventory).
type Machine struct {
	Name      string   `json:"name"`
	Hostname  string   `json:"hostname"`
	OS        string   `json:"os"`
	Addresses []string `json:"addresses"`
	Source    string   `json:"source"` // physical or vcenter ("agent" from older configuration servers)
	Disks     []Disk   `json:"disks"`
	Agent     bool     `json:"agent,omitempty"` // a mobility agent is registered for it
	// Discovered in vCenter (source vcenter).
	VCenter      string   `json:"vcenter,omitempty"`
	VMName       string   `json:"vm_name,omitempty"`
	InstanceUUID string   `json:"instance_uuid,omitempty"`
	GuestOS      string   `json:"guest_os,omitempty"`
	PowerState   string   `json:"power_state,omitempty"`
	Host         string   `json:"host,omitempty"`
	Cluster      string   `json:"cluster,omitempty"`
	Datacenter   string   `json:"datacenter,omitempty"`
	Datastores   []string `json:"datastores,omitempty"`
	// Hardware is what failover needs beside the disks (the vault's Hardware), when known.
	Hardware *Hardware `json:"hardware,omitempty"`
	// Push is the outcome of the last automatic push of the mobility service to it.
	Push *PushResult `json:"push,omitempty"`
}

// Disk is one disk of a machine.
type Disk struct {
	Name      string `json:"name"`
	SizeBytes int64  `json:"size_bytes"`
	Datastore string `json:"datastore,omitempty"` // VM disks
	File      string `json:"file,omitempty"`
	Thin      bool   `json:"thin,omitempty"`
}

// PutInventory replaces the machines this configuration server knows (and reports no vCenters).
func (c *Client) PutInventory(ctx context.Context, machines []Machine) error {
	return c.PutInventoryDoc(ctx, Inventory{Machines: machines})
}

// PutInventoryDoc replaces the machines and vCenters this configuration server knows.
func (c *Client) PutInventoryDoc(ctx context.Context, inv Inventory) error {
	if inv.Machines == nil {
		inv.Machines = []Machine{}
	}
	if inv.VCenters == nil {
		inv.VCenters = []VCenter{}
	}
	_, err := c.do(ctx, http.MethodPut, "/api/v1/cs/inventory", inv, nil)
	return err
}

// DesiredState is what the vault wants replicated.
type DesiredState struct {
	Version int64     `json:"version"`
	VaultID string    `json:"vault_id"`
	Storage Storage   `json:"storage"`
	Items   []Desired `json:"items"`
	// VCenters are the vault's pending vCenter requests for this configuration server.
	VCenters []VCenterRequest `json:"vcenters,omitempty"`
}

// Storage says where process servers upload.
type Storage struct {
	URL      string `json:"url"`
	Password []byte `json:"password"`
}

// Desired is one machine to replicate.
type Desired struct {
	Machine       string `json:"machine"`
	ProcessServer string `json:"process_server"`
	Policy        Policy `json:"policy"`
}

// Policy is a replication policy as the agent needs it.
type Policy struct {
	Name                            string `json:"name"`
	RPOThresholdSeconds             int64  `json:"rpo_threshold_seconds"`
	RetentionSeconds                int64  `json:"retention_seconds"`
	AppConsistentFrequencySeconds   int64  `json:"app_consistent_frequency_seconds"`
	CrashConsistentFrequencySeconds int64  `json:"crash_consistent_frequency_seconds"`
}

// GetDesiredState fetches the desired state.
func (c *Client) GetDesiredState(ctx context.Context) (*DesiredState, error) {
	var out DesiredState
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/cs/desired-state", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
