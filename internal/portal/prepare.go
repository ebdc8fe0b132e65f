package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// The steps of "Prepare infrastructure", in the seed's order.
var prepareSteps = []struct{ ID, Title string }{
	{"goal", "Protection goal"},
	{"source", "Source"},
	{"target", "Target"},
	{"policy", "Replication policy"},
	{"capacity", "Capacity planning"},
}

// goal is the protection goal chosen on the first step; it travels in the query string (the
// vault keeps no record of it: it only selects what the next steps show).
type goal struct {
	To       string // "local" or "azure": the target provider
	Machines string // "physical" (not virtualised / other) or "vmware"
}

func goalFrom(q url.Values) goal {
	g := goal{To: q.Get("to"), Machines: q.Get("machines")}
	if g.To != "azure" {
		g.To = "local"
	}
	if g.Machines != "vmware" {
		g.Machines = "physical"
	}
	return g
}

// Query is the goal as query parameters.
func (g goal) Query() string {
	return "to=" + url.QueryEscape(g.To) + "&machines=" + url.QueryEscape(g.Machines)
}

// policyForm is the "create and associate policy" form as entered; its zero values are replaced
// by the seed's defaults.
type policyForm struct {
	Name                                string
	RPOMinutes, RetentionHours, AppMins string
	Associate                           map[string]bool
}

type prepareView struct {
	Step          string
	Steps         []struct{ ID, Title string }
	Goal          goal
	ConfigServers []ConfigServer
	Policies      []Policy
	Target        Target
	Policy        policyForm
	Capacity      *capacityStep // the capacity step's plan of posted profiles (capacity.go)
}

func defaultPolicyForm() policyForm {
	return policyForm{RPOMinutes: "15", RetentionHours: "24", AppMins: "60"}
}

func (p *Portal) prepare(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	q := r.URL.Query()
	vw := &view{S: s, Vault: v, Nav: "prepare"}
	switch q.Get("done") {
	case "target":
		vw.Notice = "Target settings saved."
	case "policy":
		vw.Notice = "Replication policy " + q.Get("name") + " created, with its twin " + q.Get("name") + "-failback."
	case "associate":
		vw.Notice = "Policy " + q.Get("name") + " associated."
	}
	if q.Get("created") != "" {
		vw.Notice = "Vault " + v.Name + " created. Prepare its infrastructure."
	}
	p.showPrepare(w, r, s, vw, q.Get("step"), goalFrom(q), defaultPolicyForm(), http.StatusOK)
}

// showPrepare renders step of the wizard (unknown steps show the first).
func (p *Portal) showPrepare(w http.ResponseWriter, r *http.Request, s *session, vw *view, step string, g goal, pf policyForm, status int) {
	d := prepareView{Step: "goal", Steps: prepareSteps, Goal: g, Target: vw.Vault.Target, Policy: pf}
	for _, st := range prepareSteps {
		if st.ID == step {
			d.Step = step
			vw.Title = "Prepare infrastructure: " + st.Title
		}
	}
	if vw.Title == "" {
		vw.Title = "Prepare infrastructure: Protection goal"
	}
	id := vw.Vault.ID
	if d.Step == "source" || d.Step == "policy" {
		if err := p.get(r, s, vaultPath(id, "/config-servers"), &d.ConfigServers); err != nil {
			p.fail(w, r, s, err)
			return
		}
		p.health(d.ConfigServers)
	}
	if d.Step == "policy" {
		if err := p.get(r, s, vaultPath(id, "/policies"), &d.Policies); err != nil {
			p.fail(w, r, s, err)
			return
		}
		if d.Policy.Associate == nil { // the seed: a new policy is associated with the configuration server
			d.Policy.Associate = map[string]bool{}
			for _, cs := range d.ConfigServers {
				d.Policy.Associate[cs.ID] = true
			}
		}
	}
	if d.Step == "target" && d.Target.Provider == "" {
		d.Target.Provider = g.To
	}
	vw.Data = d
	p.render(w, r, status, "prepare", "", vw)
}

// sourceServers is the htmx partial of the source step's configuration servers, refreshed every
// few seconds so that a new one shows up once its install has registered it.
func (p *Portal) sourceServers(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	var css []ConfigServer
	if err := p.get(r, s, vaultPath(v.ID, "/config-servers"), &css); err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.health(css)
	p.render(w, r, http.StatusOK, "prepare", "source-servers", &view{S: s, Vault: v, Data: prepareView{ConfigServers: css}})
}

func (p *Portal) prepareGoal(w http.ResponseWriter, r *http.Request, s *session) {
	g := goalFrom(r.PostForm)
	http.Redirect(w, r, "/vaults/"+esc(r.PathValue("v"))+"/prepare?step=source&"+g.Query(), http.StatusSeeOther)
}

// regKeyAnswer is the API's answer to a new registration key.
type regKeyAnswer struct {
	Key             string `json:"registration_key"`
	RegistrationKey string `json:"key"`
}

// keyFileName keeps a file name to safe characters.
var keyFileName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// registrationKey creates a registration key and sends it as a file download.
func (p *Portal) registrationKey(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	var raw []byte
	if err := p.send(r, s, http.MethodPost, vaultPath(v.ID, "/registration-keys"), struct{}{}, &raw); err != nil {
		p.fail(w, r, s, err)
		return
	}
	text := raw
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		var a regKeyAnswer
		if err := json.Unmarshal(t, &a); err != nil {
			p.fail(w, r, s, fmt.Errorf("decode registration key answer: %w", err))
			return
		}
		text = []byte(a.Key + a.RegistrationKey)
	}
	if len(bytes.TrimSpace(text)) == 0 {
		p.fail(w, r, s, fmt.Errorf("the API answered without a registration key"))
		return
	}
	if !bytes.HasSuffix(text, []byte("\n")) {
		text = append(text, '\n')
	}
	name := keyFileName.ReplaceAllString(v.Name, "_") + ".regkey"
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(text)))
	w.Write(text)
}

func (p *Portal) targetPost(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	f := r.PostForm
	t := Target{Provider: f.Get("provider"), Location: strings.TrimSpace(f.Get("location")),
		ResourceGroup: strings.TrimSpace(f.Get("resource_group")), Network: strings.TrimSpace(f.Get("network"))}
	g := goalFrom(f)
	if err := p.send(r, s, http.MethodPut, vaultPath(v.ID, "/target"), t, nil); err != nil {
		if st := statusOf(err); st != 0 && st != http.StatusUnauthorized {
			v.Target = t
			p.showPrepare(w, r, s, &view{S: s, Vault: v, Nav: "prepare", Error: err.Error()}, "target", g, defaultPolicyForm(), st)
			return
		}
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/vaults/"+esc(v.ID)+"/prepare?step=policy&done=target&"+g.Query(), http.StatusSeeOther)
}

// policyRequest is the API's body for a new policy.
type policyRequest struct {
	Name                 string `json:"name"`
	RPOThresholdSeconds  int64  `json:"rpo_threshold_seconds"`
	RetentionSeconds     int64  `json:"retention_seconds"`
	AppConsistentSeconds int64  `json:"app_consistent_frequency_seconds"`
}

// associateRequest associates a policy with a configuration server.
type associateRequest struct {
	ConfigServer string `json:"config_server"`
}

// wholeNumber parses a form field that must be a positive whole number of unit (the API reads
// zero as "the default", which a form the user filled in must not mean). Bounds are the API's.
func wholeNumber(field, value, unit string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	if err != nil || n < 1 || n > 1<<40 {
		return 0, fmt.Errorf("%s must be a whole number of %s, at least 1, not %q", field, unit, value)
	}
	return n, nil
}

func (p *Portal) policyCreate(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	f := r.PostForm
	g := goalFrom(f)
	pf := policyForm{Name: strings.TrimSpace(f.Get("name")), RPOMinutes: f.Get("rpo_minutes"),
		RetentionHours: f.Get("retention_hours"), AppMins: f.Get("app_consistent_minutes"), Associate: map[string]bool{}}
	for _, cs := range f["associate"] {
		pf.Associate[cs] = true
	}
	again := func(st int, msg string) {
		p.showPrepare(w, r, s, &view{S: s, Vault: v, Nav: "prepare", Error: msg}, "policy", g, pf, st)
	}
	rpo, err1 := wholeNumber("RPO threshold", pf.RPOMinutes, "minutes")
	ret, err2 := wholeNumber("recovery point retention", pf.RetentionHours, "hours")
	app, err3 := wholeNumber("app-consistent snapshot frequency", pf.AppMins, "minutes")
	for _, e := range []error{err1, err2, err3} {
		if e != nil {
			again(http.StatusBadRequest, e.Error())
			return
		}
	}
	req := policyRequest{Name: pf.Name, RPOThresholdSeconds: rpo * 60, RetentionSeconds: ret * 3600, AppConsistentSeconds: app * 60}
	var pol Policy
	if err := p.send(r, s, http.MethodPost, vaultPath(v.ID, "/policies"), req, &pol); err != nil {
		if st := statusOf(err); st != 0 && st != http.StatusUnauthorized {
			again(st, err.Error())
			return
		}
		p.fail(w, r, s, err)
		return
	}
	for _, cs := range f["associate"] {
		if err := p.send(r, s, http.MethodPost, vaultPath(v.ID, "/policies/"+esc(pol.Name)+"/associations"), associateRequest{ConfigServer: cs}, nil); err != nil {
			if st := statusOf(err); st != 0 && st != http.StatusUnauthorized {
				again(st, "policy "+pol.Name+" was created, but associating it failed: "+err.Error())
				return
			}
			p.fail(w, r, s, err)
			return
		}
	}
	http.Redirect(w, r, "/vaults/"+esc(v.ID)+"/prepare?step=policy&done=policy&name="+url.QueryEscape(pol.Name)+"&"+g.Query(), http.StatusSeeOther)
}

func (p *Portal) policyAssociate(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	g := goalFrom(r.PostForm)
	pol := r.PathValue("p")
	cs := r.PostForm.Get("config_server")
	if err := p.send(r, s, http.MethodPost, vaultPath(v.ID, "/policies/"+esc(pol)+"/associations"), associateRequest{ConfigServer: cs}, nil); err != nil {
		if st := statusOf(err); st != 0 && st != http.StatusUnauthorized {
			p.showPrepare(w, r, s, &view{S: s, Vault: v, Nav: "prepare", Error: err.Error()}, "policy", g, defaultPolicyForm(), st)
			return
		}
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/vaults/"+esc(v.ID)+"/prepare?step=policy&done=associate&name="+url.QueryEscape(pol)+"&"+g.Query(), http.StatusSeeOther)
}
