package vault

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/opensiterecovery/osr/internal/pki"
)

// ConfigServer is a registered configuration server and what its last heartbeat said.
type ConfigServer struct {
	ID            string     `json:"id"`
	VaultID       string     `json:"vault_id"`
	Name          string     `json:"name"`
	Hostname      string     `json:"hostname"`
	Registered    time.Time  `json:"registered"`
	LastHeartbeat *time.Time `json:"last_heartbeat"`
	Status        string     `json:"status"` // connected, disconnected
	Heartbeat     Heartbeat  `json:"heartbeat"`
}

// Heartbeat is the body of POST /cs/heartbeat (docs/control-plane.md).
type Heartbeat struct {
	Time           time.Time     `json:"time"`
	ProcessServers []PSHealth    `json:"process_servers"`
	Agents         []AgentStatus `json:"agents"`
	Items          []ItemReport  `json:"items"`
}

// PSHealth is a process server's health as the configuration server summarises it.
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

// AgentStatus is a mobility agent's heartbeat as the configuration server saw it.
type AgentStatus struct {
	Machine       string    `json:"machine"`
	ProcessServer string    `json:"process_server"`
	LastSeen      time.Time `json:"last_seen"`
	Version       string    `json:"version"`
}

// ItemReport is the replication state of one protected item.
type ItemReport struct {
	Machine        string     `json:"machine"`
	State          string     `json:"state"`
	InitialPercent float64    `json:"initial_percent"`
	LastPointTime  *time.Time `json:"last_point_time"`
	LastPointID    string     `json:"last_point_id"`
	Error          string     `json:"error"`
}

// csDisconnectedAfter is how long without a heartbeat a configuration server stays connected.
const csDisconnectedAfter = 3 * time.Minute

func (s *Service) scanConfigServer(sc interface{ Scan(...any) error }) (*ConfigServer, error) {
	var c ConfigServer
	var reg, hb int64
	var hbJSON string
	if err := sc.Scan(&c.ID, &c.VaultID, &c.Name, &c.Hostname, &reg, &hb, &hbJSON); err != nil {
		return nil, err
	}
	c.Registered, c.LastHeartbeat = fromNS(reg), timePtr(fromNS(hb))
	json.Unmarshal([]byte(hbJSON), &c.Heartbeat)
	c.Status = "disconnected"
	if hb != 0 && s.clock.Now().Sub(fromNS(hb)) < csDisconnectedAfter {
		c.Status = "connected"
	}
	return &c, nil
}

const csCols = `id, vault_id, name, hostname, registered, last_heartbeat, heartbeat`

// ListConfigServers returns the configuration servers of a vault by name.
func (s *Service) ListConfigServers(ctx context.Context, vault string) ([]*ConfigServer, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+csCols+` FROM config_servers WHERE vault_id = ? ORDER BY name`, v.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*ConfigServer{}
	for rows.Next() {
		c, err := s.scanConfigServer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Service) configServer(ctx context.Context, vaultID, name string) (*ConfigServer, error) {
	c, err := s.scanConfigServer(s.db.QueryRow(ctx, `SELECT `+csCols+` FROM config_servers WHERE vault_id = ? AND (name = ? OR id = ?)`, vaultID, name, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("configuration server %s does not exist", name)
	}
	return c, err
}

// authenticateConfigServer maps a verified client chain (leaf, intermediate, root) to a
// registered configuration server: the intermediate must be one this vault issued, and the leaf
// must carry the config-server role.
func (s *Service) authenticateConfigServer(ctx context.Context, chains [][]*x509.Certificate) (Actor, error) {
	for _, ch := range chains {
		if len(ch) != 3 || !ch[2].Equal(s.ca.root) {
			continue
		}
		var id, vaultID string
		err := s.db.QueryRow(ctx, `SELECT id, vault_id FROM config_servers WHERE ca_sha256 = ?`, pki.CertSHA256(ch[1])).Scan(&id, &vaultID)
		if errors.Is(err, sql.ErrNoRows) {
			return Actor{}, errf(http.StatusUnauthorized, "client certificate is not from a registered configuration server")
		}
		if err != nil {
			return Actor{}, err
		}
		if certRole(ch[0]) != "config-server" {
			return Actor{}, errf(http.StatusForbidden, "client certificate has role %q, this endpoint needs config-server", certRole(ch[0]))
		}
		return Actor{ConfigServer: id, VaultID: vaultID}, nil
	}
	return Actor{}, errf(http.StatusUnauthorized, "this endpoint needs a configuration server client certificate")
}

// certRole reads the role from a certificate (internal/pki's URI SAN osr:ROLE/NAME).
func certRole(c *x509.Certificate) string {
	role, _, err := pki.Holder(c)
	if err != nil {
		return ""
	}
	return string(role)
}

// RemoveConfigServer unregisters a configuration server: its certificates stop working at once,
// its inventory goes. Refused while machines of its inventory are protected.
func (s *Service) RemoveConfigServer(ctx context.Context, vault, name string) error {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return err
	}
	cs, err := s.configServer(ctx, v.ID, name)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *dbTx) error {
		if err := bumpDesired(ctx, tx, v.ID); err != nil { // locks the vault row against enables
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM protected_items WHERE config_server_id = ?`, cs.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict("configuration server %s still drives %d protected items: disable their replication first", cs.Name, n)
		}
		for _, q := range []string{
			`DELETE FROM machines WHERE config_server_id = ?`,
			`DELETE FROM policy_associations WHERE config_server_id = ?`,
			`DELETE FROM config_servers WHERE id = ?`,
		} {
			if _, err := tx.Exec(ctx, q, cs.ID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE alerts SET cleared = ? WHERE vault_id = ? AND cleared = 0 AND (subject = ? OR subject LIKE ?)`, ns(s.clock.Now()), v.ID, "cs/"+cs.Name, "ps/"+cs.Name+"/%"); err != nil {
			return err
		}
		if err := s.event(ctx, tx, v.ID, "info", "config-server-removed", cs.Name, "configuration server "+cs.Name+" removed"); err != nil {
			return err
		}
		return s.audit(ctx, tx, "config-server.remove", v.Name+"/"+cs.Name, cs.ID)
	})
}
