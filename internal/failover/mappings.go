package failover

import (
	"context"
	"database/sql"
	"errors"
	"net/netip"
	"time"

	"github.com/opensiterecovery/osr/internal/vault/db"
)

// IP modes of a NIC on the target.
const (
	IPKeep   = "keep"   // the address the source had
	IPDHCP   = "dhcp"   // from the target network's DHCP
	IPStatic = "static" // an address given for the NIC
)

// NetworkMapping maps a source network to the networks failed-over machines attach to.
type NetworkMapping struct {
	SourceNetwork string `json:"source_network"`
	TargetNetwork string `json:"target_network"` // failover
	TestNetwork   string `json:"test_network"`   // test failover
	// IPMode is the default of NICs on the network: keep or dhcp (static needs an address per
	// NIC: see NICSetting).
	IPMode  string    `json:"ip_mode"`
	Created time.Time `json:"created"`
}

// AddMappingRequest is the body of POST /vaults/{vault}/network-mappings.
type AddMappingRequest struct {
	SourceNetwork string `json:"source_network"`
	TargetNetwork string `json:"target_network"`
	TestNetwork   string `json:"test_network"`
	IPMode        string `json:"ip_mode"` // default keep
}

// AddMapping maps a source network of a vault (409 when it is mapped already).
func (s *Service) AddMapping(ctx context.Context, vaultName string, req AddMappingRequest) (*NetworkMapping, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	if err := checkNetwork("source_network", req.SourceNetwork); err != nil {
		return nil, err
	}
	if err := checkNetwork("target_network", req.TargetNetwork); err != nil {
		return nil, err
	}
	if req.TestNetwork == "" {
		return nil, badRequest("test_network is required: test failovers go to an isolated network")
	}
	if err := checkNetwork("test_network", req.TestNetwork); err != nil {
		return nil, err
	}
	if req.TestNetwork == req.TargetNetwork {
		return nil, badRequest("test_network must differ from target_network: a test failover must not reach production")
	}
	if req.IPMode == "" {
		req.IPMode = IPKeep
	}
	if req.IPMode != IPKeep && req.IPMode != IPDHCP {
		return nil, badRequest("ip_mode %q is not keep or dhcp (static addresses are set per NIC)", req.IPMode)
	}
	m := &NetworkMapping{SourceNetwork: req.SourceNetwork, TargetNetwork: req.TargetNetwork, TestNetwork: req.TestNetwork, IPMode: req.IPMode, Created: s.clock.Now().UTC()}
	err = s.v.DB().InTx(ctx, func(tx *db.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM network_mappings WHERE vault_id = ? AND source_network = ?`, v.ID, m.SourceNetwork).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict("network %s is mapped already: remove its mapping first", m.SourceNetwork)
		}
		_, err := tx.Exec(ctx, `INSERT INTO network_mappings (vault_id, source_network, target_network, test_network, ip_mode, created) VALUES (?, ?, ?, ?, ?, ?)`,
			v.ID, m.SourceNetwork, m.TargetNetwork, m.TestNetwork, m.IPMode, ns(m.Created))
		if db.IsUniqueViolation(err) {
			return conflict("network %s is mapped already: remove its mapping first", m.SourceNetwork)
		}
		if err != nil {
			return err
		}
		return s.v.AddAudit(ctx, tx, "network-mapping.add", v.Name+"/"+m.SourceNetwork, "target "+m.TargetNetwork+", test "+m.TestNetwork+", ip "+m.IPMode)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ListMappings returns a vault's network mappings by source network.
func (s *Service) ListMappings(ctx context.Context, vaultName string) ([]NetworkMapping, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	return s.mappings(ctx, v.ID)
}

func (s *Service) mappings(ctx context.Context, vaultID string) ([]NetworkMapping, error) {
	rows, err := s.v.DB().Query(ctx, `SELECT source_network, target_network, test_network, ip_mode, created FROM network_mappings WHERE vault_id = ? ORDER BY source_network`, vaultID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []NetworkMapping{}
	for rows.Next() {
		var m NetworkMapping
		var c int64
		if err := rows.Scan(&m.SourceNetwork, &m.TargetNetwork, &m.TestNetwork, &m.IPMode, &c); err != nil {
			return nil, err
		}
		m.Created = fromNS(c)
		out = append(out, m)
	}
	return out, rows.Err()
}

// RemoveMapping removes the mapping of a source network.
func (s *Service) RemoveMapping(ctx context.Context, vaultName, source string) error {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return err
	}
	return s.v.DB().InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM network_mappings WHERE vault_id = ? AND source_network = ?`, v.ID, source)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("network %s is not mapped", source)
		}
		return s.v.AddAudit(ctx, tx, "network-mapping.remove", v.Name+"/"+source, "")
	})
}

// NICSetting is the IP setting of one NIC of a protected machine on the target.
type NICSetting struct {
	NIC     string    `json:"nic"`
	IPMode  string    `json:"ip_mode"`           // keep, dhcp or static
	Address string    `json:"address,omitempty"` // CIDR, static only
	Gateway string    `json:"gateway,omitempty"` // static only, optional
	Updated time.Time `json:"updated"`
}

// SetNICRequest is the body of PUT /vaults/{vault}/protected-items/{machine}/nics/{nic}.
type SetNICRequest struct {
	IPMode  string `json:"ip_mode"`
	Address string `json:"address"`
	Gateway string `json:"gateway"`
}

// SetNIC sets how a NIC of a protected machine gets its address on the target (the machine must
// be protected; the NIC need not be known yet).
func (s *Service) SetNIC(ctx context.Context, vaultName, machine, nic string, req SetNICRequest) (*NICSetting, error) {
	v, err := s.v.GetVault(ctx, vaultName)
	if err != nil {
		return nil, err
	}
	if _, err := s.v.GetItem(ctx, v.ID, machine); err != nil {
		return nil, err
	}
	if !nicName.MatchString(nic) {
		return nil, badRequest("nic name %q is not valid", nic)
	}
	set := &NICSetting{NIC: nic, IPMode: req.IPMode, Address: req.Address, Gateway: req.Gateway, Updated: s.clock.Now().UTC()}
	switch req.IPMode {
	case IPKeep, IPDHCP:
		if req.Address != "" || req.Gateway != "" {
			return nil, badRequest("address and gateway apply to ip_mode static only")
		}
	case IPStatic:
		pfx, err := netip.ParsePrefix(req.Address)
		if err != nil {
			return nil, badRequest("address %q is not an address with its prefix length (CIDR, for example 10.1.0.5/24)", req.Address)
		}
		if req.Gateway != "" {
			gw, err := netip.ParseAddr(req.Gateway)
			if err != nil {
				return nil, badRequest("gateway %q is not an IP address", req.Gateway)
			}
			if !pfx.Masked().Contains(gw) {
				return nil, badRequest("gateway %s is not in %s", req.Gateway, pfx.Masked())
			}
		}
	default:
		return nil, badRequest("ip_mode %q is not keep, dhcp or static", req.IPMode)
	}
	err = s.v.DB().InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM failover_nics WHERE vault_id = ? AND machine = ? AND nic = ?`, v.ID, machine, nic); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO failover_nics (vault_id, machine, nic, ip_mode, address, gateway, updated) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			v.ID, machine, nic, set.IPMode, set.Address, set.Gateway, ns(set.Updated)); err != nil {
			return err
		}
		return s.v.AddAudit(ctx, tx, "failover.nic", v.Name+"/"+machine+"/"+nic, set.IPMode+" "+set.Address)
	})
	if err != nil {
		return nil, err
	}
	return set, nil
}

// nicSettings returns a machine's NIC settings by NIC name.
func (s *Service) nicSettings(ctx context.Context, vaultID, machine string) (map[string]NICSetting, error) {
	rows, err := s.v.DB().Query(ctx, `SELECT nic, ip_mode, address, gateway, updated FROM failover_nics WHERE vault_id = ? AND machine = ?`, vaultID, machine)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]NICSetting{}
	for rows.Next() {
		var n NICSetting
		var u int64
		if err := rows.Scan(&n.NIC, &n.IPMode, &n.Address, &n.Gateway, &u); err != nil {
			return nil, err
		}
		n.Updated = fromNS(u)
		out[n.NIC] = n
	}
	return out, rows.Err()
}

var errNoRows = sql.ErrNoRows

func isNoRows(err error) bool { return errors.Is(err, errNoRows) }
