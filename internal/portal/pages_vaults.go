package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// loadVault reads the vault named by the path's {v}.
func (p *Portal) loadVault(r *http.Request, s *session) (*Vault, error) {
	var v Vault
	if err := p.get(r, s, vaultPath(r.PathValue("v"), ""), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// vaultSummary is one vault's line on the dashboard.
type vaultSummary struct {
	Vault       Vault
	Items       int
	ByState     []stateCount
	OpenAlerts  int
	Critical    int
	RPOOK       int
	RPOExceeded int
	RPOPending  int // no recovery point yet
}

type stateCount struct {
	State string
	N     int
}

// rpoAge is the item's current RPO in seconds: the API's figure (by the vault's clock), else
// computed from the newest recovery point; false when there is none yet.
func (p *Portal) rpoAge(it Item) (int64, bool) {
	if it.RPOSeconds != nil {
		return *it.RPOSeconds, true
	}
	if it.LastPointTime == nil || it.LastPointTime.IsZero() {
		return 0, false
	}
	return int64(p.clock.Now().Sub(*it.LastPointTime) / time.Second), true
}

// rpoStatus says whether item meets its policy's RPO threshold now: "ok", "exceeded" or
// "pending" (no recovery point yet, or no threshold known).
func (p *Portal) rpoStatus(it Item, threshold int64) string {
	age, ok := p.rpoAge(it)
	if !ok || threshold <= 0 {
		return "pending"
	}
	if age > threshold {
		return "exceeded"
	}
	return "ok"
}

// policyThresholds maps policy names to their RPO thresholds in seconds.
func policyThresholds(ps []Policy) map[string]int64 {
	m := make(map[string]int64, len(ps))
	for _, p := range ps {
		m[p.Name] = p.RPOThresholdSeconds
	}
	return m
}

func (p *Portal) dashboard(w http.ResponseWriter, r *http.Request, s *session) {
	var vaults []Vault
	if err := p.get(r, s, "/vaults", &vaults); err != nil {
		p.fail(w, r, s, err)
		return
	}
	var sums []vaultSummary
	for _, v := range vaults {
		var items []Item
		var alerts []Alert
		var pols []Policy
		for _, c := range []struct {
			path string
			out  any
		}{{itemsPath(v.ID, ""), &items}, {listPath("alerts", v.ID, ""), &alerts}, {vaultPath(v.ID, "/policies"), &pols}} {
			if err := p.get(r, s, c.path, c.out); err != nil {
				p.fail(w, r, s, err)
				return
			}
		}
		sum := vaultSummary{Vault: v, Items: len(items)}
		counts := map[string]int{}
		th := policyThresholds(pols)
		for _, it := range items {
			counts[it.State]++
			switch p.rpoStatus(it, th[it.Policy]) {
			case "ok":
				sum.RPOOK++
			case "exceeded":
				sum.RPOExceeded++
			default:
				sum.RPOPending++
			}
		}
		for _, st := range stateOrder {
			if counts[st] > 0 {
				sum.ByState = append(sum.ByState, stateCount{st, counts[st]})
				delete(counts, st)
			}
		}
		for st, n := range counts { // states this portal does not know yet
			sum.ByState = append(sum.ByState, stateCount{st, n})
		}
		for _, a := range alerts {
			if a.Cleared == nil || a.Cleared.IsZero() {
				sum.OpenAlerts++
				if strings.EqualFold(a.Severity, "critical") {
					sum.Critical++
				}
			}
		}
		sums = append(sums, sum)
	}
	p.render(w, r, http.StatusOK, "dashboard", "", &view{Title: "Dashboard", S: s, Nav: "dashboard", Data: sums})
}

// vaultForm is the "create vault" form as entered.
type vaultForm struct {
	Name, StorageURL string
}

type vaultListView struct {
	Vaults []Vault
	Form   vaultForm
}

func (p *Portal) vaultList(w http.ResponseWriter, r *http.Request, s *session) {
	p.showVaults(w, r, s, http.StatusOK, vaultForm{}, "", r.URL.Query().Get("deleted"))
}

func (p *Portal) showVaults(w http.ResponseWriter, r *http.Request, s *session, status int, f vaultForm, msg, deleted string) {
	var vaults []Vault
	if err := p.get(r, s, "/vaults", &vaults); err != nil {
		p.fail(w, r, s, err)
		return
	}
	slices.SortFunc(vaults, func(a, b Vault) int { return strings.Compare(a.Name, b.Name) })
	v := &view{Title: "Vaults", S: s, Nav: "vaults", Error: msg, Data: vaultListView{Vaults: vaults, Form: f}}
	if deleted != "" {
		v.Notice = "Vault " + deleted + " was deleted."
	}
	p.render(w, r, status, "vaults", "", v)
}

// vaultCreateRequest is the API's body for a new vault.
type vaultCreateRequest struct {
	Name       string `json:"name"`
	StorageURL string `json:"storage_url"`
}

func (p *Portal) vaultCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := vaultForm{Name: strings.TrimSpace(r.PostForm.Get("name")), StorageURL: strings.TrimSpace(r.PostForm.Get("storage_url"))}
	var v Vault
	if err := p.send(r, s, http.MethodPost, "/vaults", vaultCreateRequest{Name: f.Name, StorageURL: f.StorageURL}, &v); err != nil {
		if st := statusOf(err); st != 0 && st != http.StatusUnauthorized {
			p.showVaults(w, r, s, st, f, err.Error(), "")
			return
		}
		p.fail(w, r, s, err)
		return
	}
	// The seed's flow goes on with preparing the infrastructure of the new vault.
	http.Redirect(w, r, "/vaults/"+esc(v.ID)+"/prepare?created=1", http.StatusSeeOther)
}

type vaultShowView struct {
	Vault         Vault
	ConfigServers []ConfigServer
	Policies      []Policy
	Items         int
}

func (p *Portal) vaultShow(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	d := vaultShowView{Vault: *v}
	var items []Item
	for _, c := range []struct {
		path string
		out  any
	}{{vaultPath(v.ID, "/config-servers"), &d.ConfigServers}, {vaultPath(v.ID, "/policies"), &d.Policies}, {itemsPath(v.ID, ""), &items}} {
		if err := p.get(r, s, c.path, c.out); err != nil {
			p.fail(w, r, s, err)
			return
		}
	}
	d.Items = len(items)
	p.health(d.ConfigServers)
	vw := &view{Title: "Vault " + v.Name, S: s, Vault: v, Nav: "overview", Data: d}
	if r.URL.Query().Get("prepared") != "" {
		vw.Notice = "Infrastructure prepared. Next, enable replication of your machines in Replicated items."
	}
	p.render(w, r, http.StatusOK, "vault", "", vw)
}

// vaultDeleteConfirm asks before deleting a vault's metadata.
func (p *Portal) vaultDeleteConfirm(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, r, http.StatusOK, "vaultdelete", "", &view{Title: "Delete vault " + v.Name, S: s, Vault: v, Nav: "overview", Data: v})
}

func (p *Portal) vaultDelete(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	if err := p.send(r, s, http.MethodDelete, vaultPath(v.ID, ""), nil, nil); err != nil {
		if st := statusOf(err); st != 0 && st != http.StatusUnauthorized {
			p.render(w, r, st, "vaultdelete", "", &view{Title: "Delete vault " + v.Name, S: s, Vault: v, Nav: "overview", Error: err.Error(), Data: v})
			return
		}
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/vaults?deleted="+url.QueryEscape(v.Name), http.StatusSeeOther)
}
