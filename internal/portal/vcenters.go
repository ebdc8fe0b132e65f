package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// VCenter is a vCenter of the vault's configuration servers (GET /vaults/{vault}/vcenters).
type VCenter struct {
	Name         string     `json:"name"`
	ConfigServer string     `json:"config_server"`
	Address      string     `json:"address"`
	Port         int        `json:"port"`
	Account      string     `json:"account"`
	Thumbprint   string     `json:"thumbprint"`
	Status       string     `json:"status"`
	Error        string     `json:"error"`
	About        string     `json:"about"`
	LastSync     *time.Time `json:"last_sync"`
	VMs          int        `json:"vms"`
	Pending      string     `json:"pending"`
}

// InventoryMachine is a machine of the vault's inventory with what discovery found (the portal's
// Machine keeps what the other pages need).
type InventoryMachine struct {
	Name         string   `json:"name"`
	Source       string   `json:"source"`
	Agent        bool     `json:"agent"`
	Protected    bool     `json:"protected"`
	ConfigServer string   `json:"config_server"`
	OS           string   `json:"os"`
	Addresses    []string `json:"addresses"`
	VCenter      string   `json:"vcenter"`
	VMName       string   `json:"vm_name"`
	GuestOS      string   `json:"guest_os"`
	PowerState   string   `json:"power_state"`
	Host         string   `json:"host"`
	Cluster      string   `json:"cluster"`
	Datastores   []string `json:"datastores"`
	Disks        []struct {
		Name      string `json:"name"`
		SizeBytes int64  `json:"size_bytes"`
	} `json:"disks"`
	Hardware *struct {
		CPUs     int   `json:"cpus"`
		MemoryMB int64 `json:"memory_mb"`
	} `json:"hardware"`
	Push *struct {
		Time  time.Time `json:"time"`
		Error string    `json:"error"`
	} `json:"push"` // the last automatic push of the mobility service
}

// DiskBytes is the sum of the machine's disk sizes.
func (m InventoryMachine) DiskBytes() int64 {
	var n int64
	for _, d := range m.Disks {
		n += d.SizeBytes
	}
	return n
}

type vcenterForm struct {
	Name, Address, Port, Account, Thumbprint, ConfigServer string
}

type vcentersView struct {
	VCenters      []VCenter
	Machines      []InventoryMachine
	ConfigServers []string
	Manage        bool // the role may add, refresh and remove (the API decides in the end)
	Form          vcenterForm
}

func canManageVCenters(s *session) bool { return s.Role == "owner" || s.Role == "contributor" }

func (p *Portal) loadVCenters(r *http.Request, s *session, vault string, d *vcentersView) error {
	if err := p.get(r, s, vaultPath(vault, "/vcenters"), &d.VCenters); err != nil {
		return err
	}
	if err := p.get(r, s, vaultPath(vault, "/machines"), &d.Machines); err != nil {
		return err
	}
	slices.SortFunc(d.Machines, func(a, b InventoryMachine) int { return strings.Compare(a.Name, b.Name) })
	return nil
}

// vcenters is the page of the vault's vCenters (status, add form, refresh and remove buttons)
// and of every machine its configuration servers discovered or registered.
func (p *Portal) vcenters(w http.ResponseWriter, r *http.Request, s *session) {
	vw := &view{S: s, Nav: "vcenters", Title: "vCenters and machines"}
	q := r.URL.Query()
	switch q.Get("done") {
	case "added":
		vw.Notice = "vCenter " + q.Get("name") + " was added; its configuration server connects and discovers its virtual machines at its next heartbeat."
	case "refreshed":
		vw.Notice = "A refresh of vCenter " + q.Get("name") + " was requested."
	case "removed":
		vw.Notice = "vCenter " + q.Get("name") + " is being removed with the machines discovered through it."
	}
	p.showVCenters(w, r, s, vw, vcenterForm{Port: "443"}, http.StatusOK)
}

func (p *Portal) showVCenters(w http.ResponseWriter, r *http.Request, s *session, vw *view, f vcenterForm, status int) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	vw.Vault = v
	d := vcentersView{Form: f, Manage: canManageVCenters(s)}
	if err := p.loadVCenters(r, s, v.ID, &d); err != nil {
		p.fail(w, r, s, err)
		return
	}
	var css []ConfigServer
	if err := p.get(r, s, vaultPath(v.ID, "/config-servers"), &css); err != nil {
		p.fail(w, r, s, err)
		return
	}
	for _, cs := range css {
		d.ConfigServers = append(d.ConfigServers, cs.Name)
	}
	slices.Sort(d.ConfigServers)
	vw.Data = d
	p.render(w, r, status, "vcenters", "", vw)
}

// vcentersTable is the htmx partial of the vCenter and machine tables.
func (p *Portal) vcentersTable(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	d := vcentersView{Manage: canManageVCenters(s)}
	if err := p.loadVCenters(r, s, v.ID, &d); err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, r, http.StatusOK, "vcenters", "vcenters-tables", &view{S: s, Vault: v, Data: d})
}

func (p *Portal) vcenterAdd(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	f := r.PostForm
	form := vcenterForm{Name: strings.TrimSpace(f.Get("name")), Address: strings.TrimSpace(f.Get("address")), Port: strings.TrimSpace(f.Get("port")),
		Account: strings.TrimSpace(f.Get("account")), Thumbprint: strings.TrimSpace(f.Get("thumbprint")), ConfigServer: f.Get("config_server")}
	again := func(st int, msg string) {
		p.showVCenters(w, r, s, &view{S: s, Nav: "vcenters", Title: "vCenters and machines", Error: msg}, form, st)
	}
	port := 443
	if form.Port != "" {
		n, err := strconv.Atoi(form.Port)
		if err != nil {
			again(http.StatusBadRequest, "port must be a number between 1 and 65535")
			return
		}
		port = n
	}
	req := map[string]any{"name": form.Name, "address": form.Address, "port": port, "account": form.Account,
		"thumbprint": form.Thumbprint, "config_server": form.ConfigServer}
	if err := p.send(r, s, http.MethodPost, vaultPath(v.ID, "/vcenters"), req, nil); err != nil {
		if st := statusOf(err); st != 0 && st != http.StatusUnauthorized {
			again(st, err.Error())
			return
		}
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/vaults/"+esc(v.ID)+"/vcenters?done=added&name="+url.QueryEscape(form.Name), http.StatusSeeOther)
}

func (p *Portal) vcenterRefresh(w http.ResponseWriter, r *http.Request, s *session) {
	p.vcenterAction(w, r, s, http.MethodPost, "/refresh", "refreshed")
}

func (p *Portal) vcenterRemove(w http.ResponseWriter, r *http.Request, s *session) {
	p.vcenterAction(w, r, s, http.MethodDelete, "", "removed")
}

func (p *Portal) vcenterAction(w http.ResponseWriter, r *http.Request, s *session, method, suffix, done string) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	name := r.PathValue("name")
	if err := p.send(r, s, method, vaultPath(v.ID, "/vcenters/"+esc(name)+suffix), nil, nil); err != nil {
		if st := statusOf(err); st != 0 && st != http.StatusUnauthorized {
			p.showVCenters(w, r, s, &view{S: s, Nav: "vcenters", Title: "vCenters and machines", Error: err.Error()}, vcenterForm{Port: "443"}, st)
			return
		}
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/vaults/"+esc(v.ID)+"/vcenters?done="+done+"&name="+url.QueryEscape(name), http.StatusSeeOther)
}
