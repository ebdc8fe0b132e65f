package vcenter

import (
	"context"
	"errors"
	"fmt"
)

// The actions of a vault request (Request.Action).
const (
	ActionAdd     = "add"
	ActionRefresh = "refresh"
	ActionRemove  = "remove"
)

// Request is one vCenter request of the vault's desired state: the vault's API adds, refreshes
// and removes vCenters of a configuration server this way (docs/control-plane.md). Requests are
// idempotent, so the configuration server applies the whole list each time it gets a new desired
// state.
type Request struct {
	Name       string
	Action     string // ActionAdd, ActionRefresh or ActionRemove
	Address    string // add: IP address or FQDN
	Port       int    // add: 0 is DefaultPort
	Account    string // add: name of a vcenter account of this configuration server
	Thumbprint string // add: SHA-256 thumbprint to pin; empty: the one presented at the first connection
	Refresh    int64  // sync once more when greater than the vCenter's Refreshed
}

// Apply carries out one request:
//
//   - add: a vCenter that is not in the inventory is stored and synced (a failed sync leaves it
//     Disconnected with the reason, as osr vcenter add does); one that is there already is
//     only refreshed as below;
//   - refresh: when r.Refresh is greater than the vCenter's Refreshed, it is synced now and
//     Refreshed becomes r.Refresh; a vCenter that is not in the inventory is left alone;
//   - remove: the vCenter and its VMs are forgotten (nothing to do when it is not there).
//
// The error is one the outcome in the inventory does not show: a request that cannot be stored
// (bad name or address, address already added under another name). Sync failures are recorded,
// not returned.
func (s *Syncer) Apply(ctx context.Context, r Request) error {
	switch r.Action {
	case ActionAdd, ActionRefresh, ActionRemove:
	default:
		return fmt.Errorf("vcenter %s: unknown action %q", r.Name, r.Action)
	}
	v, err := s.inv.VCenter(ctx, r.Name)
	switch {
	case errors.Is(err, ErrNotFound) && r.Action == ActionAdd:
		err := s.inv.AddVCenter(ctx, VCenter{Name: r.Name, Address: r.Address, Port: r.Port, Account: r.Account, Thumbprint: r.Thumbprint})
		if err != nil {
			return err
		}
		_, _ = s.Refresh(ctx, r.Name) // recorded: Connected, or Disconnected with the reason
		return s.inv.markRefreshed(context.WithoutCancel(ctx), r.Name, r.Refresh)
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case r.Action == ActionRemove:
		err := s.inv.RemoveVCenter(ctx, r.Name)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	case r.Refresh > v.Refreshed:
		_, _ = s.Refresh(ctx, r.Name)
		return s.inv.markRefreshed(context.WithoutCancel(ctx), r.Name, r.Refresh)
	}
	return nil
}
