package vault

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/vault/db"
)

// VCenter statuses as configuration servers report them.
const (
	VCenterUnknown      = "Unknown"
	VCenterConnected    = "Connected"
	VCenterDisconnected = "Disconnected"
)

// VCenterReport is one vCenter in a configuration server's inventory (PUT /cs/inventory).
type VCenterReport struct {
	Name        string     `json:"name"`
	Address     string     `json:"address"`
	Port        int        `json:"port"`
	Account     string     `json:"account"`
	Thumbprint  string     `json:"thumbprint,omitempty"`
	Status      string     `json:"status"`
	Error       string     `json:"error,omitempty"`
	About       string     `json:"about,omitempty"`
	LastAttempt *time.Time `json:"last_attempt,omitempty"`
	LastSync    *time.Time `json:"last_sync,omitempty"`
	VMs         int        `json:"vms"`
	Refreshed   int64      `json:"refreshed"`
}

// VCenterView is a vCenter as GET /vaults/{vault}/vcenters lists it: what its configuration
// server last reported, and the request of the API still pending (add, refresh, remove).
type VCenterView struct {
	Name         string     `json:"name"`
	ConfigServer string     `json:"config_server"`
	Address      string     `json:"address"`
	Port         int        `json:"port"`
	Account      string     `json:"account"`
	Thumbprint   string     `json:"thumbprint"`
	Status       string     `json:"status"`
	Error        string     `json:"error"`
	About        string     `json:"about"`
	LastAttempt  *time.Time `json:"last_attempt"`
	LastSync     *time.Time `json:"last_sync"`
	VMs          int        `json:"vms"`
	Pending      string     `json:"pending"` // "", add, refresh, remove
}

// AddVCenterRequest is the body of POST /vaults/{vault}/vcenters.
type AddVCenterRequest struct {
	Name         string `json:"name"`
	Address      string `json:"address"`
	Port         int    `json:"port"`    // default 443
	Account      string `json:"account"` // a vcenter account of the configuration server, by name
	Thumbprint   string `json:"thumbprint"`
	ConfigServer string `json:"config_server"` // default: the vault's only configuration server
}

// DesiredVCenter is one vCenter request in a configuration server's desired state.
type DesiredVCenter struct {
	Name       string `json:"name"`
	Action     string `json:"action"` // add, refresh, remove
	Address    string `json:"address,omitempty"`
	Port       int    `json:"port,omitempty"`
	Account    string `json:"account,omitempty"`
	Thumbprint string `json:"thumbprint,omitempty"`
	Refresh    int64  `json:"refresh"`
}

var (
	vcenterNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	hexRE         = regexp.MustCompile(`^[0-9A-F]{64}$`)
)

func checkVCenterName(n string) error {
	if !vcenterNameRE.MatchString(n) {
		return badRequest("vcenter name %q is not valid: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", n)
	}
	return nil
}

func checkAddress(a string) error {
	if a == "" || len(a) > 253 || strings.ContainsAny(a, " /\\@[]") || strings.Count(a, ":") == 1 {
		return badRequest("address %q is not valid: want an IP address or a host name", a)
	}
	for _, r := range a {
		if r < 0x21 || r > 0x7e {
			return badRequest("address %q is not valid: want an IP address or a host name", a)
		}
	}
	return nil
}

// normalizeThumbprint returns a SHA-256 thumbprint as "AB:CD:..." (empty stays empty).
func normalizeThumbprint(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	h := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if !hexRE.MatchString(h) {
		return "", badRequest("thumbprint %q is not valid: want the 64 hex digits of a SHA-256 thumbprint", s)
	}
	var b strings.Builder
	for i := 0; i < 64; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String(), nil
}

type vcenterRow struct {
	name, csID, csName, address, account, thumbprint, action string
	port, refresh                                            int64
	reported                                                 *VCenterReport
}

const vcenterCols = `v.name, v.config_server_id, c.name, v.address, v.port, v.account, v.thumbprint, v.action, v.refresh, v.reported`

func scanVCenter(sc interface{ Scan(...any) error }) (*vcenterRow, error) {
	var r vcenterRow
	var rep string
	if err := sc.Scan(&r.name, &r.csID, &r.csName, &r.address, &r.port, &r.account, &r.thumbprint, &r.action, &r.refresh, &rep); err != nil {
		return nil, err
	}
	if rep != "" {
		r.reported = &VCenterReport{}
		if err := json.Unmarshal([]byte(rep), r.reported); err != nil {
			return nil, fmt.Errorf("vcenter %s: stored report: %w", r.name, err)
		}
	}
	return &r, nil
}

func (r *vcenterRow) view() VCenterView {
	v := VCenterView{Name: r.name, ConfigServer: r.csName, Address: r.address, Port: int(r.port), Account: r.account,
		Thumbprint: r.thumbprint, Status: VCenterUnknown, Pending: r.pending()}
	if p := r.reported; p != nil {
		v.Address, v.Port, v.Account, v.Thumbprint = p.Address, p.Port, p.Account, p.Thumbprint
		v.Status, v.Error, v.About, v.LastAttempt, v.LastSync, v.VMs = p.Status, p.Error, p.About, p.LastAttempt, p.LastSync, p.VMs
	}
	return v
}

// pending is the request still to be carried out.
func (r *vcenterRow) pending() string {
	switch {
	case r.action != "":
		return r.action
	case r.reported != nil && r.refresh > r.reported.Refreshed:
		return "refresh"
	}
	return ""
}

// ListVCenters returns the vCenters of every configuration server of a vault, by name.
func (s *Service) ListVCenters(ctx context.Context, vault string) ([]VCenterView, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+vcenterCols+` FROM vcenters v JOIN config_servers c ON c.id = v.config_server_id WHERE v.vault_id = ? ORDER BY v.name`, v.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []VCenterView{}
	for rows.Next() {
		r, err := scanVCenter(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r.view())
	}
	return out, rows.Err()
}

// GetVCenter returns one vCenter of a vault.
func (s *Service) GetVCenter(ctx context.Context, vault, name string) (*VCenterView, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	r, err := s.vcenter(ctx, s.db, v.ID, v.Name, name)
	if err != nil {
		return nil, err
	}
	view := r.view()
	return &view, nil
}

type querier interface {
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
}

func (s *Service) vcenter(ctx context.Context, q querier, vaultID, vaultName, name string) (*vcenterRow, error) {
	r, err := scanVCenter(q.QueryRow(ctx, `SELECT `+vcenterCols+` FROM vcenters v JOIN config_servers c ON c.id = v.config_server_id WHERE v.vault_id = ? AND v.name = ?`, vaultID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("vcenter %s does not exist in vault %s", name, vaultName)
	}
	return r, err
}

var _ querier = (*db.DB)(nil)

// checkSource checks a machine's source and stores "agent" (older configuration servers) as
// physical with an agent.
func checkSource(m *Machine) error {
	switch m.Source {
	case "agent":
		m.Source, m.Agent = "physical", true
	case "physical":
	case "vcenter":
		if m.VCenter == "" {
			return badRequest("machine %s: source vcenter needs the vcenter's name", m.Name)
		}
	default:
		return badRequest("machine %s: source %q is not physical, vcenter or agent", m.Name, m.Source)
	}
	return nil
}
