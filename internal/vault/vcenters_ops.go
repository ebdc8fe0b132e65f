package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/vault/db"
)

// AddVCenter asks a configuration server to add a vCenter and discover its machines. The account
// is named only: its credentials stay on the configuration server. The request reaches the
// configuration server with its desired state; until it reports the vCenter, the vCenter is listed
// with status Unknown and pending "add".
func (s *Service) AddVCenter(ctx context.Context, vault string, req AddVCenterRequest) (*VCenterView, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	if err := checkVCenterName(req.Name); err != nil {
		return nil, err
	}
	if err := checkAddress(req.Address); err != nil {
		return nil, err
	}
	if req.Port == 0 {
		req.Port = 443
	}
	if req.Port < 1 || req.Port > 65535 {
		return nil, badRequest("port must be between 1 and 65535, got %d", req.Port)
	}
	if req.Account == "" {
		return nil, badRequest("account is required: the name of a vcenter account of the configuration server (osr account add --type vcenter)")
	}
	if !vcenterNameRE.MatchString(req.Account) {
		return nil, badRequest("account name %q is not valid", req.Account)
	}
	tp, err := normalizeThumbprint(req.Thumbprint)
	if err != nil {
		return nil, err
	}
	csID, csName, err := s.pickConfigServer(ctx, v, req.ConfigServer)
	if err != nil {
		return nil, err
	}
	now := ns(s.clock.Now())
	err = s.db.InTx(ctx, func(tx *dbTx) error {
		if err := bumpDesired(ctx, tx, v.ID); err != nil { // first: it locks the vault row
			return err
		}
		if o, err := s.vcenter(ctx, tx, v.ID, v.Name, req.Name); err == nil {
			return conflict("vcenter %s already exists (configuration server %s)", req.Name, o.csName)
		}
		rows, err := tx.Query(ctx, `SELECT `+vcenterCols+` FROM vcenters v JOIN config_servers c ON c.id = v.config_server_id WHERE v.vault_id = ? AND v.config_server_id = ?`, v.ID, csID)
		if err != nil {
			return err
		}
		for rows.Next() {
			o, err := scanVCenter(rows)
			if err != nil {
				rows.Close()
				return err
			}
			ov := o.view()
			if strings.EqualFold(ov.Address, req.Address) && ov.Port == req.Port {
				rows.Close()
				return conflict("vcenter %s: %s:%d is already added as %s", req.Name, req.Address, req.Port, o.name)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO vcenters (vault_id, name, config_server_id, address, port, account, thumbprint, action, refresh, reported, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, 'add', 0, '', ?, ?)`,
			v.ID, req.Name, csID, req.Address, req.Port, req.Account, tp, now, now)
		if db.IsUniqueViolation(err) {
			return conflict("vcenter %s already exists", req.Name)
		}
		if err != nil {
			return err
		}
		if err := s.event(ctx, tx, v.ID, "info", "vcenter-added", req.Name, fmt.Sprintf("vCenter %s (%s:%d) added to configuration server %s", req.Name, req.Address, req.Port, csName)); err != nil {
			return err
		}
		return s.audit(ctx, tx, "vcenter.add", v.Name+"/"+req.Name, fmt.Sprintf("%s:%d account %s on %s", req.Address, req.Port, req.Account, csName))
	})
	if err != nil {
		return nil, err
	}
	return s.GetVCenter(ctx, v.Name, req.Name)
}

// pickConfigServer finds the configuration server by name, or the vault's only one.
func (s *Service) pickConfigServer(ctx context.Context, v *Vault, name string) (id, csName string, err error) {
	if name != "" {
		c, err := s.configServer(ctx, v.ID, name)
		if err != nil {
			return "", "", err
		}
		return c.ID, c.Name, nil
	}
	cs, err := s.ListConfigServers(ctx, v.Name)
	if err != nil {
		return "", "", err
	}
	switch len(cs) {
	case 0:
		return "", "", conflict("vault %s has no configuration server: register one first", v.Name)
	case 1:
		return cs[0].ID, cs[0].Name, nil
	}
	return "", "", badRequest("config_server is required: vault %s has %d configuration servers", v.Name, len(cs))
}

// RefreshVCenter asks the vCenter's configuration server to discover its machines now.
func (s *Service) RefreshVCenter(ctx context.Context, vault, name string) (*VCenterView, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	err = s.db.InTx(ctx, func(tx *dbTx) error {
		if err := bumpDesired(ctx, tx, v.ID); err != nil {
			return err
		}
		r, err := s.vcenter(ctx, tx, v.ID, v.Name, name)
		if err != nil {
			return err
		}
		if r.action == "remove" {
			return conflict("vcenter %s is being removed", name)
		}
		next := r.refresh + 1
		if r.reported != nil && r.reported.Refreshed >= next {
			next = r.reported.Refreshed + 1
		}
		if _, err := tx.Exec(ctx, `UPDATE vcenters SET refresh = ?, updated = ? WHERE vault_id = ? AND name = ?`, next, ns(s.clock.Now()), v.ID, name); err != nil {
			return err
		}
		return s.audit(ctx, tx, "vcenter.refresh", v.Name+"/"+name, "")
	})
	if err != nil {
		return nil, err
	}
	return s.GetVCenter(ctx, v.Name, name)
}

// RemoveVCenter asks the vCenter's configuration server to forget it and the machines discovered
// through it. It answers the vCenter with pending "remove" until the configuration server no
// longer reports it, or nil when it was never reported (then it is gone at once).
func (s *Service) RemoveVCenter(ctx context.Context, vault, name string) (*VCenterView, error) {
	v, err := s.vaultByName(ctx, vault)
	if err != nil {
		return nil, err
	}
	gone := false
	err = s.db.InTx(ctx, func(tx *dbTx) error {
		if err := bumpDesired(ctx, tx, v.ID); err != nil {
			return err
		}
		r, err := s.vcenter(ctx, tx, v.ID, v.Name, name)
		if err != nil {
			return err
		}
		if r.reported == nil {
			gone = true
			_, err = tx.Exec(ctx, `DELETE FROM vcenters WHERE vault_id = ? AND name = ?`, v.ID, name)
		} else {
			_, err = tx.Exec(ctx, `UPDATE vcenters SET action = 'remove', updated = ? WHERE vault_id = ? AND name = ?`, ns(s.clock.Now()), v.ID, name)
		}
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, "vcenter.remove", v.Name+"/"+name, "")
	})
	if err != nil || gone {
		return nil, err
	}
	return s.GetVCenter(ctx, v.Name, name)
}

func (r *VCenterReport) validate() error {
	if !vcenterNameRE.MatchString(r.Name) {
		return badRequest("vcenter name %q is not valid", r.Name)
	}
	switch r.Status {
	case VCenterUnknown, VCenterConnected, VCenterDisconnected:
	default:
		return badRequest("vcenter %s: status %q is not Unknown, Connected or Disconnected", r.Name, r.Status)
	}
	if r.Port < 1 || r.Port > 65535 || r.VMs < 0 || r.Refreshed < 0 {
		return badRequest("vcenter %s: port, vms or refreshed out of range", r.Name)
	}
	if len(r.Error) > 4096 || len(r.About) > 1024 || len(r.Address) > 253 || len(r.Account) > 256 || len(r.Thumbprint) > 95 {
		return badRequest("vcenter %s: a field is too long", r.Name)
	}
	return nil
}

// recordVCenters replaces what the vault knows of the configuration server's vCenters with its
// report (inside the inventory's transaction): a reported vCenter is stored (a pending add is done
// once its first sync was tried: status other than Unknown), one not reported is deleted unless
// its add is still pending. Status changes are events.
func (s *Service) recordVCenters(ctx context.Context, tx *dbTx, a Actor, reports []VCenterReport) error {
	seen := map[string]bool{}
	for _, r := range reports {
		if err := r.validate(); err != nil {
			return err
		}
		if seen[r.Name] {
			return badRequest("vcenter %s is listed twice", r.Name)
		}
		seen[r.Name] = true
	}
	rows, err := tx.Query(ctx, `SELECT `+vcenterCols+` FROM vcenters v JOIN config_servers c ON c.id = v.config_server_id WHERE v.vault_id = ?`, a.VaultID)
	if err != nil {
		return err
	}
	known := map[string]*vcenterRow{}
	for rows.Next() {
		r, err := scanVCenter(rows)
		if err != nil {
			rows.Close()
			return err
		}
		known[r.name] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	now := ns(s.clock.Now())
	for _, r := range reports {
		b, _ := json.Marshal(r)
		old := known[r.Name]
		switch {
		case old == nil:
			if _, err := tx.Exec(ctx, `INSERT INTO vcenters (vault_id, name, config_server_id, address, port, account, thumbprint, action, refresh, reported, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?)`,
				a.VaultID, r.Name, a.ConfigServer, r.Address, r.Port, r.Account, r.Thumbprint, r.Refreshed, string(b), now, now); err != nil {
				return err
			}
		case old.csID != a.ConfigServer:
			return conflict("vcenter %s is already in the inventory of configuration server %s", r.Name, old.csName)
		default:
			action := old.action
			if action == "add" && r.Status != VCenterUnknown { // added and synced once: done
				action = ""
			}
			if _, err := tx.Exec(ctx, `UPDATE vcenters SET address = ?, port = ?, account = ?, thumbprint = ?, action = ?, reported = ?, updated = ? WHERE vault_id = ? AND name = ?`,
				r.Address, r.Port, r.Account, r.Thumbprint, action, string(b), now, a.VaultID, r.Name); err != nil {
				return err
			}
		}
		prev := VCenterUnknown
		if old != nil && old.reported != nil {
			prev = old.reported.Status
		}
		if r.Status != prev && r.Status != VCenterUnknown {
			sev, msg := "info", fmt.Sprintf("vCenter %s: %s → %s", r.Name, prev, r.Status)
			if r.Status == VCenterDisconnected {
				sev, msg = "warning", msg+": "+r.Error
			}
			if err := s.event(ctx, tx, a.VaultID, sev, "vcenter-status", r.Name, msg); err != nil {
				return err
			}
		}
	}
	for name, old := range known {
		if old.csID != a.ConfigServer || seen[name] || old.action == "add" {
			continue
		}
		if _, err := tx.Exec(ctx, `DELETE FROM vcenters WHERE vault_id = ? AND name = ?`, a.VaultID, name); err != nil {
			return err
		}
		if err := s.event(ctx, tx, a.VaultID, "info", "vcenter-removed", name, "vCenter "+name+" removed"); err != nil {
			return err
		}
	}
	return nil
}

// desiredVCenters are the pending requests of a configuration server's vCenters.
func (s *Service) desiredVCenters(ctx context.Context, a Actor) ([]DesiredVCenter, error) {
	rows, err := s.db.Query(ctx, `SELECT `+vcenterCols+` FROM vcenters v JOIN config_servers c ON c.id = v.config_server_id WHERE v.vault_id = ? AND v.config_server_id = ? ORDER BY v.name`, a.VaultID, a.ConfigServer)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DesiredVCenter
	for rows.Next() {
		r, err := scanVCenter(rows)
		if err != nil {
			return nil, err
		}
		p := r.pending()
		if p == "" {
			continue
		}
		d := DesiredVCenter{Name: r.name, Action: p, Refresh: r.refresh}
		if p == "add" {
			d.Address, d.Port, d.Account, d.Thumbprint = r.address, int(r.port), r.account, r.thumbprint
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *Service) vcenterRoutes() []Route {
	return []Route{
		{"GET", "/vaults/{vault}/vcenters", permRead, func(ctx context.Context, r *http.Request) (int, any, error) {
			return ok(s.ListVCenters(ctx, r.PathValue("vault")))
		}},
		{"POST", "/vaults/{vault}/vcenters", permWrite, func(ctx context.Context, r *http.Request) (int, any, error) {
			var req AddVCenterRequest
			if err := decode(r, &req); err != nil {
				return 0, nil, err
			}
			return accepted(s.AddVCenter(ctx, r.PathValue("vault"), req))
		}},
		{"GET", "/vaults/{vault}/vcenters/{name}", permRead, func(ctx context.Context, r *http.Request) (int, any, error) {
			return ok(s.GetVCenter(ctx, r.PathValue("vault"), r.PathValue("name")))
		}},
		{"POST", "/vaults/{vault}/vcenters/{name}/refresh", permWrite, func(ctx context.Context, r *http.Request) (int, any, error) {
			return accepted(s.RefreshVCenter(ctx, r.PathValue("vault"), r.PathValue("name")))
		}},
		{"DELETE", "/vaults/{vault}/vcenters/{name}", permWrite, func(ctx context.Context, r *http.Request) (int, any, error) {
			v, err := s.RemoveVCenter(ctx, r.PathValue("vault"), r.PathValue("name"))
			if err == nil && v == nil {
				return http.StatusNoContent, nil, nil
			}
			return accepted(v, err)
		}},
	}
}

func accepted(body any, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, body, nil
}

// PushResult is the outcome of a configuration server's automatic push of the mobility service
// to a machine replication was enabled for.
type PushResult struct {
	Time  time.Time `json:"time"`
	Error string    `json:"error,omitempty"` // empty: it succeeded
}

// pushErrPrefix starts the error a failed automatic push gives its protected item.
const pushErrPrefix = "automatic push of the mobility service failed: "

// recordPush shows a failed automatic push as the error of the machine's protected item while
// it waits for its agent (state enabling), with a critical event once per error; a later success
// clears it. Reports of the agent replace it when it runs.
func (s *Service) recordPush(ctx context.Context, tx *dbTx, a Actor, m Machine) error {
	if m.Push == nil {
		return nil
	}
	var state, old string
	err := tx.QueryRow(ctx, `SELECT state, error FROM protected_items WHERE vault_id = ? AND machine = ? AND config_server_id = ?`, a.VaultID, m.Name, a.ConfigServer).Scan(&state, &old)
	if err != nil || state != StateEnabling {
		return nil // not protected by this configuration server, or its agent reports already
	}
	msg := ""
	if m.Push.Error != "" {
		msg = pushErrPrefix + m.Push.Error
	} else if !strings.HasPrefix(old, pushErrPrefix) {
		return nil
	}
	if msg == old {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE protected_items SET error = ?, updated = ? WHERE vault_id = ? AND machine = ?`, msg, ns(s.clock.Now()), a.VaultID, m.Name); err != nil {
		return err
	}
	if msg == "" {
		return s.event(ctx, tx, a.VaultID, "info", "push-installed", m.Name, "mobility service pushed to "+m.Name)
	}
	return s.event(ctx, tx, a.VaultID, "critical", "push-failed", m.Name, m.Name+": "+msg)
}
