package processserver

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Health is the JSON answer of /health.
type Health struct {
	Name             string          `json:"name"`
	Status           string          `json:"status"` // ok, warning, critical
	Problems         []string        `json:"problems,omitempty"`
	Reading          bool            `json:"reading"` // false while agents are held back
	HoldReason       string          `json:"hold_reason,omitempty"`
	CPUPercent       float64         `json:"cpu_percent"` // of all the machine's CPUs (0–100), over the last second or more
	RSSBytes         int64           `json:"rss_bytes"`
	CacheFreePercent float64         `json:"cache_free_percent"`
	CacheBytes       int64           `json:"cache_bytes"`      // the budget, or the file system's size (catchup.go)
	CacheFreeBytes   int64           `json:"cache_free_bytes"` // what the cache may still take
	BacklogBytes     int64           `json:"backlog_bytes"`
	UploadBytesPerS  float64         `json:"upload_bytes_per_second"`
	DrainSeconds     float64         `json:"drain_seconds"` // projected time to upload the backlog; -1: no upload progress
	ConnectedAgents  int             `json:"connected_agents"`
	LastError        string          `json:"last_error,omitempty"`
	Machines         []MachineHealth `json:"machines"`
	// Drain is, per machine, how far what was acknowledged is committed (drain.go).
	Drain []DrainState `json:"drain"`
}

// MachineHealth is one machine in /health.
type MachineHealth struct {
	Machine         string  `json:"machine"`
	Connected       bool    `json:"connected"`
	CommittedSeq    uint64  `json:"committed_seq"`
	CachedPoints    int     `json:"cached_points"`
	BacklogBytes    int64   `json:"backlog_bytes"`
	ChurnBytesPerS  float64 `json:"churn_bytes_per_second"`
	UploadBytesPerS float64 `json:"upload_bytes_per_second"`
	LastError       string  `json:"last_error,omitempty"`
}

// Health measures the server now.
func (s *Server) Health() Health {
	s.sampleRates()
	h := Health{Name: s.name, Status: "ok", Reading: true, RSSBytes: rss(), CPUPercent: s.cpu.percent(s.clock.Now())}
	h.HoldReason, _ = s.gate.state()
	h.Reading = h.HoldReason == ""
	free, err := s.cache.freePercent()
	h.CacheFreePercent = free
	h.CacheBytes, h.CacheFreeBytes, _ = s.cache.cacheSpace()
	h.BacklogBytes = s.backlogBytes()
	h.LastError = s.lastErrText()
	s.rates.mu.Lock()
	h.UploadBytesPerS = s.rates.up.perSec
	for _, m := range s.machineList() {
		m.mu.Lock()
		mh := MachineHealth{Machine: m.name, Connected: m.sess != nil, CommittedSeq: m.newest, CachedPoints: len(m.queue)}
		m.mu.Unlock()
		mh.BacklogBytes = m.backlog()
		if r := s.rates.machines[m.name]; r != nil {
			mh.ChurnBytesPerS, mh.UploadBytesPerS = r[0].perSec, r[1].perSec
		}
		if v, ok := m.lastErr.Load().(string); ok {
			mh.LastError = v
		}
		if mh.Connected {
			h.ConnectedAgents++
		}
		h.Machines = append(h.Machines, mh)
	}
	s.rates.mu.Unlock()
	h.Drain = s.drainStates()
	sort.Slice(h.Machines, func(i, j int) bool { return h.Machines[i].Machine < h.Machines[j].Machine })
	switch {
	case h.BacklogBytes == 0:
		h.DrainSeconds = 0
	case h.UploadBytesPerS > 1:
		h.DrainSeconds = float64(h.BacklogBytes) / h.UploadBytesPerS
	default:
		h.DrainSeconds = -1
	}
	level := 0
	raise := func(l int, p string) {
		level = max(level, l)
		h.Problems = append(h.Problems, p)
	}
	if err != nil {
		raise(2, err.Error())
	} else if free < CacheCriticalFreePercent {
		raise(2, "cache free space below "+strconv.Itoa(int(CacheCriticalFreePercent))+"%")
	} else if free < CacheWarningFreePercent {
		raise(1, "cache free space below "+strconv.Itoa(int(CacheWarningFreePercent))+"%")
	}
	drain := time.Duration(h.DrainSeconds * float64(time.Second))
	switch {
	case h.DrainSeconds < 0 || drain > DrainCritical:
		raise(2, "upload backlog drains in more than "+DrainCritical.String())
	case drain > DrainWarning:
		raise(1, "upload backlog drains in more than "+DrainWarning.String())
	}
	if s.storageDown() {
		raise(2, "vault storage unreachable")
	}
	h.Status = [...]string{"ok", "warning", "critical"}[level]
	return h
}

// HealthHandler serves /health (JSON) and /metrics (Prometheus).
func (s *Server) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.Health())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.met.reg, promhttp.HandlerOpts{}))
	return mux
}

// ServeHealth serves the health handler on ln until ctx ends.
func (s *Server) ServeHealth(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.HealthHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// cpuMeter turns process CPU time into a share of the machine's CPUs between calls.
type cpuMeter struct {
	mu      sync.Mutex
	lastCPU time.Duration
	lastAt  time.Time
	last    float64
	cpus    int // 0: runtime.NumCPU()
}

// cpuMinWindow is the shortest interval a CPU figure is measured over: the kernel counts process
// CPU time in ticks (10 ms), so two health calls a few ms apart (a heartbeat asked for while a
// periodic one runs) read as many times a core.
const cpuMinWindow = time.Second

// percent returns the process's CPU use since the previous measurement as a percentage of all the
// machine's CPUs, between 0 and 100. Within cpuMinWindow of the previous measurement it returns
// that one's figure again.
func (c *cpuMeter) percent(now time.Time) float64 {
	return c.measure(now, processCPU())
}

func (c *cpuMeter) measure(now time.Time, used time.Duration) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastAt.IsZero() || now.Before(c.lastAt) {
		c.lastCPU, c.lastAt = used, now
		return c.last
	}
	if now.Sub(c.lastAt) < cpuMinWindow {
		return c.last
	}
	cpus := c.cpus
	if cpus <= 0 {
		cpus = runtime.NumCPU()
	}
	p := 100 * float64(used-c.lastCPU) / float64(now.Sub(c.lastAt)) / float64(cpus)
	c.last = min(max(p, 0), 100)
	c.lastCPU, c.lastAt = used, now
	return c.last
}

// processCPU is user+system time of this process, from /proc/self/stat.
func processCPU() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// rss is the resident set size of this process.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
