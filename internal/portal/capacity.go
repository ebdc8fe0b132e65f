package portal

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/opensiterecovery/osr/internal/capacity"
	"github.com/opensiterecovery/osr/internal/mobility"
)

// capacityStep is what the capacity-planning step shows after profiles were posted: the pasted
// text (kept in the form), the plan or the error the profiles gave.
type capacityStep struct {
	Profiles  string
	Bandwidth string
	Plan      *capacity.Plan
	Error     string
}

// Bytes formats a byte count for the plan's template.
func (capacityStep) Bytes(b any) string {
	switch v := b.(type) {
	case int64:
		return capacity.FormatBytes(float64(v))
	case float64:
		return capacity.FormatBytes(v)
	}
	return ""
}

// capacityPost is the capacity-planning step's form: with action=plan it computes the plan of the
// pasted profile documents (osr mobility profile --json) with package capacity, reading nothing
// from the vault, and shows it in the step; otherwise it ends the wizard ("Yes, I have
// completed" capacity planning).
func (p *Portal) capacityPost(w http.ResponseWriter, r *http.Request, s *session) {
	if r.PostForm.Get("action") != "plan" {
		http.Redirect(w, r, "/vaults/"+esc(r.PathValue("v"))+"?prepared=1", http.StatusSeeOther)
		return
	}
	v, err := p.loadVault(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	c := &capacityStep{Profiles: r.PostForm.Get("profiles"), Bandwidth: strings.TrimSpace(r.PostForm.Get("bandwidth"))}
	status := http.StatusOK
	if err := c.compute(); err != nil {
		c.Error, status = err.Error(), http.StatusUnprocessableEntity
	}
	g := goalFrom(r.URL.Query())
	vw := &view{S: s, Vault: v, Nav: "prepare", Title: "Prepare infrastructure: Capacity planning"}
	vw.Data = prepareView{Step: "capacity", Steps: prepareSteps, Goal: g, Target: v.Target, Capacity: c}
	p.render(w, r, status, "prepare", "", vw)
}

func (c *capacityStep) compute() error {
	ps, err := capacity.DecodeAll(strings.NewReader(c.Profiles))
	if err != nil {
		return err
	}
	var opts capacity.Options
	if c.Bandwidth != "" {
		r, err := mobility.ParseRate(c.Bandwidth)
		if err != nil {
			return fmt.Errorf("bandwidth: %w", err)
		}
		opts.Bandwidth = float64(r)
	}
	c.Plan, err = capacity.Compute(ps, opts)
	return err
}
