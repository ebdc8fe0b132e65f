package configserver

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// MachineReport is one machine in a process server's heartbeat (the machines of its /health
// document): what the configuration server learns of each machine's change rate and backlog.
type MachineReport struct {
	Machine        string  `json:"machine"`
	Connected      bool    `json:"connected"`
	BacklogBytes   int64   `json:"backlog_bytes"`
	ChurnBytesPerS float64 `json:"churn_bytes_per_second"`
}

// CacheHorizon is how much of a machine's change a process server's cache must be able to hold
// for it: the drain-time warning, so that an upload stall shows as an alert before the cache fills.
// The cache space a machine needs is its backlog plus CacheHorizon of its average change rate.
const CacheHorizon = DrainWarn

// churnWindow is what the average change rate of a machine averages over.
const churnWindow = time.Hour

// balanceUnit is the load every machine counts for besides its change rate (4 KiB a second), so
// that machines that change nothing still spread by number.
const balanceUnit = 4096.0

type churnSample struct {
	at time.Time
	v  float64
}

// scaleState is what the scale-out decisions remember; it lives in the Registry, under its mutex.
// It is in memory only: after a restart holds and averages start over.
type scaleState struct {
	started   time.Time
	settings  ScaleOutSettings
	samples   map[string][]churnSample // machine → its process server's churn reports of the last hour
	last      map[string]MachineReport // machine → the newest report of its process server
	sampledAt map[string]time.Time     // process server → the heartbeat last sampled
	movedAt   map[string]time.Time     // machine → its last move
	badAt     map[string]time.Time     // process server → the last time it was lost or overloaded
	critSince map[string]time.Time     // process server → since when it is rated Critical
	shedAt    map[string]time.Time     // process server → its last automatic shed
	offSince  map[string]time.Time     // machine → since when its agent reports no session with its process server
	admitted  map[string]bool          // machines started within the resync budget, until protected
	done      map[string]bool          // machines that reported protected since this server started
	waiting   map[string]time.Time     // machines held back by the resync budget → since when
	noted     map[string]string        // process server → the last note about it, so that it is logged once
	bump      bool                     // slots were given outside a tick: the next tick tells the agents
	events    []MoveEvent
}

func (s *scaleState) init(now time.Time) {
	if s.samples != nil {
		return
	}
	s.started = now
	if s.settings.Version == 0 {
		s.settings = DefaultScaleOut()
	}
	s.samples, s.last, s.sampledAt = map[string][]churnSample{}, map[string]MachineReport{}, map[string]time.Time{}
	s.movedAt, s.badAt, s.critSince, s.shedAt = map[string]time.Time{}, map[string]time.Time{}, map[string]time.Time{}, map[string]time.Time{}
	s.offSince, s.admitted, s.done, s.waiting = map[string]time.Time{}, map[string]bool{}, map[string]bool{}, map[string]time.Time{}
	s.noted = map[string]string{}
}

// MachineLoad is a machine as switch, balance and the automatic moves see it.
type MachineLoad struct {
	Machine        string     `json:"machine"`
	ProcessServer  string     `json:"process_server"`
	ChurnBytesPerS float64    `json:"churn_bytes_per_second"` // average over the last hour of its process server's reports
	BacklogBytes   int64      `json:"backlog_bytes"`
	CacheNeedBytes int64      `json:"cache_need_bytes"` // backlog + CacheHorizon of the average change rate
	State          string     `json:"state,omitempty"`  // the agent's replication state; "queued": held back by the resync budget
	MovedAt        *time.Time `json:"moved_at,omitempty"`
}

// PSLoad is a process server as the scale-out decisions see it.
type PSLoad struct {
	Name             string  `json:"name"`
	Address          string  `json:"address"`
	Status           Status  `json:"status"`
	Reason           string  `json:"reason,omitempty"`
	Lost             string  `json:"lost,omitempty"`       // why it is lost; empty: it is not
	Overloaded       string  `json:"overloaded,omitempty"` // why it sheds load; empty: it does not
	Eligible         bool    `json:"eligible"`             // may receive machines automatically
	Machines         int     `json:"machines"`
	ChurnBytesPerS   float64 `json:"churn_bytes_per_second"`
	CacheBytes       int64   `json:"cache_bytes,omitempty"`
	CacheFreeBytes   int64   `json:"cache_free_bytes,omitempty"`
	CacheFreePercent float64 `json:"cache_free_percent"`
	ResyncSlots      int     `json:"resync_slots"` // 0: no cap
	ResyncSlotsUsed  int     `json:"resync_slots_used"`
	rescue           bool    // may receive the machines of a lost process server
}

// cacheNeed is the cache space a machine needs on a process server.
func cacheNeed(churn float64, backlog int64) int64 {
	return backlog + int64(churn*CacheHorizon.Seconds())
}

// sampleLocked takes the machines of every process server heartbeat not sampled yet into the
// averages, and follows which agents report no session with their process server.
func (r *Registry) sampleLocked(now time.Time) {
	so := &r.so
	so.init(now)
	for _, p := range r.st.ProcessServers {
		b, ok := r.beats["ps/"+p.Name]
		if !ok || !b.at.After(so.sampledAt[p.Name]) {
			continue
		}
		so.sampledAt[p.Name] = b.at
		for _, m := range b.ps.Machines {
			if r.assignedLocked(m.Machine) != p.Name {
				continue // a machine that left keeps being listed by its old process server for a while
			}
			so.last[m.Machine] = m
			s := append(so.samples[m.Machine], churnSample{at: b.at, v: m.ChurnBytesPerS})
			i := 0
			for i < len(s) && now.Sub(s[i].at) > churnWindow {
				i++
			}
			so.samples[m.Machine] = s[i:]
		}
	}
	for _, a := range r.st.Agents {
		b, ok := r.beats["agent/"+a.Machine]
		off := ok && b.agent.ProcessServerConnected != nil && !*b.agent.ProcessServerConnected && b.agent.State != "" &&
			b.at.After(so.movedAt[a.Machine])
		switch {
		case !off:
			delete(so.offSince, a.Machine)
		case so.offSince[a.Machine].IsZero():
			so.offSince[a.Machine] = now
		}
		if ok && b.agent.State == "protected" {
			so.done[a.Machine] = true
		}
	}
}

func (r *Registry) assignedLocked(machine string) string {
	for _, a := range r.st.Agents {
		if a.Machine == machine {
			return a.ProcessServer
		}
	}
	return ""
}

// churnLocked is the machine's average change rate over churnWindow.
func (r *Registry) churnLocked(machine string) float64 {
	s := r.so.samples[machine]
	if len(s) == 0 {
		return 0
	}
	var sum float64
	for _, x := range s {
		sum += x.v
	}
	return sum / float64(len(s))
}

// lostLocked says why a process server is lost: no heartbeat for LostAfterSeconds, or every
// replicating agent of it (at least two, or one while the process server's heartbeat is late)
// reporting for UnreachableAfterSeconds that it cannot reach it.
func (r *Registry) lostLocked(name string, enrolled, now time.Time) string {
	so := &r.so
	lostAfter := secs(so.settings.LostAfterSeconds)
	b, ok := r.beats["ps/"+name]
	since := so.started
	if enrolled.After(since) {
		since = enrolled
	}
	switch {
	case !ok && now.Sub(since) > lostAfter:
		return fmt.Sprintf("no heartbeat for %s since it enrolled or this configuration server started", now.Sub(since).Truncate(time.Second))
	case ok && now.Sub(b.at) > lostAfter:
		return fmt.Sprintf("no heartbeat for %s", now.Sub(b.at).Truncate(time.Second))
	}
	n, off := 0, time.Duration(-1)
	for _, a := range r.st.Agents {
		ab, ok := r.beats["agent/"+a.Machine]
		if a.ProcessServer != name || !ok || ab.agent.ProcessServerConnected == nil || ab.agent.State == "" || now.Sub(ab.at) > LateAfter ||
			!ab.at.After(so.movedAt[a.Machine]) {
			continue
		}
		n++
		since, isOff := so.offSince[a.Machine]
		if !isOff {
			return ""
		}
		if d := now.Sub(since); off < 0 || d < off {
			off = d
		}
	}
	// One agent alone may be the one cut off: it counts when the process server's own heartbeat
	// is late too.
	late := ok && now.Sub(b.at) > HeartbeatInterval+5*time.Second
	if (n >= 2 || (n == 1 && late)) && off >= secs(so.settings.UnreachableAfterSeconds) {
		return fmt.Sprintf("its %d replicating agents cannot reach it (for %s)", n, off.Truncate(time.Second))
	}
	return ""
}

// loadsLocked rates every process server and machine at now.
func (r *Registry) loadsLocked(now time.Time) ([]PSLoad, []MachineLoad) {
	so := &r.so
	so.init(now)
	byPS := map[string]*PSLoad{}
	pss := make([]PSLoad, 0, len(r.st.ProcessServers))
	assigned := map[string]int{}
	for _, a := range r.st.Agents {
		assigned[a.ProcessServer]++
	}
	for _, p := range r.st.ProcessServers {
		b, ok := r.beats["ps/"+p.Name]
		h := b.ps
		if ok && h.CacheBytes == 0 && h.CacheFreePercent == 0 {
			h.CacheFreePercent = 100 // no cache figures (not serving yet): unknown, not full
		}
		st, why := psStatus(r.clock, b.at, h)
		l := PSLoad{Name: p.Name, Address: p.Address, Status: st, Reason: why, ResyncSlots: so.settings.ResyncBudgetPerProcessServer}
		if ok {
			l.CacheBytes, l.CacheFreeBytes, l.CacheFreePercent = b.ps.CacheBytes, b.ps.CacheFreeBytes, b.ps.CacheFreePercent
		}
		l.Lost = r.lostLocked(p.Name, p.Enrolled, now)
		if st == Critical && l.Lost == "" {
			if so.critSince[p.Name].IsZero() {
				so.critSince[p.Name] = now
			}
			if d := now.Sub(so.critSince[p.Name]); d >= secs(so.settings.OverloadAfterSeconds) {
				l.Overloaded = fmt.Sprintf("rated Critical for %s: %s", d.Truncate(time.Second), why)
			}
		} else {
			delete(so.critSince, p.Name)
		}
		if (l.Lost != "" || l.Overloaded != "") && assigned[p.Name] > 0 {
			so.badAt[p.Name] = now // one without machines that fails has failed nobody (a new one not started yet)
		}
		bad, wasBad := so.badAt[p.Name]
		held := wasBad && now.Sub(bad) < secs(so.settings.HoldSeconds)
		l.Eligible = l.Lost == "" && (st == Connected || st == Warning) && !held
		// The machines of a lost process server replicate nowhere: they may also go to one rated
		// Critical for a moment (a backlog without upload progress yet), not to an overloaded one.
		l.rescue = l.Lost == "" && l.Overloaded == "" && st != Disconnected && !held
		pss = append(pss, l)
	}
	for i := range pss {
		byPS[pss[i].Name] = &pss[i]
	}
	ms := make([]MachineLoad, 0, len(r.st.Agents))
	for _, a := range r.st.Agents {
		m := MachineLoad{Machine: a.Machine, ProcessServer: a.ProcessServer, ChurnBytesPerS: r.churnLocked(a.Machine),
			BacklogBytes: so.last[a.Machine].BacklogBytes, State: r.beats["agent/"+a.Machine].agent.State}
		m.CacheNeedBytes = cacheNeed(m.ChurnBytesPerS, m.BacklogBytes)
		if t, ok := so.movedAt[a.Machine]; ok {
			m.MovedAt = timePtr(t)
		}
		if r.queuedLocked(a.Machine) {
			m.State = "queued"
		}
		if p := byPS[a.ProcessServer]; p != nil {
			p.Machines++
			p.ChurnBytesPerS += m.ChurnBytesPerS
			if r.holdsSlotLocked(a.Machine) {
				p.ResyncSlotsUsed++
			}
		}
		ms = append(ms, m)
	}
	return pss, ms
}

// plan is a working copy of the loads that planned moves update.
type plan struct {
	ps    map[string]*PSLoad
	names []string
	ms    []MachineLoad
	moves []Move
}

func newPlan(pss []PSLoad, ms []MachineLoad) *plan {
	p := &plan{ps: map[string]*PSLoad{}, ms: slices.Clone(ms)}
	for i := range pss {
		l := pss[i]
		p.ps[l.Name] = &l
		p.names = append(p.names, l.Name)
	}
	return p
}

func (p *plan) machine(name string) *MachineLoad {
	for i := range p.ms {
		if p.ms[i].Machine == name {
			return &p.ms[i]
		}
	}
	return nil
}

// freeAfter is the target's cache free share once need more bytes arrive there (its reported
// share when it does not report bytes). A process server that reported no cache figures at all
// (its health could not be read, as in the first heartbeat after a start) is not judged full:
// whether it may take machines is its status's to say.
func freeAfter(t *PSLoad, need int64) float64 {
	if t.CacheBytes <= 0 && t.CacheFreePercent == 0 {
		return 100
	}
	if t.CacheBytes <= 0 {
		return t.CacheFreePercent
	}
	return 100 * float64(t.CacheFreeBytes-need) / float64(t.CacheBytes)
}

// move records a move in the plan and updates the loads.
func (p *plan) move(m *MachineLoad, to, reason string) Move {
	from, t := p.ps[m.ProcessServer], p.ps[to]
	mv := Move{Machine: m.Machine, From: m.ProcessServer, To: to, ChurnBytesPerS: m.ChurnBytesPerS, CacheNeedBytes: m.CacheNeedBytes, Reason: reason}
	if from != nil {
		from.Machines--
		from.ChurnBytesPerS -= m.ChurnBytesPerS
		if from.CacheBytes > 0 {
			from.CacheFreeBytes += m.BacklogBytes
		}
	}
	if t.CacheBytes > 0 {
		t.CacheFreeBytes -= m.CacheNeedBytes
	}
	mv.TargetCacheFreePercent = freeAfter(t, 0)
	t.Machines++
	t.ChurnBytesPerS += m.ChurnBytesPerS
	m.ProcessServer = to
	p.moves = append(p.moves, mv)
	return mv
}

// target picks where a machine goes among the eligible process servers other than its own that
// keep at least minFree percent of their cache free with it: Connected before Warning, then the
// least change rate, the fewest machines, the name.
func (p *plan) target(m *MachineLoad, minFree float64, allowed func(string) bool) string {
	best := ""
	for _, n := range p.names {
		t := p.ps[n]
		if n == m.ProcessServer || !allowed(n) || freeAfter(t, m.CacheNeedBytes) < minFree {
			continue
		}
		if best == "" || betterTarget(t, p.ps[best]) {
			best = n
		}
	}
	return best
}

func betterTarget(a, b *PSLoad) bool {
	if (a.Status == Connected) != (b.Status == Connected) {
		return a.Status == Connected
	}
	if c := cmp.Compare(a.ChurnBytesPerS+balanceUnit*float64(a.Machines), b.ChurnBytesPerS+balanceUnit*float64(b.Machines)); c != 0 {
		return c < 0
	}
	return a.Name < b.Name
}

// byChurn orders machines by change rate, largest first, then by name.
func byChurn(a, b MachineLoad) int {
	if c := cmp.Compare(b.ChurnBytesPerS, a.ChurnBytesPerS); c != 0 {
		return c
	}
	return cmp.Compare(a.Machine, b.Machine)
}
