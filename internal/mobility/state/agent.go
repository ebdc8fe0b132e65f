package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// AgentVersion is the version of the agent state format.
const AgentVersion = 1

// Agent is what the service remembers about its machine between runs.
type Agent struct {
	Version int    `json:"version"`
	Machine string `json:"machine"`
	// NextSeq is the seq the next point will get; seqs are never reused, so it is persisted
	// before a point is begun.
	NextSeq uint64 `json:"next_seq"`
	// CommittedSeq and PointID name the newest point the process server reported committed and
	// whose blocks are in the replica maps.
	CommittedSeq uint64    `json:"committed_seq"`
	PointID      string    `json:"point_id,omitempty"`
	CommittedAt  time.Time `json:"committed_at,omitzero"`
	CaptureTime  time.Time `json:"capture_time,omitzero"`
	// Running is true while the service runs; a start that finds it true knows the previous run
	// stopped uncleanly.
	Running bool `json:"running"`
	// InitialDone is set once the first complete point is committed.
	InitialDone bool `json:"initial_done"`
	// Initial is, per disk, how many bytes initial replication has copied as of the newest
	// committed partial point: where it resumes.
	Initial map[string]int64 `json:"initial,omitempty"`
	// LastAppConsistent is the capture time of the newest committed app-consistent point.
	LastAppConsistent time.Time `json:"last_app_consistent,omitzero"`
}

// AgentPath is where the agent state lives in the state directory.
func AgentPath(dir string) string { return filepath.Join(dir, "agent.json") }

// DecodeAgent parses the agent state strictly: unknown fields, a foreign version or inconsistent
// values give an error.
func DecodeAgent(b []byte) (*Agent, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var a Agent
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("agent state: %w", err)
	}
	if dec.More() {
		return nil, errors.New("agent state: trailing data")
	}
	switch {
	case a.Version != AgentVersion:
		return nil, fmt.Errorf("agent state: version %d, this agent reads version %d", a.Version, AgentVersion)
	case a.Machine == "":
		return nil, errors.New("agent state: no machine name")
	case a.NextSeq == 0 || a.CommittedSeq >= a.NextSeq:
		return nil, fmt.Errorf("agent state: next seq %d must be above committed seq %d", a.NextSeq, a.CommittedSeq)
	case len(a.PointID) > MaxPointID:
		return nil, errors.New("agent state: point id too long")
	}
	for d, n := range a.Initial {
		if n < 0 || d == "" {
			return nil, fmt.Errorf("agent state: initial replication position %d of disk %q", n, d)
		}
	}
	return &a, nil
}

// Encode returns the agent state as JSON.
func (a *Agent) Encode() []byte {
	b, _ := json.MarshalIndent(a, "", "  ")
	return append(b, '\n')
}

// LoadAgent reads the agent state; a missing file gives an error that satisfies
// errors.Is(err, os.ErrNotExist).
func LoadAgent(dir string) (*Agent, error) {
	b, err := os.ReadFile(AgentPath(dir))
	if err != nil {
		return nil, err
	}
	a, err := DecodeAgent(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", AgentPath(dir), err)
	}
	return a, nil
}

// SaveAgent writes the agent state atomically.
func SaveAgent(dir string, a *Agent) error {
	a.Version = AgentVersion
	return WriteFile(AgentPath(dir), a.Encode())
}
