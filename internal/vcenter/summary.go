package vcenter

import (
	"context"
	"time"
)

// Summary is a vCenter's line in the infrastructure view (osr infrastructure, the portal): the
// configuration server adds it beside its process servers and agents.
type Summary struct {
	Name     string     `json:"name"`
	Address  string     `json:"address"` // HOST:PORT
	Status   Status     `json:"status"`
	Reason   string     `json:"reason,omitempty"` // the last sync's error
	LastSync *time.Time `json:"last_sync,omitempty"`
	VMs      int        `json:"vms"`
}

// Summaries returns one Summary per vCenter, sorted by name.
func (inv *Inventory) Summaries(ctx context.Context) ([]Summary, error) {
	vs, err := inv.VCenters(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Summary, 0, len(vs))
	for _, v := range vs {
		s := Summary{Name: v.Name, Address: hostPort(v.Address, v.Port), Status: v.Status, Reason: v.Error, VMs: len(v.VMs)}
		if !v.LastSync.IsZero() {
			t := v.LastSync.UTC()
			s.LastSync = &t
		}
		out = append(out, s)
	}
	return out, nil
}
