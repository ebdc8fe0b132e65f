package configserver

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver/enroll"
	"github.com/opensiterecovery/osr/internal/configserver/privfile"
	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
)

// ProcessServerRecord is an enrolled process server.
type ProcessServerRecord struct {
	Name     string    `json:"name"`
	Address  string    `json:"address"`
	Serial   string    `json:"serial"` // of its current certificate; older ones are refused
	Enrolled time.Time `json:"enrolled"`
}

// AgentRecord is an enrolled mobility agent.
type AgentRecord struct {
	Machine       string    `json:"machine"`
	Info          AgentInfo `json:"info"`
	ProcessServer string    `json:"process_server"` // assigned process server name; empty: none
	Serial        string    `json:"serial"`
	Enrolled      time.Time `json:"enrolled"`
}

// state is state.json (docs/formats/config-server.md).
type state struct {
	Version        int                     `json:"version"`
	ConfigVersion  int64                   `json:"config_version"` // grows with every change agents or process servers must see
	ProcessServers []ProcessServerRecord   `json:"process_servers"`
	Agents         []AgentRecord           `json:"agents"`
	Desired        *vaultlink.DesiredState `json:"desired,omitempty"`
}

type seen struct {
	at    time.Time
	ps    PSHealth
	agent AgentHeartbeat
}

// Registry holds the process servers and agents of the configuration server, their assignment
// and their heartbeats. Changes are written to state.json before they are visible; heartbeats live
// in memory. It is safe for concurrent use.
type Registry struct {
	path  string
	clock clock.Clock
	fsync finalSyncs // the vault's final-sync and latest-received requests (finalsync.go)

	mu      sync.Mutex
	st      state
	beats   map[string]seen // "ps/NAME" or "agent/NAME"
	changed chan struct{}   // closed and replaced at every ConfigVersion change
	reports chan struct{}   // receives when an agent's replication report changed
	so      scaleState      // scale-out: averages, holds, resync budget (balance.go, budget.go)
}

// OpenRegistry loads state.json at path (missing: empty).
func OpenRegistry(path string, c clock.Clock) (*Registry, error) {
	r := &Registry{path: path, clock: c, beats: map[string]seen{}, changed: make(chan struct{}), reports: make(chan struct{}, 1), st: state{Version: 1}}
	b, err := privfile.Read(path, 256<<20)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read state: %w", err)
	default:
		st, err := decodeState(b)
		if err != nil {
			return nil, fmt.Errorf("read state: %s: %w", path, err)
		}
		r.st = *st
	}
	return r, nil
}

// decodeState parses and checks state.json.
func decodeState(b []byte) (*state, error) {
	var st state
	if err := strictJSON(b, &st); err != nil {
		return nil, err
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("version %d, this osr reads version 1", st.Version)
	}
	seen := map[string]bool{}
	for _, p := range st.ProcessServers {
		if enroll.ValidName(p.Name) != nil || seen["ps/"+p.Name] {
			return nil, fmt.Errorf("process server %q is invalid or listed twice", p.Name)
		}
		seen["ps/"+p.Name] = true
	}
	for _, a := range st.Agents {
		if enroll.ValidName(a.Machine) != nil || seen["agent/"+a.Machine] {
			return nil, fmt.Errorf("machine %q is invalid or listed twice", a.Machine)
		}
		seen["agent/"+a.Machine] = true
	}
	return &st, nil
}

// update applies fn to a copy of the state, writes it and makes it current. bump says whether
// holders must fetch their configuration again.
func (r *Registry) update(bump bool, fn func(st *state) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := r.st
	next.ProcessServers = slices.Clone(r.st.ProcessServers)
	next.Agents = slices.Clone(r.st.Agents)
	if err := fn(&next); err != nil {
		return err
	}
	if bump {
		next.ConfigVersion++
	}
	if err := writeJSON(r.path, next); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	r.st = next
	if bump {
		close(r.changed)
		r.changed = make(chan struct{})
	}
	return nil
}

// AddProcessServer records (or re-records, after a reinstall) an enrolled process server.
func (r *Registry) AddProcessServer(p ProcessServerRecord) error {
	return r.update(true, func(st *state) error {
		st.ProcessServers = slices.DeleteFunc(st.ProcessServers, func(x ProcessServerRecord) bool { return x.Name == p.Name })
		st.ProcessServers = append(st.ProcessServers, p)
		slices.SortFunc(st.ProcessServers, func(a, b ProcessServerRecord) int { return strings.Compare(a.Name, b.Name) })
		return nil
	})
}

// AddAgent records an enrolled agent and assigns it a process server: the one the vault chose, or
// the one with the fewest machines.
func (r *Registry) AddAgent(a AgentRecord) (AgentRecord, error) {
	err := r.update(true, func(st *state) error {
		st.Agents = slices.DeleteFunc(st.Agents, func(x AgentRecord) bool { return x.Machine == a.Machine })
		if a.ProcessServer == "" {
			a.ProcessServer = chooseProcessServer(st, a.Machine)
		}
		st.Agents = append(st.Agents, a)
		slices.SortFunc(st.Agents, func(x, y AgentRecord) int { return strings.Compare(x.Machine, y.Machine) })
		return nil
	})
	if err == nil {
		r.report() // the vault's inventory gets the machine at once
	}
	return a, err
}

// chooseProcessServer returns the vault's choice for machine, else the least loaded process server.
func chooseProcessServer(st *state, machine string) string {
	if st.Desired != nil {
		for _, d := range st.Desired.Items {
			if d.Machine == machine && d.ProcessServer != "" && hasPS(st, d.ProcessServer) {
				return d.ProcessServer
			}
		}
	}
	best, bestN := "", -1
	for _, p := range st.ProcessServers {
		n := 0
		for _, a := range st.Agents {
			if a.ProcessServer == p.Name {
				n++
			}
		}
		if bestN < 0 || n < bestN {
			best, bestN = p.Name, n
		}
	}
	return best
}

func hasPS(st *state, name string) bool {
	return slices.ContainsFunc(st.ProcessServers, func(p ProcessServerRecord) bool { return p.Name == name })
}

// SetDesired stores the vault's desired state and applies its process server choices.
func (r *Registry) SetDesired(d *vaultlink.DesiredState) error {
	return r.update(true, func(st *state) error {
		prev := st.Desired
		st.Desired = d
		for i, a := range st.Agents {
			for _, it := range d.Items {
				// Only a new choice of the vault moves a machine: one it made before may have been
				// overridden by a switch, a balance or an automatic move since.
				if it.Machine == a.Machine && it.ProcessServer != "" && hasPS(st, it.ProcessServer) && desiredPS(prev, a.Machine) != it.ProcessServer {
					st.Agents[i].ProcessServer = it.ProcessServer
				}
			}
			if st.Agents[i].ProcessServer == "" {
				st.Agents[i].ProcessServer = chooseProcessServer(st, a.Machine)
			}
		}
		return nil
	})
}

// HasAgent reports whether an agent of machine has enrolled with this configuration server.
func (r *Registry) HasAgent(machine string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.st.Agents, func(a AgentRecord) bool { return a.Machine == machine })
}

// DesiredVersion returns the version of the stored desired state (0: none).
func (r *Registry) DesiredVersion() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st.Desired == nil {
		return 0
	}
	return r.st.Desired.Version
}

// Serial returns the current certificate serial of a process server or agent ("" if unknown).
func (r *Registry) Serial(kind, name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch kind {
	case "process-server":
		for _, p := range r.st.ProcessServers {
			if p.Name == name {
				return p.Serial
			}
		}
	case "agent":
		for _, a := range r.st.Agents {
			if a.Machine == name {
				return a.Serial
			}
		}
	}
	return ""
}

// SetSerial records a renewed certificate.
func (r *Registry) SetSerial(kind, name, serial string) error {
	return r.update(false, func(st *state) error {
		for i := range st.ProcessServers {
			if kind == "process-server" && st.ProcessServers[i].Name == name {
				st.ProcessServers[i].Serial = serial
			}
		}
		for i := range st.Agents {
			if kind == "agent" && st.Agents[i].Machine == name {
				st.Agents[i].Serial = serial
			}
		}
		return nil
	})
}

// BeatPS records a process server heartbeat; a changed address is stored and announced to agents.
func (r *Registry) BeatPS(name string, h PSHealth) error {
	r.mu.Lock()
	r.beats["ps/"+name] = seen{at: r.clock.Now(), ps: h}
	r.fsync.psBeat(name, h.Drain, h.HealthAnswer)
	var moved bool
	for _, p := range r.st.ProcessServers {
		if p.Name == name && h.Address != "" && h.Address != p.Address {
			moved = true
		}
	}
	r.mu.Unlock()
	if !moved {
		return nil
	}
	return r.update(true, func(st *state) error {
		for i := range st.ProcessServers {
			if st.ProcessServers[i].Name == name {
				st.ProcessServers[i].Address = h.Address
			}
		}
		return nil
	})
}

// BeatAgent records an agent heartbeat.
func (r *Registry) BeatAgent(machine string, h AgentHeartbeat) {
	r.mu.Lock()
	old, had := r.beats["agent/"+machine]
	r.beats["agent/"+machine] = seen{at: r.clock.Now(), agent: h}
	r.fsync.agentBeat(machine, h.FinalSync)
	r.mu.Unlock()
	if !had || reportChanged(old.agent, h) {
		r.report()
	}
}

func (r *Registry) report() {
	select {
	case r.reports <- struct{}{}:
	default:
	}
}

// reportChanged tells whether the vault would see another item report (state, newest point,
// error); the initial replication's progress counts in steps of 10 %.
func reportChanged(a, b AgentHeartbeat) bool {
	return a.State != b.State || a.LastPointID != b.LastPointID || a.Error != b.Error || int(a.InitialPercent/10) != int(b.InitialPercent/10)
}

// Reports receives when an agent enrolled or its replication report changed, so that the vault
// hears of it before the next periodic heartbeat.
func (r *Registry) Reports() <-chan struct{} { return r.reports }

// ConfigVersion returns the current configuration version and a channel closed when it changes.
func (r *Registry) ConfigVersion() (int64, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.ConfigVersion, r.changed
}

// AgentConfig returns what agent machine is told.
func (r *Registry) AgentConfig(machine string) (AgentConfig, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.IndexFunc(r.st.Agents, func(a AgentRecord) bool { return a.Machine == machine })
	if i < 0 {
		return AgentConfig{}, false
	}
	a := r.st.Agents[i]
	c := AgentConfig{Version: r.st.ConfigVersion, Machine: machine, HeartbeatSeconds: int64(HeartbeatInterval / time.Second)}
	c.FinalSync = r.fsync.order(machine)
	for _, p := range r.st.ProcessServers {
		if p.Name == a.ProcessServer {
			c.ProcessServer, c.ProcessServerName = p.Address, p.Name
		}
	}
	if r.st.Desired != nil {
		for _, d := range r.st.Desired.Items {
			if d.Machine == machine {
				pol := d.Policy
				c.Replicate, c.Policy = true, &pol
			}
		}
	}
	c.Replicate = c.Replicate && r.allowedLocked(machine) // the resync budget (budget.go)
	return c, true
}

// PSConfig returns what process server name is told.
func (r *Registry) PSConfig(name string) (PSConfig, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !hasPS(&r.st, name) {
		return PSConfig{}, false
	}
	c := PSConfig{Version: r.st.ConfigVersion, Name: name, Machines: []PSMachine{}}
	c.HealthAsk = r.fsync.asked(name)
	if r.st.Desired != nil && r.st.Desired.Storage.URL != "" {
		s := r.st.Desired.Storage
		c.Storage = &s
	}
	for _, a := range r.st.Agents {
		if a.ProcessServer != name {
			continue
		}
		m := PSMachine{Machine: a.Machine}
		if r.st.Desired != nil {
			for _, d := range r.st.Desired.Items {
				if d.Machine == a.Machine {
					pol := d.Policy
					m.Policy = &pol
				}
			}
		}
		c.Machines = append(c.Machines, m)
	}
	return c, true
}
