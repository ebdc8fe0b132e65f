package recoveryplan

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxMachines is the most machines a plan holds.
const MaxMachines = 100

// Plan is a stored recovery plan.
type Plan struct {
	Name        string    `json:"name"`
	Vault       string    `json:"vault"`
	Description string    `json:"description,omitempty"`
	Groups      []Group   `json:"groups"`
	Machines    int       `json:"machine_count"`
	CreatedBy   string    `json:"created_by"`
	Created     time.Time `json:"created"`
}

// Group is one step of a plan: its machines fail over in parallel. The steps of a group run in
// this order: PauseBefore, Before, the machines, After, PauseAfter.
type Group struct {
	// Name is shown in runs (default "group N").
	Name     string   `json:"name,omitempty" yaml:"name,omitempty"`
	Machines []string `json:"machines" yaml:"machines"`
	// Before and After are executable files on the vault host (absolute paths), run without a
	// shell, with the plan and group in the environment (OSR_PLAN, OSR_PLAN_RUN,
	// OSR_PLAN_OPERATION, OSR_PLAN_GROUP, OSR_PLAN_GROUP_NAME, OSR_PLAN_STEP, OSR_PLAN_MACHINES).
	Before string `json:"before,omitempty" yaml:"before,omitempty"`
	After  string `json:"after,omitempty" yaml:"after,omitempty"`
	// PauseBefore and PauseAfter, when set, are manual steps: the run pauses there, showing the
	// message, until it is resumed.
	PauseBefore string `json:"pause_before,omitempty" yaml:"pause_before,omitempty"`
	PauseAfter  string `json:"pause_after,omitempty" yaml:"pause_after,omitempty"`
}

// CreateRequest creates a plan.
type CreateRequest struct {
	Name        string  `json:"name" yaml:"name"`
	Description string  `json:"description,omitempty" yaml:"description,omitempty"`
	Groups      []Group `json:"groups" yaml:"groups"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}$`)

// CheckName checks a plan or drill name.
func CheckName(what, s string) error {
	if !nameRE.MatchString(s) {
		return fmt.Errorf("%s name %q must be 1-63 characters of a-z, 0-9, '.' and '-', starting with a letter or digit", what, s)
	}
	return nil
}

// validate checks the request's shape (not whether the machines are protected): the groups are
// named, every group has machines, no machine is twice, scripts are absolute paths, at most
// MaxMachines. It fills default group names.
func (r *CreateRequest) validate() error {
	if err := CheckName("recovery plan", r.Name); err != nil {
		return err
	}
	if len(r.Description) > 1024 {
		return errors.New("description is longer than 1024 characters")
	}
	if len(r.Groups) == 0 {
		return errors.New("a recovery plan needs at least one group")
	}
	where := map[string]int{}
	total := 0
	for i := range r.Groups {
		g := &r.Groups[i]
		n := i + 1
		if g.Name == "" {
			g.Name = fmt.Sprintf("group %d", n)
		}
		if len(g.Name) > 63 || strings.ContainsAny(g.Name, "\n\r\x00") {
			return fmt.Errorf("group %d: name %q must be one line of at most 63 characters", n, g.Name)
		}
		if len(g.Machines) == 0 {
			return fmt.Errorf("group %d (%s) has no machines", n, g.Name)
		}
		for _, m := range g.Machines {
			if prev, ok := where[m]; ok {
				if prev == n {
					return fmt.Errorf("machine %s is twice in group %d", m, n)
				}
				return fmt.Errorf("machine %s is in group %d and group %d", m, prev, n)
			}
			where[m] = n
			if m == "" {
				return fmt.Errorf("group %d: a machine name is empty", n)
			}
		}
		total += len(g.Machines)
		for _, s := range []struct{ step, path string }{{"before", g.Before}, {"after", g.After}} {
			if s.path != "" && !filepath.IsAbs(s.path) {
				return fmt.Errorf("group %d: %s script %q must be an absolute path on the vault host", n, s.step, s.path)
			}
		}
		for _, p := range []string{g.PauseBefore, g.PauseAfter} {
			if len(p) > 1024 {
				return fmt.Errorf("group %d: a pause message is longer than 1024 characters", n)
			}
		}
	}
	if total > MaxMachines {
		return fmt.Errorf("a recovery plan holds at most %d machines, this one has %d", MaxMachines, total)
	}
	return nil
}

// ParseFile reads a plan file (YAML, or JSON, which is YAML too) into a CreateRequest, strictly:
// unknown fields are refused. The result is not validated (the vault does that).
func ParseFile(b []byte) (*CreateRequest, error) {
	var r CreateRequest
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("plan file: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return nil, errors.New("plan file: more than one document")
	}
	return &r, nil
}
