package configserver

// Health asks (docs/formats/final-sync.md, "Health asks"). A latest-received request needs the
// process server's drain state as it was after the request arrived. Instead of waiting for two of
// its periodic heartbeats, the configuration server asks: it sets PSConfig.HealthAsk to the
// configuration version that carries the ask, so that the process server's long poll delivers it
// at once; the process server then reads its health and heartbeats at once with
// PSHealth.HealthAnswer set to the newest ask it had before it read that health. Configuration
// versions are stored and only grow, so an answer to an ask of an earlier run of the
// configuration server is always below a new ask: it is never taken for an answer to it.
// A process server that does not know asks never sends an answer; the request then falls back to
// the second heartbeat after it (finalsync_loop.go).

// askHealth asks process server ps for a heartbeat whose health is read from now on, and returns
// the ask: a heartbeat with HealthAnswer >= it answers. The ask reaches the process server with
// its next configuration fetch, which it wakes.
func (r *Registry) askHealth(ps string) (int64, error) {
	var ask int64
	err := r.update(true, func(st *state) error {
		ask = st.ConfigVersion + 1 // the version update gives the state it writes
		r.fsync.setAsk(ps, ask)
		return nil
	})
	return ask, err
}

// setAsk records the newest health ask of process server ps.
func (f *finalSyncs) setAsk(ps string, ask int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.asks == nil {
		f.asks = map[string]int64{}
	}
	f.asks[ps] = max(f.asks[ps], ask)
}

// asked returns the newest health ask of process server ps, 0 when none.
func (f *finalSyncs) asked(ps string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asks[ps]
}

// answered returns the drain state of machine in the oldest kept heartbeat of process server ps
// that answers ask (HealthAnswer >= ask); found is false when none does, listed is false when that
// heartbeat did not list the machine.
func (f *finalSyncs) answered(ps, machine string, ask int64) (d PSDrain, listed, found bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.drains[ps] {
		if ask > 0 && b.answer >= ask {
			d, listed = find(b.drains, machine)
			return d, listed, true
		}
	}
	return PSDrain{}, false, false
}

// answers reports whether process server ps has answered a health ask since the configuration
// server started.
func (f *finalSyncs) answers(ps string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.answering[ps]
}
