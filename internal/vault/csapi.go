package vault

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opensiterecovery/osr/internal/vault/db"
)

// HeartbeatResponse answers a heartbeat.
type HeartbeatResponse struct {
	ServerTime          time.Time `json:"server_time"`
	DesiredStateVersion int64     `json:"desired_state_version"`
}

func (h *Heartbeat) validate() error {
	if len(h.ProcessServers) > 1000 || len(h.Agents) > 100000 || len(h.Items) > 100000 {
		return badRequest("heartbeat lists too many process servers, agents or items")
	}
	pct := func(what, name string, v float64) error {
		if v < 0 || v > 100 {
			return badRequest("process server %s: %s must be between 0 and 100, got %g", name, what, v)
		}
		return nil
	}
	for _, ps := range h.ProcessServers {
		if ps.Name == "" {
			return badRequest("process server with an empty name")
		}
		for _, c := range []struct {
			what string
			v    float64
		}{{"cpu_percent", ps.CPUPercent}, {"memory_percent", ps.MemoryPercent}, {"cache_free_percent", ps.CacheFreePercent}} {
			if err := pct(c.what, ps.Name, c.v); err != nil {
				return err
			}
		}
	}
	for _, it := range h.Items {
		if !reportable[it.State] {
			return badRequest("item %s: state %q is not one a configuration server reports", it.Machine, it.State)
		}
		if it.InitialPercent < 0 || it.InitialPercent > 100 {
			return badRequest("item %s: initial_percent must be between 0 and 100, got %g", it.Machine, it.InitialPercent)
		}
		if it.State == StateProtected && it.LastPointTime == nil {
			return badRequest("item %s: state protected needs last_point_time", it.Machine)
		}
	}
	return nil
}

// ConfigServerHeartbeat records a configuration server's heartbeat and applies its item reports.
func (s *Service) ConfigServerHeartbeat(ctx context.Context, hb Heartbeat) (*HeartbeatResponse, error) {
	a := actorOf(ctx)
	if err := hb.validate(); err != nil {
		return nil, err
	}
	items := hb.Items
	hb.Items = nil // the stored heartbeat keeps servers and agents; items live in protected_items
	b, _ := json.Marshal(hb)
	now := s.clock.Now()
	resp := &HeartbeatResponse{ServerTime: now.UTC()}
	err := s.db.InTx(ctx, func(tx *dbTx) error {
		if _, err := tx.Exec(ctx, `UPDATE config_servers SET last_heartbeat = ?, heartbeat = ? WHERE id = ?`, ns(now), string(b), a.ConfigServer); err != nil {
			return err
		}
		for _, r := range items {
			if err := s.applyReport(ctx, tx, a, r); err != nil {
				return err
			}
		}
		return tx.QueryRow(ctx, `SELECT desired_version FROM vaults WHERE id = ?`, a.VaultID).Scan(&resp.DesiredStateVersion)
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Service) applyReport(ctx context.Context, tx *dbTx, a Actor, r ItemReport) error {
	var state, oldErr string
	err := tx.QueryRow(ctx, `SELECT state, error FROM protected_items WHERE vault_id = ? AND machine = ? AND config_server_id = ?`, a.VaultID, r.Machine, a.ConfigServer).Scan(&state, &oldErr)
	if err != nil {
		return nil // not a protected item of this configuration server: ignored
	}
	switch state {
	case StateFailedOver, StateCommitted, StateMigrationCompleted:
		return nil // failover owns the item now
	}
	var lpt int64
	if r.LastPointTime != nil {
		lpt = ns(*r.LastPointTime)
	}
	if _, err := tx.Exec(ctx, `UPDATE protected_items SET state = ?, initial_percent = ?, last_point_time = CASE WHEN ? > last_point_time THEN ? ELSE last_point_time END, last_point_id = CASE WHEN ? > last_point_time THEN ? ELSE last_point_id END, error = ?, updated = ? WHERE vault_id = ? AND machine = ?`,
		r.State, r.InitialPercent, lpt, lpt, lpt, r.LastPointID, r.Error, ns(s.clock.Now()), a.VaultID, r.Machine); err != nil {
		return err
	}
	switch r.State {
	case StateInitialReplication:
		if err := s.jobProgress(ctx, tx, a.VaultID, "enable-replication", r.Machine, r.InitialPercent); err != nil {
			return err
		}
	case StateProtected:
		if err := s.endJobs(ctx, tx, a.VaultID, "enable-replication", r.Machine, "protected", nil); err != nil {
			return err
		}
	}
	if r.State != state {
		sev, msg := "info", fmt.Sprintf("%s: %s → %s", r.Machine, state, r.State)
		if r.State == StateError {
			sev, msg = "critical", msg+": "+r.Error
		}
		if r.State == StateResynchronising {
			sev = "warning"
		}
		if err := s.event(ctx, tx, a.VaultID, sev, "item-state", r.Machine, msg); err != nil {
			return err
		}
	} else if r.Error != "" && r.Error != oldErr {
		if err := s.event(ctx, tx, a.VaultID, "critical", "item-error", r.Machine, r.Machine+": "+r.Error); err != nil {
			return err
		}
	}
	return nil
}

// Machine is one machine of a configuration server's inventory.
type Machine struct {
	Name         string        `json:"name"`
	Hostname     string        `json:"hostname"`
	OS           string        `json:"os"`
	Addresses    []string      `json:"addresses"`
	Source       string        `json:"source"`
	Disks        []MachineDisk `json:"disks"`
	Hardware     *Hardware     `json:"hardware,omitempty"` // optional (machine_hardware.go)
	ConfigServer string        `json:"config_server,omitempty"`
	Protected    bool          `json:"protected"`
	// Agent: a mobility agent is registered for the machine. Source is physical or vcenter
	// ("agent" from older configuration servers is stored as physical with Agent).
	Agent bool `json:"agent"`
	// Discovered in vCenter (source vcenter); see vcenters.go.
	VCenter      string   `json:"vcenter,omitempty"`
	VMName       string   `json:"vm_name,omitempty"`
	InstanceUUID string   `json:"instance_uuid,omitempty"`
	GuestOS      string   `json:"guest_os,omitempty"`
	PowerState   string   `json:"power_state,omitempty"`
	Host         string   `json:"host,omitempty"`
	Cluster      string   `json:"cluster,omitempty"`
	Datacenter   string   `json:"datacenter,omitempty"`
	Datastores   []string `json:"datastores,omitempty"`
	// Push is the outcome of the last automatic push of the mobility service (vcenters_ops.go).
	Push *PushResult `json:"push,omitempty"`
}

// MachineDisk is a disk of a machine.
type MachineDisk struct {
	Name      string `json:"name"`
	SizeBytes int64  `json:"size_bytes"`
	Datastore string `json:"datastore,omitempty"` // VM disks
	File      string `json:"file,omitempty"`
	Thin      bool   `json:"thin,omitempty"`
}

// Inventory is the body of PUT /cs/inventory.
type Inventory struct {
	Machines []Machine       `json:"machines"`
	VCenters []VCenterReport `json:"vcenters,omitempty"` // vcenters.go
}

// ConfigServerInventory replaces the configuration server's inventory. A machine name already
// in the inventory of another configuration server of the vault is refused.
func (s *Service) ConfigServerInventory(ctx context.Context, inv Inventory) error {
	a := actorOf(ctx)
	seen := map[string]bool{}
	for i, m := range inv.Machines {
		if err := checkName("machine", m.Name); err != nil {
			return err
		}
		if seen[m.Name] {
			return badRequest("machine %s is listed twice", m.Name)
		}
		seen[m.Name] = true
		if err := checkSource(&inv.Machines[i]); err != nil {
			return err
		}
	}
	now := ns(s.clock.Now())
	return s.db.InTx(ctx, func(tx *dbTx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM machines WHERE config_server_id = ?`, a.ConfigServer); err != nil {
			return err
		}
		if err := s.recordVCenters(ctx, tx, a, inv.VCenters); err != nil {
			return err
		}
		for _, m := range inv.Machines {
			var other string
			err := tx.QueryRow(ctx, `SELECT c.name FROM machines m JOIN config_servers c ON c.id = m.config_server_id WHERE m.vault_id = ? AND m.name = ?`, a.VaultID, m.Name).Scan(&other)
			if err == nil {
				return conflict("machine %s is already in the inventory of configuration server %s", m.Name, other)
			}
			m.ConfigServer, m.Protected = "", false
			detail, _ := json.Marshal(m)
			_, err = tx.Exec(ctx, `INSERT INTO machines (vault_id, name, config_server_id, hostname, os, source, detail, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				a.VaultID, m.Name, a.ConfigServer, m.Hostname, m.OS, m.Source, string(detail), now)
			if db.IsUniqueViolation(err) {
				return conflict("machine %s is already in the inventory of another configuration server", m.Name)
			}
			if err != nil {
				return err
			}
			if err := s.recordPush(ctx, tx, a, m); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListMachines returns the machines of all configuration servers of a vault.
func (s *Service) ListMachines(ctx context.Context, vault string) ([]Machine, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT m.detail, c.name, (SELECT COUNT(*) FROM protected_items i WHERE i.vault_id = m.vault_id AND i.machine = m.name) FROM machines m JOIN config_servers c ON c.id = m.config_server_id WHERE m.vault_id = ? ORDER BY m.name`, v.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Machine{}
	for rows.Next() {
		var detail, cs string
		var n int
		if err := rows.Scan(&detail, &cs, &n); err != nil {
			return nil, err
		}
		var m Machine
		if err := json.Unmarshal([]byte(detail), &m); err != nil {
			return nil, err
		}
		m.ConfigServer, m.Protected = cs, n > 0
		out = append(out, m)
	}
	return out, rows.Err()
}

// DesiredState is what a configuration server should be replicating.
type DesiredState struct {
	Version int64         `json:"version"`
	VaultID string        `json:"vault_id"`
	Storage StorageAccess `json:"storage"`
	Items   []DesiredItem `json:"items"`
	// VCenters are the pending vCenter requests of the API (vcenters.go).
	VCenters []DesiredVCenter `json:"vcenters,omitempty"`
}

// StorageAccess is where process servers upload, and the replica store's password.
type StorageAccess struct {
	URL      string `json:"url"`
	Password string `json:"password"` // base64
}

// DesiredItem is one machine to replicate.
type DesiredItem struct {
	Machine       string        `json:"machine"`
	ProcessServer string        `json:"process_server"`
	Policy        PolicyCadence `json:"policy"`
}

// PolicyCadence is the part of a policy agents and process servers act on.
type PolicyCadence struct {
	Name                   string `json:"name"`
	RPOThresholdSeconds    int64  `json:"rpo_threshold_seconds"`
	RetentionSeconds       int64  `json:"retention_seconds"`
	AppConsistentSeconds   int64  `json:"app_consistent_frequency_seconds"`
	CrashConsistentSeconds int64  `json:"crash_consistent_frequency_seconds"`
}

// ConfigServerDesiredState returns the protected items a configuration server drives.
func (s *Service) ConfigServerDesiredState(ctx context.Context) (*DesiredState, error) {
	a := actorOf(ctx)
	ds := &DesiredState{VaultID: a.VaultID, Items: []DesiredItem{}}
	if err := s.db.QueryRow(ctx, `SELECT desired_version, storage_url FROM vaults WHERE id = ?`, a.VaultID).Scan(&ds.Version, &ds.Storage.URL); err != nil {
		return nil, err
	}
	pw, err := s.storePassword(ctx, a.VaultID)
	if err != nil {
		return nil, err
	}
	ds.Storage.Password = base64.StdEncoding.EncodeToString(pw)
	if ds.VCenters, err = s.desiredVCenters(ctx, a); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT i.machine, i.process_server, p.name, p.rpo_threshold_s, p.retention_s, p.app_consistent_s, p.crash_consistent_s
		FROM protected_items i JOIN policies p ON p.id = i.policy_id WHERE i.vault_id = ? AND i.config_server_id = ? AND i.state IN (?, ?, ?, ?, ?) ORDER BY i.machine`,
		a.VaultID, a.ConfigServer, StateEnabling, StateInitialReplication, StateProtected, StateResynchronising, StateError)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var d DesiredItem
		if err := rows.Scan(&d.Machine, &d.ProcessServer, &d.Policy.Name, &d.Policy.RPOThresholdSeconds, &d.Policy.RetentionSeconds, &d.Policy.AppConsistentSeconds, &d.Policy.CrashConsistentSeconds); err != nil {
			return nil, err
		}
		ds.Items = append(ds.Items, d)
	}
	return ds, rows.Err()
}
