package mobility

import (
	"log/slog"
	"sync"
	"time"
)

// States of the service, as status reports them.
const (
	StateStarting           = "starting"
	StateInitialReplication = "initial-replication"
	StateProtected          = "protected"
	StateResynchronising    = "resynchronising"
	StateDisconnected       = "disconnected"
	StateStopped            = "stopped"
)

// Event is something the service did or saw that an operator (or a test) wants to know.
type Event struct {
	Time    time.Time         `json:"time"`
	Kind    string            `json:"kind"`
	Level   string            `json:"level"` // info, warning, alert
	Message string            `json:"message"`
	Attrs   map[string]string `json:"attrs,omitempty"`
}

// Status is what `osr mobility status --json` prints.
type Status struct {
	Machine        string    `json:"machine"`
	State          string    `json:"state"`
	InitialPercent float64   `json:"initial_replication_percent"`
	Connected      bool      `json:"connected"`
	ProcessServer  string    `json:"process_server"`
	CommittedSeq   uint64    `json:"committed_seq"`
	PointID        string    `json:"point_id,omitempty"`
	CaptureTime    time.Time `json:"capture_time,omitzero"` // of the newest committed point
	// RPOSeconds is the age of the newest committed point's capture time; -1 before the first.
	RPOSeconds      float64      `json:"rpo_seconds"`
	BacklogBytes    int64        `json:"backlog_bytes"`    // sent but not committed
	InFlightPoints  int          `json:"in_flight_points"` // begun and not committed
	ThroughputBps   float64      `json:"throughput_bytes_per_second"`
	SentBytes       int64        `json:"sent_bytes"` // block data sent since the start
	Tracker         string       `json:"tracker"`
	TrackerReason   string       `json:"tracker_reason,omitempty"` // why auto chose scan
	TrackerDrops    uint64       `json:"tracker_drops"`            // records the tracker lost
	TrackerMisses   uint64       `json:"tracker_misses"`           // times its probe did not run
	TrackerGaps     uint64       `json:"tracker_gaps"`             // tracking gaps (each led to a resync)
	TrackingBytes   int64        `json:"tracking_state_bytes"`
	TrackingPerGiB  int64        `json:"tracking_state_bytes_per_gib"`
	BandwidthCap    string       `json:"bandwidth_cap"`
	ServerStatus    string       `json:"process_server_status,omitempty"` // the PS's last Status reason
	LastError       string       `json:"last_error,omitempty"`
	LastErrorTime   time.Time    `json:"last_error_time,omitzero"`
	LastVerify      time.Time    `json:"last_verify,omitzero"`
	VerifyDivergent int64        `json:"verify_divergent_blocks"`
	Resyncs         int          `json:"resyncs"`
	Disks           []DiskStatus `json:"disks"`
	Events          []Event      `json:"events"`
}

// DiskStatus describes one protected disk.
type DiskStatus struct {
	Name string `json:"name"`
	Path string `json:"path"`
	Size int64  `json:"size"`
	// InitialBytes is how far initial replication has read the disk.
	InitialBytes int64 `json:"initial_replication_bytes"`
}

// maxEvents is how many recent events status keeps.
const maxEvents = 64

// monitor holds the live status and the recent events; it is safe for concurrent use.
type monitor struct {
	mu     sync.Mutex
	st     Status
	log    *slog.Logger
	now    func() time.Time
	rate   rateMeter
	notify func(Event) // test observer, may be nil
}

func (m *monitor) update(f func(*Status)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(&m.st)
}

// event records an event and logs it.
func (m *monitor) event(kind, level, msg string, attrs ...string) {
	ev := Event{Time: m.now(), Kind: kind, Level: level, Message: msg}
	args := []any{"event", kind}
	if len(attrs) > 0 {
		ev.Attrs = map[string]string{}
		for i := 0; i+1 < len(attrs); i += 2 {
			ev.Attrs[attrs[i]] = attrs[i+1]
			args = append(args, attrs[i], attrs[i+1])
		}
	}
	switch level {
	case "alert":
		m.log.Error(msg, args...)
	case "warning":
		m.log.Warn(msg, args...)
	case "debug":
		m.log.Debug(msg, args...)
	default:
		m.log.Info(msg, args...)
	}
	m.mu.Lock()
	m.st.Events = append(m.st.Events, ev)
	if len(m.st.Events) > maxEvents {
		m.st.Events = append([]Event(nil), m.st.Events[len(m.st.Events)-maxEvents:]...)
	}
	n := m.notify
	m.mu.Unlock()
	if n != nil {
		n(ev)
	}
}

// fail records the last error.
func (m *monitor) fail(err error) {
	m.mu.Lock()
	m.st.LastError = err.Error()
	m.st.LastErrorTime = m.now()
	m.mu.Unlock()
}

func (m *monitor) sent(n int64) {
	m.mu.Lock()
	m.st.SentBytes += n
	m.rate.add(m.now(), n)
	m.mu.Unlock()
}

// snapshot returns a copy of the status with the time-dependent fields computed.
func (m *monitor) snapshot() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.st
	s.Events = append([]Event(nil), m.st.Events...)
	s.Disks = append([]DiskStatus(nil), m.st.Disks...)
	now := m.now()
	s.RPOSeconds = -1
	if !s.CaptureTime.IsZero() {
		s.RPOSeconds = now.Sub(s.CaptureTime).Seconds()
	}
	s.ThroughputBps = m.rate.perSecond(now)
	return s
}

// rateMeter measures bytes per second over the last ten seconds.
type rateMeter struct {
	buckets [10]int64
	stamp   [10]int64 // unix second of each bucket
}

func (r *rateMeter) add(t time.Time, n int64) {
	s := t.Unix()
	i := s % 10
	if r.stamp[i] != s {
		r.stamp[i], r.buckets[i] = s, 0
	}
	r.buckets[i] += n
}

func (r *rateMeter) perSecond(t time.Time) float64 {
	s := t.Unix()
	var sum int64
	for i := range r.buckets {
		if s-r.stamp[i] < 10 && r.stamp[i] <= s {
			sum += r.buckets[i]
		}
	}
	return float64(sum) / 10
}
