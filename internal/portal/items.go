package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// itemRow is one line of the replicated items table.
type itemRow struct {
	Item
	RPO      string // "ok", "exceeded", "pending"
	RPOAge   int64  // seconds since the last recovery point; -1 when none
	RPOLimit int64  // the policy's RPO threshold in seconds
}

type itemsView struct {
	Rows     []itemRow
	Machines []Machine // inventory machines not yet protected, for "enable replication"
	Policies []Policy
	Servers  []string // process servers to choose from
	Form     enableForm
}

type enableForm struct {
	Machine, Policy, ProcessServer string
}

// loadItems reads a vault's items with their RPO status.
func (p *Portal) loadItems(r *http.Request, s *session, vault string) ([]itemRow, []Policy, error) {
	var items []Item
	var pols []Policy
	if err := p.get(r, s, itemsPath(vault, ""), &items); err != nil {
		return nil, nil, err
	}
	if err := p.get(r, s, vaultPath(vault, "/policies"), &pols); err != nil {
		return nil, nil, err
	}
	slices.SortFunc(items, func(a, b Item) int { return strings.Compare(a.Machine, b.Machine) })
	th := policyThresholds(pols)
	rows := make([]itemRow, len(items))
	for i, it := range items {
		rows[i] = itemRow{Item: it, RPO: p.rpoStatus(it, th[it.Policy]), RPOAge: -1, RPOLimit: th[it.Policy]}
		if a, ok := p.rpoAge(it); ok {
			rows[i].RPOAge = a
		}
	}
	return rows, pols, nil
}

func (p *Portal) items(w http.ResponseWriter, r *http.Request, s *session) {
	vw := &view{S: s, Nav: "items", Title: "Replicated items"}
	switch r.URL.Query().Get("done") {
	case "enabled":
		vw.Notice = "Replication of " + r.URL.Query().Get("machine") + " is being enabled."
	case "disabled":
		vw.Notice = "Replication of " + r.URL.Query().Get("machine") + " was disabled; its recovery points stay until retention removes them."
	}
	p.showItems(w, r, s, vw, enableForm{}, http.StatusOK)
}

func (p *Portal) showItems(w http.ResponseWriter, r *http.Request, s *session, vw *view, f enableForm, status int) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	vw.Vault = v
	rows, pols, err := p.loadItems(r, s, v.ID)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	d := itemsView{Rows: rows, Form: f}
	for _, pol := range pols {
		if pol.FailbackOf == "" {
			d.Policies = append(d.Policies, pol)
		}
	}
	if can(s.Role, actReplEnable) {
		var machines []Machine
		if err := p.get(r, s, vaultPath(v.ID, "/machines"), &machines); err != nil {
			p.fail(w, r, s, err)
			return
		}
		for _, m := range machines {
			if !m.Protected {
				d.Machines = append(d.Machines, m)
			}
		}
		var css []ConfigServer
		if err := p.get(r, s, vaultPath(v.ID, "/config-servers"), &css); err != nil {
			p.fail(w, r, s, err)
			return
		}
		for _, cs := range css {
			for _, ps := range cs.Heartbeat.ProcessServers {
				d.Servers = append(d.Servers, ps.Name)
			}
		}
	}
	vw.Data = d
	p.render(w, r, status, "items", "", vw)
}

// itemsTable is the htmx partial of the items table, refreshed every few seconds.
func (p *Portal) itemsTable(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	rows, _, err := p.loadItems(r, s, v.ID)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, r, http.StatusOK, "items", "items-table", &view{S: s, Vault: v, Data: itemsView{Rows: rows}})
}

// enableRequest is the API's body to enable replication of a machine.
type enableRequest struct {
	Machine       string `json:"machine"`
	Policy        string `json:"policy"`
	ProcessServer string `json:"process_server,omitempty"`
}

func (p *Portal) itemEnable(w http.ResponseWriter, r *http.Request, s *session) {
	f := enableForm{Machine: strings.TrimSpace(r.PostForm.Get("machine")), Policy: r.PostForm.Get("policy"),
		ProcessServer: r.PostForm.Get("process_server")}
	vault := r.PathValue("v")
	err := p.send(r, s, http.MethodPost, itemsPath(vault, ""), enableRequest(f), nil)
	if err != nil {
		if st := statusOf(err); st != 0 && st != http.StatusUnauthorized {
			p.showItems(w, r, s, &view{S: s, Nav: "items", Title: "Replicated items", Error: err.Error()}, f, st)
			return
		}
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/vaults/"+esc(vault)+"/items?done=enabled&machine="+url.QueryEscape(f.Machine), http.StatusSeeOther)
}

// itemDisableConfirm asks before disabling replication (the form posts to itemDisable).
func (p *Portal) itemDisableConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	var it Item
	if err := p.get(r, s, itemsPath(v.ID, "/"+esc(r.PathValue("m"))), &it); err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, r, http.StatusOK, "disable", "", &view{Title: "Disable replication of " + it.Machine, S: s, Vault: v, Nav: "items", Data: it})
}

func (p *Portal) itemDisable(w http.ResponseWriter, r *http.Request, s *session) {
	vault, machine := r.PathValue("v"), r.PathValue("m")
	if err := p.send(r, s, http.MethodDelete, itemsPath(vault, "/"+esc(machine)), nil, nil); err != nil {
		if st := statusOf(err); st != 0 && st != http.StatusUnauthorized {
			p.showItems(w, r, s, &view{S: s, Nav: "items", Title: "Replicated items", Error: err.Error()}, enableForm{}, st)
			return
		}
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/vaults/"+esc(vault)+"/items?done=disabled&machine="+url.QueryEscape(machine), http.StatusSeeOther)
}

type itemView struct {
	Row    itemRow
	Points []RecoveryPoint
	Alerts []Alert // open alerts about the item or its agent
	Events []Event
}

func (p *Portal) itemShow(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	machine := r.PathValue("m")
	rows, _, err := p.loadItems(r, s, v.ID)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	d := itemView{}
	found := false
	for _, row := range rows {
		if row.Machine == machine {
			d.Row, found = row, true
		}
	}
	if !found {
		p.failStatus(w, r, s, http.StatusNotFound, "machine "+machine+" is not a replicated item of vault "+v.Name)
		return
	}
	if err := p.get(r, s, itemsPath(v.ID, "/"+esc(machine)+"/recovery-points"), &d.Points); err != nil {
		p.fail(w, r, s, err)
		return
	}
	slices.SortFunc(d.Points, func(a, b RecoveryPoint) int { return b.Time.Compare(a.Time) })
	var evs []Event
	if err := p.get(r, s, listPath("events", v.ID, "&limit=1000"), &evs); err != nil {
		p.fail(w, r, s, err)
		return
	}
	var alerts []Alert
	if err := p.get(r, s, listPath("alerts", v.ID, ""), &alerts); err != nil {
		p.fail(w, r, s, err)
		return
	}
	for _, a := range alerts { // the API names subjects kind/name: item/web01, agent/web01
		if a.Subject == "item/"+machine || a.Subject == "agent/"+machine {
			d.Alerts = append(d.Alerts, a)
		}
	}
	for _, ev := range evs { // the machine's own events, newest first
		if ev.Subject == machine {
			d.Events = append(d.Events, ev)
		}
	}
	p.render(w, r, http.StatusOK, "item", "", &view{Title: machine, S: s, Vault: v, Nav: "items", Data: d})
}
