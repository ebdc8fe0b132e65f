package vcenter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver/privfile"
)

// FileName is the inventory file in the configuration server's data directory.
const FileName = "inventory.json"

const (
	fileVersion = 1
	maxFile     = 256 << 20
)

// Errors callers can test for.
var (
	ErrExists   = errors.New("already exists")
	ErrNotFound = errors.New("not found")
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidName checks a vCenter or machine name.
func ValidName(n string) error {
	if !nameRE.MatchString(n) {
		return fmt.Errorf("invalid name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", n)
	}
	return nil
}

// ValidAddress checks an IP address or host name (FQDN).
func ValidAddress(a string) error {
	if a == "" || len(a) > 253 || strings.ContainsAny(a, " /\\@:[]") && !isIPv6(a) {
		return fmt.Errorf("invalid address %q: want an IP address or a host name", a)
	}
	for _, r := range a {
		if r < 0x21 || r > 0x7e {
			return fmt.Errorf("invalid address %q: want an IP address or a host name", a)
		}
	}
	return nil
}

func isIPv6(a string) bool {
	return strings.Count(a, ":") >= 2 && strings.Trim(a, "0123456789abcdefABCDEF:.") == ""
}

type file struct {
	Version  int       `json:"version"`
	VCenters []VCenter `json:"vcenters"`
	Machines []Machine `json:"machines"`
}

// Inventory is the inventory file. Each call holds a lock on it (flock), so the CLI and a running
// configuration server may use it together; a change is durable (fsync, rename) when it returns.
type Inventory struct {
	path, lockPath string
	clock          clock.Clock
}

// Open returns the inventory of a configuration server's data directory. The file is created by
// the first change.
func Open(dir string, clk clock.Clock) (*Inventory, error) {
	if dir == "" {
		return nil, errors.New("inventory: no directory")
	}
	if clk == nil {
		clk = clock.Real{}
	}
	return &Inventory{path: filepath.Join(dir, FileName), lockPath: filepath.Join(dir, "inventory.lock"), clock: clk}, nil
}

// decode parses and checks an inventory file. Bad input gives an error and no inventory.
func decode(b []byte) (*file, error) {
	var f file
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode inventory: %w", err)
	}
	if d.More() {
		return nil, errors.New("decode inventory: data after the document")
	}
	if f.Version != fileVersion {
		return nil, fmt.Errorf("decode inventory: version %d, want %d", f.Version, fileVersion)
	}
	seen := map[string]bool{}
	for _, v := range f.VCenters {
		if err := ValidName(v.Name); err != nil {
			return nil, fmt.Errorf("decode inventory: vcenter: %w", err)
		}
		if seen["v/"+v.Name] {
			return nil, fmt.Errorf("decode inventory: vcenter %s twice", v.Name)
		}
		seen["v/"+v.Name] = true
		if err := ValidAddress(v.Address); err != nil {
			return nil, fmt.Errorf("decode inventory: vcenter %s: %w", v.Name, err)
		}
		if v.Port < 1 || v.Port > 65535 {
			return nil, fmt.Errorf("decode inventory: vcenter %s: port %d out of range", v.Name, v.Port)
		}
		switch v.Status {
		case Unknown, Connected, Disconnected:
		default:
			return nil, fmt.Errorf("decode inventory: vcenter %s: invalid status %q", v.Name, v.Status)
		}
		if v.Thumbprint != "" {
			if tp, err := NormalizeThumbprint(v.Thumbprint); err != nil || tp != v.Thumbprint {
				return nil, fmt.Errorf("decode inventory: vcenter %s: thumbprint %q is not in the form AB:CD:...", v.Name, v.Thumbprint)
			}
		}
		for _, vm := range v.VMs {
			if vm.Machine == "" {
				continue
			}
			if err := ValidMachineName(vm.Machine); err != nil {
				return nil, fmt.Errorf("decode inventory: vcenter %s: VM %s: %w", v.Name, vm.Name, err)
			}
			if seen["vm/"+vm.Machine] {
				return nil, fmt.Errorf("decode inventory: machine name %s is given to two VMs", vm.Machine)
			}
			seen["vm/"+vm.Machine] = true
		}
	}
	for _, m := range f.Machines {
		if err := ValidName(m.Name); err != nil {
			return nil, fmt.Errorf("decode inventory: machine: %w", err)
		}
		if seen["m/"+m.Name] {
			return nil, fmt.Errorf("decode inventory: machine %s twice", m.Name)
		}
		seen["m/"+m.Name] = true
		if err := ValidAddress(m.Address); err != nil {
			return nil, fmt.Errorf("decode inventory: machine %s: %w", m.Name, err)
		}
	}
	return &f, nil
}

func (inv *Inventory) load() (*file, error) {
	b, err := privfile.Read(inv.path, maxFile)
	if errors.Is(err, os.ErrNotExist) {
		return &file{Version: fileVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	f, err := decode(b)
	if err != nil {
		return nil, err
	}
	assignAll(f)
	return f, nil
}

func (inv *Inventory) view(ctx context.Context, fn func(*file) error) error {
	return lockFile(ctx, inv.lockPath, false, func() error {
		f, err := inv.load()
		if err != nil {
			return err
		}
		return fn(f)
	})
}

func (inv *Inventory) update(ctx context.Context, fn func(*file) error) error {
	return lockFile(ctx, inv.lockPath, true, func() error {
		f, err := inv.load()
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
		slices.SortFunc(f.VCenters, func(a, b VCenter) int { return strings.Compare(a.Name, b.Name) })
		slices.SortFunc(f.Machines, func(a, b Machine) int { return strings.Compare(a.Name, b.Name) })
		b, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			return fmt.Errorf("encode inventory: %w", err)
		}
		return privfile.Write(inv.path, append(b, '\n'))
	})
}

// AddVCenter stores a new vCenter with status Unknown. It does not connect: see Syncer.Add.
func (inv *Inventory) AddVCenter(ctx context.Context, v VCenter) error {
	if err := ValidName(v.Name); err != nil {
		return err
	}
	if err := ValidAddress(v.Address); err != nil {
		return err
	}
	if v.Port == 0 {
		v.Port = DefaultPort
	}
	if v.Port < 1 || v.Port > 65535 {
		return fmt.Errorf("invalid port %d", v.Port)
	}
	tp := "" // none: pinned at the first connection (vCenters added through the vault)
	if v.Thumbprint != "" {
		var err error
		if tp, err = NormalizeThumbprint(v.Thumbprint); err != nil {
			return err
		}
	}
	v.Thumbprint, v.Status, v.Error, v.VMs = tp, Unknown, "", []VM{}
	v.Added = inv.clock.Now().UTC().Truncate(time.Second)
	return inv.update(ctx, func(f *file) error {
		for _, o := range f.VCenters {
			if o.Name == v.Name {
				return fmt.Errorf("vcenter %s: %w", v.Name, ErrExists)
			}
			if strings.EqualFold(o.Address, v.Address) && o.Port == v.Port {
				return fmt.Errorf("vcenter %s: %s:%d is already added as %s", v.Name, v.Address, v.Port, o.Name)
			}
		}
		f.VCenters = append(f.VCenters, v)
		return nil
	})
}

// RemoveVCenter forgets a vCenter and the machines discovered through it.
func (inv *Inventory) RemoveVCenter(ctx context.Context, name string) error {
	return inv.update(ctx, func(f *file) error {
		i := slices.IndexFunc(f.VCenters, func(v VCenter) bool { return v.Name == name })
		if i < 0 {
			return fmt.Errorf("vcenter %s: %w", name, ErrNotFound)
		}
		f.VCenters = slices.Delete(f.VCenters, i, i+1)
		return nil
	})
}

// VCenters returns the vCenters with their last discovered lists, sorted by name.
func (inv *Inventory) VCenters(ctx context.Context) ([]VCenter, error) {
	var out []VCenter
	err := inv.view(ctx, func(f *file) error { out = f.VCenters; return nil })
	return out, err
}

// VCenter returns one vCenter.
func (inv *Inventory) VCenter(ctx context.Context, name string) (VCenter, error) {
	var out VCenter
	err := inv.view(ctx, func(f *file) error {
		i := slices.IndexFunc(f.VCenters, func(v VCenter) bool { return v.Name == name })
		if i < 0 {
			return fmt.Errorf("vcenter %s: %w", name, ErrNotFound)
		}
		out = f.VCenters[i]
		return nil
	})
	return out, err
}

// AddMachine stores a physical server. Its name defaults to the address.
func (inv *Inventory) AddMachine(ctx context.Context, m Machine) (Machine, error) {
	if err := ValidAddress(m.Address); err != nil {
		return Machine{}, err
	}
	if m.Name == "" {
		m.Name = strings.ToLower(strings.ReplaceAll(m.Address, ":", "-"))
	}
	if err := ValidMachineName(m.Name); err != nil {
		return Machine{}, err
	}
	if m.Account == "" {
		return Machine{}, errors.New("no account given: the configuration server needs one to push the mobility service")
	}
	for _, d := range m.Disks {
		if err := validDisk(d); err != nil {
			return Machine{}, err
		}
	}
	if m.Root != "" && (!path.IsAbs(m.Root) || path.Clean(m.Root) != m.Root) {
		return Machine{}, fmt.Errorf("installation root %q: want a clean absolute path", m.Root)
	}
	m.Added = inv.clock.Now().UTC().Truncate(time.Second)
	err := inv.update(ctx, func(f *file) error {
		for _, o := range f.Machines {
			if o.Name == m.Name {
				return fmt.Errorf("machine %s: %w", m.Name, ErrExists)
			}
			if strings.EqualFold(o.Address, m.Address) {
				return fmt.Errorf("machine %s: address %s is already added as %s", m.Name, m.Address, o.Name)
			}
		}
		for _, v := range f.VCenters {
			for _, vm := range v.VMs {
				if vm.Machine == m.Name {
					return fmt.Errorf("machine %s: the name is taken by VM %s of vCenter %s", m.Name, vm.Name, v.Name)
				}
			}
		}
		f.Machines = append(f.Machines, m)
		return nil
	})
	return m, err
}

// RemoveMachine forgets a physical server.
func (inv *Inventory) RemoveMachine(ctx context.Context, name string) error {
	return inv.update(ctx, func(f *file) error {
		i := slices.IndexFunc(f.Machines, func(m Machine) bool { return m.Name == name })
		if i < 0 {
			return fmt.Errorf("machine %s: %w", name, ErrNotFound)
		}
		f.Machines = slices.Delete(f.Machines, i, i+1)
		return nil
	})
}

// Machines returns the physical servers, sorted by name.
func (inv *Inventory) Machines(ctx context.Context) ([]Machine, error) {
	var out []Machine
	err := inv.view(ctx, func(f *file) error { out = f.Machines; return nil })
	return out, err
}

// record stores the outcome of a sync; vms is nil when it failed (the last list is kept).
func (inv *Inventory) record(ctx context.Context, name string, at time.Time, about string, vms []VM, syncErr error) ([]Change, error) {
	var changes []Change
	err := inv.update(ctx, func(f *file) error {
		i := slices.IndexFunc(f.VCenters, func(v VCenter) bool { return v.Name == name })
		if i < 0 {
			return fmt.Errorf("vcenter %s: %w", name, ErrNotFound)
		}
		v := &f.VCenters[i]
		v.LastAttempt = at
		if syncErr != nil {
			v.Status, v.Error = Disconnected, syncErr.Error()
			return nil
		}
		changes = Diff(v.VMs, vms)
		prev := v.VMs
		v.Status, v.Error, v.LastSync, v.VMs = Connected, "", at, vms
		assignMachines(f, name, prev)
		pushes := map[string]*PushResult{} // the outcome of pushes stays with the VM
		for _, vm := range prev {
			if vm.Push != nil {
				pushes[vmKey(vm)] = vm.Push
			}
		}
		for j := range v.VMs {
			v.VMs[j].Push = pushes[vmKey(v.VMs[j])]
		}
		if about != "" {
			v.About = about
		}
		return nil
	})
	return changes, err
}

// pin records the thumbprint of a vCenter that had none.
func (inv *Inventory) pin(ctx context.Context, name, tp string) error {
	return inv.update(ctx, func(f *file) error {
		i := slices.IndexFunc(f.VCenters, func(v VCenter) bool { return v.Name == name })
		if i < 0 {
			return fmt.Errorf("vcenter %s: %w", name, ErrNotFound)
		}
		if f.VCenters[i].Thumbprint == "" {
			f.VCenters[i].Thumbprint = tp
		}
		return nil
	})
}

// markRefreshed records that the vault's refresh request gen was carried out.
func (inv *Inventory) markRefreshed(ctx context.Context, name string, gen int64) error {
	return inv.update(ctx, func(f *file) error {
		i := slices.IndexFunc(f.VCenters, func(v VCenter) bool { return v.Name == name })
		if i < 0 {
			return fmt.Errorf("vcenter %s: %w", name, ErrNotFound)
		}
		f.VCenters[i].Refreshed = max(f.VCenters[i].Refreshed, gen)
		return nil
	})
}

// validDisk checks a NAME=PATH disk of a physical server.
func validDisk(d string) error {
	name, p, ok := strings.Cut(d, "=")
	if !ok || name == "" || !path.IsAbs(p) || strings.ContainsAny(name, " /=") {
		return fmt.Errorf("disk %q: want NAME=PATH with an absolute path", d)
	}
	return nil
}

// SetPushAccount sets (or, with "", clears) the ssh account pushes to a vCenter's VMs use.
func (inv *Inventory) SetPushAccount(ctx context.Context, name, account string) error {
	if account != "" {
		if err := ValidName(account); err != nil {
			return err
		}
	}
	return inv.update(ctx, func(f *file) error {
		i := slices.IndexFunc(f.VCenters, func(v VCenter) bool { return v.Name == name })
		if i < 0 {
			return fmt.Errorf("vcenter %s: %w", name, ErrNotFound)
		}
		f.VCenters[i].PushAccount = account
		return nil
	})
}

// RecordPush stores the outcome of an automatic push to machine (a physical server, or a VM by its
// machine name). A machine that is no longer in the inventory is left alone.
func (inv *Inventory) RecordPush(ctx context.Context, machine string, r PushResult) error {
	r.Time = r.Time.UTC().Truncate(time.Second)
	return inv.update(ctx, func(f *file) error {
		for i := range f.Machines {
			if f.Machines[i].Name == machine {
				f.Machines[i].Push = &r
				return nil
			}
		}
		for i := range f.VCenters {
			for j := range f.VCenters[i].VMs {
				if f.VCenters[i].VMs[j].Machine == machine {
					f.VCenters[i].VMs[j].Push = &r
					return nil
				}
			}
		}
		return nil
	})
}
