package vcenter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver/accounts"
)

// Secrets gives the secret of a stored account. *accounts.Store implements it.
type Secrets interface {
	// Secret returns the account and its decrypted secret; the caller must not log or keep it.
	Secret(ctx context.Context, name string) (accounts.Account, []byte, error)
}

// Syncer refreshes the inventory from vCenters.
type Syncer struct {
	inv     *Inventory
	secrets Secrets
	clock   clock.Clock
	log     *slog.Logger
	timeout time.Duration
	dial    time.Duration
}

// SyncerOptions configure a Syncer.
type SyncerOptions struct {
	Clock       clock.Clock   // default clock.Real
	Logger      *slog.Logger  // default slog.Default()
	Timeout     time.Duration // per vCenter sync; default 2 minutes
	DialTimeout time.Duration // TCP connect and TLS handshake; default 10 s
}

// NewSyncer returns a Syncer that logs in with accounts from secrets.
func NewSyncer(inv *Inventory, secrets Secrets, opts SyncerOptions) (*Syncer, error) {
	if inv == nil || secrets == nil {
		return nil, errors.New("vcenter syncer: inventory and secrets are required")
	}
	s := &Syncer{inv: inv, secrets: secrets, clock: opts.Clock, log: opts.Logger, timeout: opts.Timeout, dial: opts.DialTimeout}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.timeout == 0 {
		s.timeout = 2 * time.Minute
	}
	if s.dial == 0 {
		s.dial = 10 * time.Second
	}
	return s, nil
}

// Add checks the account, stores the vCenter (pinning v.Thumbprint, which must be set: see
// Probe) and runs a first sync. The vCenter stays added when that sync fails: its status is then
// Disconnected and the returned error says why.
func (s *Syncer) Add(ctx context.Context, v VCenter) ([]Change, error) {
	acc, _, err := s.secrets.Secret(ctx, v.Account)
	if err != nil {
		return nil, err
	}
	if acc.Type != accounts.VCenter {
		return nil, fmt.Errorf("account %s is a %s account; vCenter discovery needs a vcenter account", v.Account, acc.Type)
	}
	if err := s.inv.AddVCenter(ctx, v); err != nil {
		return nil, err
	}
	return s.Refresh(ctx, v.Name)
}

// Refresh syncs one vCenter now and records the outcome (status, error, list). The error is that
// of the sync, prefixed with the vCenter's name; the recorded status is Disconnected then.
func (s *Syncer) Refresh(ctx context.Context, name string) ([]Change, error) {
	v, err := s.inv.VCenter(ctx, name)
	if err != nil {
		return nil, err
	}
	at := s.clock.Now().UTC().Truncate(time.Second)
	about, vms, syncErr := s.collect(ctx, v)
	if syncErr != nil {
		syncErr = fmt.Errorf("vcenter %s: %w", name, syncErr)
		s.log.WarnContext(ctx, "vcenter sync failed", "vcenter", name, "err", syncErr)
	}
	changes, err := s.inv.record(context.WithoutCancel(ctx), name, at, about, vms, syncErr)
	if err != nil {
		return nil, err
	}
	if syncErr != nil {
		return nil, syncErr
	}
	for _, c := range changes {
		s.log.InfoContext(ctx, "vcenter inventory changed", "vcenter", name, "vm", c.VM, "change", string(c.Kind))
	}
	return changes, nil
}

func (s *Syncer) collect(ctx context.Context, v VCenter) (string, []VM, error) {
	acc, secret, err := s.secrets.Secret(ctx, v.Account)
	if err != nil {
		return "", nil, err
	}
	if acc.Type != accounts.VCenter {
		return "", nil, fmt.Errorf("account %s is a %s account; vCenter discovery needs a vcenter account", v.Account, acc.Type)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if v.Thumbprint == "" {
		// Added through the vault without a thumbprint: the certificate presented at the first
		// connection is pinned (the vault shows it to compare).
		tp, err := Probe(ctx, v.Address, v.Port, s.dial)
		if err != nil {
			return "", nil, err
		}
		if err := s.inv.pin(ctx, v.Name, tp); err != nil {
			return "", nil, err
		}
		v.Thumbprint = tp
	}
	sess, err := Connect(ctx, Endpoint{Address: v.Address, Port: v.Port, User: acc.User, Password: string(secret),
		Thumbprint: v.Thumbprint, DialTimeout: s.dial})
	if err != nil {
		return "", nil, err
	}
	defer func() { _ = sess.Close(context.WithoutCancel(ctx)) }()
	vms, err := sess.VMs(ctx)
	if err != nil {
		return "", nil, err
	}
	return sess.About(), vms, nil
}

// RefreshAll syncs every vCenter one after the other; a failure of one does not stop the others.
// It returns the errors joined.
func (s *Syncer) RefreshAll(ctx context.Context) error {
	vs, err := s.inv.VCenters(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range vs {
		if _, err := s.Refresh(ctx, v.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run syncs every vCenter at once and then every interval until ctx ends. The configuration
// server runs it beside its other loops.
func (s *Syncer) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return errors.New("vcenter syncer: interval must be positive")
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		_ = s.RefreshAll(ctx) // each failure is recorded and logged
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Diff lists how the VMs changed from old to new, keyed by instance UUID (BIOS UUID if none).
func Diff(old, new []VM) []Change {
	key := func(v VM) string {
		if v.InstanceID != "" {
			return v.InstanceID
		}
		return v.UUID + "/" + v.Name
	}
	before := map[string]VM{}
	for _, v := range old {
		before[key(v)] = v
	}
	var out []Change
	seen := map[string]bool{}
	for _, v := range new {
		k := key(v)
		seen[k] = true
		o, ok := before[k]
		switch {
		case !ok:
			out = append(out, Change{Kind: Added, VM: v.Name, UUID: k})
		case o.PowerState != v.PowerState && v.PowerState == powerState:
			out = append(out, Change{Kind: PowerOn, VM: v.Name, UUID: k})
		case o.PowerState != v.PowerState && o.PowerState == powerState:
			out = append(out, Change{Kind: PowerOff, VM: v.Name, UUID: k})
		case !sameVM(o, v):
			out = append(out, Change{Kind: Reconfig, VM: v.Name, UUID: k})
		}
	}
	for _, v := range old {
		if !seen[key(v)] {
			out = append(out, Change{Kind: Removed, VM: v.Name, UUID: key(v)})
		}
	}
	return out
}

func sameVM(a, b VM) bool {
	if a.Name != b.Name || a.GuestOS != b.GuestOS || a.Host != b.Host || a.Cluster != b.Cluster || len(a.Disks) != len(b.Disks) || len(a.IPs) != len(b.IPs) {
		return false
	}
	for i := range a.Disks {
		if a.Disks[i] != b.Disks[i] {
			return false
		}
	}
	for i := range a.IPs {
		if a.IPs[i] != b.IPs[i] {
			return false
		}
	}
	return true
}
