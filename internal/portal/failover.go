package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The failover page of a replicated item (the seed's test failover → failover → commit →
// complete migration): the machine's failover status and the forms of the operations its state
// allows. Each operation is a job: after starting one the browser goes to the job's page.

// foRecord is a failover or test-failover record (internal/failover's Record, the fields shown).
type foRecord struct {
	Kind       string     `json:"kind"`
	State      string     `json:"state"`
	PointID    string     `json:"point_id"`
	PointTime  *time.Time `json:"point_time"`
	Target     string     `json:"target"`
	JobID      string     `json:"job_id"`
	BytesDone  int64      `json:"bytes_done"`
	BytesTotal int64      `json:"bytes_total"`
	Error      string     `json:"error"`
	VerifyBoot bool       `json:"verify_boot"`
	BootCheck  *foBoot    `json:"boot_check"`
	Result     *struct {
		Location       string   `json:"location"`
		Disks          []string `json:"disks"`
		DefinitionFile string   `json:"definition_file"`
	} `json:"result"`
	Definition *struct {
		Name string `json:"name"`
		NICs []struct {
			Name, Network, Address string
			IPMode                 string `json:"ip_mode"`
		} `json:"nics"`
	} `json:"definition"`
}

// foBoot is a record's boot check (internal/failover's BootCheck).
type foBoot struct {
	Passed   bool          `json:"passed"`
	Marker   string        `json:"marker"`
	Duration time.Duration `json:"duration_ns"`
	Console  []string      `json:"console"`
	Error    string        `json:"error"`
}

// Seconds is the boot check's wall time ("6.4 s").
func (b *foBoot) Seconds() string { return fmt.Sprintf("%.1f s", b.Duration.Seconds()) }

type foStatus struct {
	Machine   string    `json:"machine"`
	ItemState string    `json:"item_state"`
	Test      *foRecord `json:"test"`
	Failover  *foRecord `json:"failover"`
	Running   *struct {
		Operation string `json:"operation"`
		JobID     string `json:"job_id"`
	} `json:"running"`
}

type foTarget struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
}

type foMapping struct {
	SourceNetwork string `json:"source_network"`
	TargetNetwork string `json:"target_network"`
	TestNetwork   string `json:"test_network"`
	IPMode        string `json:"ip_mode"`
}

type failoverView struct {
	Status   foStatus
	Points   []RecoveryPoint
	Targets  []foTarget
	Mappings []foMapping
	Records  []*foRecord // the test failover and the failover, those that exist
	// What the item's state allows.
	CanTest, CanCleanup, CanRun, CanChange, CanCommit, CanComplete bool
}

func foPath(vault, machine, rest string) string { return itemsPath(vault, "/"+esc(machine)+rest) }

func (p *Portal) failoverPage(w http.ResponseWriter, r *http.Request, s *session) {
	p.showFailover(w, r, s, "", http.StatusOK)
}

func (p *Portal) showFailover(w http.ResponseWriter, r *http.Request, s *session, errMsg string, status int) {
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	machine := r.PathValue("m")
	d := failoverView{}
	if err := p.get(r, s, foPath(v.ID, machine, "/failover"), &d.Status); err != nil {
		p.fail(w, r, s, err)
		return
	}
	if err := p.get(r, s, foPath(v.ID, machine, "/recovery-points"), &d.Points); err != nil {
		p.fail(w, r, s, err)
		return
	}
	slices.SortFunc(d.Points, func(a, b RecoveryPoint) int { return b.Time.Compare(a.Time) })
	if err := p.get(r, s, vaultPath(v.ID, "/targets"), &d.Targets); err != nil {
		p.fail(w, r, s, err)
		return
	}
	if err := p.get(r, s, vaultPath(v.ID, "/network-mappings"), &d.Mappings); err != nil {
		p.fail(w, r, s, err)
		return
	}
	st := d.Status
	for _, rec := range []*foRecord{st.Test, st.Failover} {
		if rec != nil {
			d.Records = append(d.Records, rec)
		}
	}
	replicating := st.ItemState == "protected" || st.ItemState == "resynchronising" || st.ItemState == "error"
	idle := st.Running == nil
	d.CanTest = idle && replicating && (st.Test == nil || st.Test.State == "failed")
	d.CanCleanup = idle && st.Test != nil
	d.CanRun = idle && replicating
	d.CanChange = idle && st.ItemState == "failed-over"
	d.CanCommit = d.CanChange
	d.CanComplete = idle && (st.ItemState == "failed-over" || st.ItemState == "committed")
	notice := ""
	if r.URL.Query().Get("done") == "committed" {
		notice = "The failover of " + machine + " is committed."
	} else if r.URL.Query().Get("done") == "completed" {
		notice = "The migration of " + machine + " is completed: replication has stopped for good."
	}
	p.render(w, r, status, "failover", "", &view{Title: "Failover of " + machine, S: s, Vault: v, Nav: "items", Data: d, Error: errMsg, Notice: notice})
}

// failoverPost starts an operation from the page's forms.
func (p *Portal) failoverPost(w http.ResponseWriter, r *http.Request, s *session) {
	vault, machine, action := r.PathValue("v"), r.PathValue("m"), r.PathValue("action")
	f := r.PostForm
	var path string
	var body any
	switch action {
	case "test":
		path, body = "/failover/test", map[string]any{"point": f.Get("point"), "network": strings.TrimSpace(f.Get("network")), "target": f.Get("target"),
			"verify_boot": f.Get("verify_boot") == "on"}
	case "cleanup":
		path = "/failover/test/cleanup"
	case "run":
		shutdown := f.Get("shutdown_source") == "on"
		pt := f.Get("point")
		if shutdown {
			pt = "latest"
		}
		path, body = "/failover/run", map[string]any{"point": pt, "target": f.Get("target"), "shutdown_source": shutdown,
			"verify_boot": f.Get("verify_boot") == "on"}
	case "change-point":
		path, body = "/failover/change-point", map[string]any{"point": f.Get("point")}
	case "commit":
		path = "/failover/commit"
	case "complete":
		path, body = "/migration/complete", map[string]any{"remove_agent": f.Get("remove_agent") == "on"}
	default:
		p.failStatus(w, r, s, http.StatusNotFound, "there is no failover operation "+action)
		return
	}
	var op struct {
		Job struct {
			ID string `json:"id"`
		} `json:"job"`
	}
	if err := p.send(r, s, http.MethodPost, foPath(vault, machine, path), body, &op); err != nil {
		if st := statusOf(err); st != 0 && st != http.StatusUnauthorized {
			p.showFailover(w, r, s, err.Error(), st)
			return
		}
		p.fail(w, r, s, err)
		return
	}
	switch action {
	case "commit":
		http.Redirect(w, r, "/vaults/"+esc(vault)+"/items/"+esc(machine)+"/failover?done=committed", http.StatusSeeOther)
	case "complete":
		http.Redirect(w, r, "/vaults/"+esc(vault)+"/items/"+esc(machine)+"/failover?done=completed", http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/vaults/"+esc(vault)+"/jobs/"+url.PathEscape(op.Job.ID), http.StatusSeeOther)
	}
}
