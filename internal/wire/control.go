package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Limits of names and lists in messages.
const (
	MaxNameLen = 255
	MaxDisks   = 64
	MaxText    = 4096
)

// Disk names a disk and gives its size in bytes.
type Disk struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// Hello opens a session: agent → PS.
type Hello struct {
	Machine        string `json:"machine"` // must equal the agent certificate's name
	Disks          []Disk `json:"disks"`
	CommittedSeq   uint64 `json:"committed_seq"`   // the agent's newest committed seq as it knows it
	CommittedPoint string `json:"committed_point"` // and its store point ID
	Agent          string `json:"agent,omitempty"` // agent software version, for logs
}

// Welcome answers Hello: PS → agent.
type Welcome struct {
	CommittedSeq   uint64 `json:"committed_seq"`   // the PS's newest committed seq for the machine
	CommittedPoint string `json:"committed_point"` // its store point ID ("" when none)
	Durable        uint64 `json:"durable"`         // highest seq complete in the PS cache (≥ CommittedSeq)
	Server         string `json:"server,omitempty"`
}

// Kind of point.
type Kind string

// Kinds of point.
const (
	KindPartial Kind = "partial" // a chunk of initial replication
	KindCrash   Kind = "crash"   // crash-consistent
	KindApp     Kind = "app"     // app-consistent
)

// BeginPoint opens a point: agent → PS.
type BeginPoint struct {
	Seq  uint64    `json:"seq"`
	Base uint64    `json:"base"` // the seq this point is a difference against; 0: the empty disk
	Kind Kind      `json:"kind"`
	Time time.Time `json:"time"` // capture instant
	// Disks of the point; disks not named are not part of it.
	Disks []Disk `json:"disks"`
}

// EndPoint closes a point: agent → PS. The counts let the PS check it received everything.
type EndPoint struct {
	Seq    uint64 `json:"seq"`
	Blocks uint64 `json:"blocks"` // blocks sent in Blocks frames
	Zeroed uint64 `json:"zeroed"` // blocks named by Zero frames
	// Initial says, for a partial point, how many bytes of each disk initial replication has copied
	// so far; the PS stores it as the label osr.initial.<disk>.
	Initial map[string]int64 `json:"initial,omitempty"`
	// CaptureTime is the point's capture instant when it differs from BeginPoint's time (a point
	// taken under a freeze: the freeze comes after the point began); zero: BeginPoint's time.
	CaptureTime time.Time `json:"capture_time,omitzero"`
}

// Committed tells the agent a point is in the store: PS → agent.
type Committed struct {
	Seq   uint64    `json:"seq"`
	Point string    `json:"point"`
	Time  time.Time `json:"time"` // when the commit happened
}

// Status reasons.
const (
	StatusOK          = "ok"
	StatusCacheFull   = "cache-full"
	StatusStorageDown = "storage-unreachable"
	StatusBacklog     = "upload-backlog"
)

// Status says why the PS is (not) reading: PS → agent.
type Status struct {
	Reason           string  `json:"reason"`
	Message          string  `json:"message,omitempty"`
	CacheFreePercent float64 `json:"cache_free_percent"`
	BacklogBytes     int64   `json:"backlog_bytes"`
}

// Error codes.
const (
	ErrCodeProtocol = "protocol" // unexpected or malformed message
	ErrCodeAuth     = "auth"     // identity does not match
	ErrCodeChecksum = "checksum" // a block's fingerprint did not match its data
	ErrCodeInternal = "internal" // the sender failed
	ErrCodeShutdown = "shutdown" // the sender is stopping
	ErrCodeSequence = "sequence" // a point's seq or base is not acceptable
)

// Error ends a session: either way. The sender closes after it.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (Hello) Type() Type      { return TypeHello }
func (Welcome) Type() Type    { return TypeWelcome }
func (BeginPoint) Type() Type { return TypeBeginPoint }
func (EndPoint) Type() Type   { return TypeEndPoint }
func (Committed) Type() Type  { return TypeCommitted }
func (Status) Type() Type     { return TypeStatus }
func (Error) Type() Type      { return TypeError }

func (m Hello) AppendPayload(b []byte) ([]byte, error)      { return appendJSON(b, m) }
func (m Welcome) AppendPayload(b []byte) ([]byte, error)    { return appendJSON(b, m) }
func (m BeginPoint) AppendPayload(b []byte) ([]byte, error) { return appendJSON(b, m) }
func (m EndPoint) AppendPayload(b []byte) ([]byte, error)   { return appendJSON(b, m) }
func (m Committed) AppendPayload(b []byte) ([]byte, error)  { return appendJSON(b, m) }
func (m Status) AppendPayload(b []byte) ([]byte, error)     { return appendJSON(b, m) }
func (m Error) AppendPayload(b []byte) ([]byte, error)      { return appendJSON(b, m) }

func (e *Error) Error() string { return fmt.Sprintf("peer error (%s): %s", e.Code, e.Message) }

func appendJSON(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, j...), nil
}

func decodeJSON(p []byte, v any, t Type) error {
	if err := json.Unmarshal(p, v); err != nil {
		return fmt.Errorf("decode %s: %w", t, err)
	}
	return nil
}

// ValidName reports whether s can name a machine or disk: 1 to 255 bytes of letters, digits and
// ".-_:@", not starting with a dot.
func ValidName(s string) error {
	if s == "" || len(s) > MaxNameLen {
		return fmt.Errorf("name of %d bytes (want 1 to %d)", len(s), MaxNameLen)
	}
	if s[0] == '.' {
		return fmt.Errorf("name %q starts with a dot", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == ':' || c == '@') {
			return fmt.Errorf("name %q has a character outside [A-Za-z0-9._:@-]", s)
		}
	}
	return nil
}

func validDisks(ds []Disk) error {
	if len(ds) == 0 {
		return errors.New("no disks")
	}
	if len(ds) > MaxDisks {
		return fmt.Errorf("%d disks (at most %d)", len(ds), MaxDisks)
	}
	seen := make(map[string]bool, len(ds))
	for _, d := range ds {
		if err := ValidName(d.Name); err != nil {
			return fmt.Errorf("disk: %w", err)
		}
		if seen[d.Name] {
			return fmt.Errorf("disk %s named twice", d.Name)
		}
		seen[d.Name] = true
		if d.Size <= 0 || d.Size > 1<<50 {
			return fmt.Errorf("disk %s has size %d", d.Name, d.Size)
		}
	}
	return nil
}

// Decode parses and checks a Hello payload.
func (m *Hello) Decode(p []byte) error {
	*m = Hello{}
	if err := decodeJSON(p, m, TypeHello); err != nil {
		return err
	}
	if err := ValidName(m.Machine); err != nil {
		return fmt.Errorf("hello: machine: %w", err)
	}
	if err := validDisks(m.Disks); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	if len(m.CommittedPoint) > MaxNameLen || len(m.Agent) > MaxNameLen {
		return errors.New("hello: point or agent field too long")
	}
	return nil
}

// Decode parses and checks a Welcome payload.
func (m *Welcome) Decode(p []byte) error {
	*m = Welcome{}
	if err := decodeJSON(p, m, TypeWelcome); err != nil {
		return err
	}
	if m.Durable < m.CommittedSeq {
		return fmt.Errorf("welcome: durable seq %d is below committed seq %d", m.Durable, m.CommittedSeq)
	}
	return nil
}

// Decode parses and checks a BeginPoint payload.
func (m *BeginPoint) Decode(p []byte) error {
	*m = BeginPoint{}
	if err := decodeJSON(p, m, TypeBeginPoint); err != nil {
		return err
	}
	if m.Seq == 0 {
		return errors.New("begin point: seq 0")
	}
	if m.Base >= m.Seq {
		return fmt.Errorf("begin point: base %d is not below seq %d", m.Base, m.Seq)
	}
	switch m.Kind {
	case KindPartial, KindCrash, KindApp:
	default:
		return fmt.Errorf("begin point: unknown kind %q", m.Kind)
	}
	if err := validDisks(m.Disks); err != nil {
		return fmt.Errorf("begin point: %w", err)
	}
	return nil
}

// Decode parses and checks an EndPoint payload.
func (m *EndPoint) Decode(p []byte) error {
	*m = EndPoint{}
	if err := decodeJSON(p, m, TypeEndPoint); err != nil {
		return err
	}
	if m.Seq == 0 {
		return errors.New("end point: seq 0")
	}
	if len(m.Initial) == 0 {
		m.Initial = nil
	}
	if len(m.Initial) > MaxDisks {
		return fmt.Errorf("end point: %d initial entries (at most %d)", len(m.Initial), MaxDisks)
	}
	for d, n := range m.Initial {
		if err := ValidName(d); err != nil {
			return fmt.Errorf("end point: initial: %w", err)
		}
		if n < 0 {
			return fmt.Errorf("end point: initial %s is negative", d)
		}
	}
	return nil
}

// Decode parses and checks a Committed payload.
func (m *Committed) Decode(p []byte) error {
	*m = Committed{}
	if err := decodeJSON(p, m, TypeCommitted); err != nil {
		return err
	}
	if m.Seq == 0 || m.Point == "" || len(m.Point) > MaxNameLen {
		return fmt.Errorf("committed: seq %d, point %q", m.Seq, m.Point)
	}
	return nil
}

// Decode parses a Status payload.
func (m *Status) Decode(p []byte) error {
	*m = Status{}
	if err := decodeJSON(p, m, TypeStatus); err != nil {
		return err
	}
	if m.Reason == "" || len(m.Reason) > MaxNameLen || len(m.Message) > MaxText {
		return errors.New("status: reason empty or fields too long")
	}
	return nil
}

// Decode parses an Error payload.
func (m *Error) Decode(p []byte) error {
	*m = Error{}
	if err := decodeJSON(p, m, TypeError); err != nil {
		return err
	}
	if m.Code == "" || len(m.Code) > MaxNameLen || len(m.Message) > MaxText {
		return errors.New("error: code empty or fields too long")
	}
	return nil
}
