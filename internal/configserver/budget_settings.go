package configserver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver/privfile"
)

// ScaleOutFile in the data directory holds the scale-out settings (docs/formats/scale-out.md).
const ScaleOutFile = "scale-out.json"

// ScaleOutSettings say when the configuration server moves machines between its process servers
// by itself and how many initial replications and resyncs may run at once.
type ScaleOutSettings struct {
	Version int `json:"version"`
	// Automatic: machines leave a lost or overloaded process server without an operator.
	Automatic bool `json:"automatic"`
	// LostAfterSeconds: a process server without a heartbeat for this long is lost (3 missed
	// heartbeats by default).
	LostAfterSeconds int64 `json:"lost_after_seconds"`
	// UnreachableAfterSeconds: a process server whose every replicating agent reports that it
	// cannot reach it, for this long, is lost too (its heartbeats may still come: the agents'
	// path to it is what counts).
	UnreachableAfterSeconds int64 `json:"unreachable_after_seconds"`
	// OverloadAfterSeconds: a process server rated Critical (CPU, memory, cache, drain time) for
	// this long sheds load, one machine at a time.
	OverloadAfterSeconds int64 `json:"overload_after_seconds"`
	// SettleSeconds: after shedding a machine, a process server sheds the next one no sooner.
	SettleSeconds int64 `json:"settle_seconds"`
	// HoldSeconds: a machine moved is not moved again for load this long, and a process server
	// that was lost or overloaded receives machines again only after it has been healthy this long.
	HoldSeconds int64 `json:"hold_seconds"`
	// ResyncBudgetPerProcessServer and ResyncBudgetPerSite cap the initial replications and
	// resyncs running at once on one process server and on all of this configuration server's;
	// 0: no cap.
	ResyncBudgetPerProcessServer int `json:"resync_budget_per_process_server"`
	ResyncBudgetPerSite          int `json:"resync_budget_per_site"`
}

// DefaultScaleOut are the settings of a data directory without scale-out.json.
func DefaultScaleOut() ScaleOutSettings {
	return ScaleOutSettings{Version: 1, Automatic: true,
		LostAfterSeconds: int64(3 * HeartbeatInterval / time.Second), UnreachableAfterSeconds: 60,
		OverloadAfterSeconds: 120, SettleSeconds: 120, HoldSeconds: 600,
		ResyncBudgetPerProcessServer: 4, ResyncBudgetPerSite: 16}
}

// Bounds of the settings. A process server is lost after two missed heartbeats at the soonest:
// shorter, every healthy one would be lost between two of its heartbeats.
const (
	minLostAfter       = int64(2 * HeartbeatInterval / time.Second)
	maxScaleOutSeconds = 7 * 24 * 3600
	maxResyncBudget    = 10000
)

// Check returns the first setting out of its bounds.
func (s ScaleOutSettings) Check() error {
	if s.Version != 1 {
		return fmt.Errorf("version %d, this osr reads version 1", s.Version)
	}
	for _, d := range []struct {
		name string
		v    int64
		min  int64
	}{{"lost_after_seconds", s.LostAfterSeconds, minLostAfter}, {"unreachable_after_seconds", s.UnreachableAfterSeconds, 1},
		{"overload_after_seconds", s.OverloadAfterSeconds, 1}, {"settle_seconds", s.SettleSeconds, 0}, {"hold_seconds", s.HoldSeconds, 0}} {
		if d.v < d.min || d.v > maxScaleOutSeconds {
			return fmt.Errorf("%s %d is not between %d and %d", d.name, d.v, d.min, maxScaleOutSeconds)
		}
	}
	for _, b := range []struct {
		name string
		v    int
	}{{"resync_budget_per_process_server", s.ResyncBudgetPerProcessServer}, {"resync_budget_per_site", s.ResyncBudgetPerSite}} {
		if b.v < 0 || b.v > maxResyncBudget {
			return fmt.Errorf("%s %d is not between 0 (no cap) and %d", b.name, b.v, maxResyncBudget)
		}
	}
	return nil
}

func secs(n int64) time.Duration { return time.Duration(n) * time.Second }

// decodeScaleOut parses and checks scale-out.json.
func decodeScaleOut(b []byte) (ScaleOutSettings, error) {
	var s ScaleOutSettings
	if err := strictJSON(b, &s); err != nil {
		return ScaleOutSettings{}, err
	}
	if err := s.Check(); err != nil {
		return ScaleOutSettings{}, err
	}
	return s, nil
}

// LoadScaleOut reads DIR/scale-out.json; a missing file gives DefaultScaleOut.
func LoadScaleOut(dir string) (ScaleOutSettings, error) {
	path := filepath.Join(dir, ScaleOutFile)
	b, err := privfile.Read(path, 1<<20)
	if errors.Is(err, os.ErrNotExist) {
		return DefaultScaleOut(), nil
	}
	if err != nil {
		return ScaleOutSettings{}, fmt.Errorf("read scale-out settings: %w", err)
	}
	s, err := decodeScaleOut(b)
	if err != nil {
		return ScaleOutSettings{}, fmt.Errorf("read scale-out settings: %s: %w", path, err)
	}
	return s, nil
}

// SaveScaleOut checks s and writes it to DIR/scale-out.json (atomically, 0600).
func SaveScaleOut(dir string, s ScaleOutSettings) error {
	if err := s.Check(); err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, ScaleOutFile), s)
}
