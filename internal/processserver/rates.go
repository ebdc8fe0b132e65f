package processserver

import (
	"math"
	"sync"
	"time"
)

// rate is an exponentially weighted bytes-per-second estimate over a counter.
type rate struct {
	last    int64
	lastAt  time.Time
	perSec  float64
	started bool
}

// rateHalfLife weighs the last minute most.
const rateHalfLife = 30 * time.Second

func (r *rate) sample(total int64, now time.Time) {
	if !r.started {
		r.last, r.lastAt, r.started = total, now, true
		return
	}
	dt := now.Sub(r.lastAt).Seconds()
	if dt <= 0 {
		return
	}
	inst := float64(total-r.last) / dt
	alpha := 1 - math.Exp2(-dt/rateHalfLife.Seconds())
	r.perSec += alpha * (inst - r.perSec)
	r.last, r.lastAt = total, now
}

// rates follows the upload and receive counters of the server and of each machine.
type rates struct {
	mu       sync.Mutex
	up, in   rate
	machines map[string]*[2]rate // in, up
}

func (s *Server) sampleRates() {
	now := s.clock.Now()
	s.rates.mu.Lock()
	defer s.rates.mu.Unlock()
	if s.rates.machines == nil {
		s.rates.machines = map[string]*[2]rate{}
	}
	var in, up int64
	for _, m := range s.machineList() {
		r := s.rates.machines[m.name]
		if r == nil {
			r = &[2]rate{}
			s.rates.machines[m.name] = r
		}
		bi, bu := m.bytesIn.Load(), m.bytesUp.Load()
		r[0].sample(bi, now)
		r[1].sample(bu, now)
		in += bi
		up += bu
	}
	s.rates.in.sample(in, now)
	s.rates.up.sample(up, now)
}
