package freeze

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// The kernel does not thaw a filesystem when the process that froze it dies: an agent killed
// (kill -9, OOM) inside a freeze would leave every writer of that filesystem hanging until someone
// runs fsfreeze -u. Guard defends against that twice:
//   - a journal, written and fsynced before a freeze and removed after the thaw, which Recover reads
//     when the agent starts again and thaws what it names;
//   - a guardian, a small child process that is told over a pipe what is about to be frozen and when
//     it is thawed; when the pipe closes while something is frozen (its parent died), it thaws at once.

// journalFile is the journal's content.
type journalFile struct {
	Version int      `json:"version"`
	Mounts  []string `json:"mounts"`
}

// Guard protects the freezes of one process. It is safe for concurrent use, but Before and After
// must pair up around each freeze.
type Guard struct {
	journal string
	spawn   func() *exec.Cmd
	log     *slog.Logger

	mu  sync.Mutex
	cmd *exec.Cmd
	w   io.WriteCloser
}

// NewGuard returns a guard that keeps its journal at journal (a file in a directory that is not
// frozen, or that is fsynced before the freeze) and starts its guardian with spawn (nil: no
// guardian, the journal alone). The guardian command must run RunGuardian on its standard input.
func NewGuard(journal string, spawn func() *exec.Cmd, log *slog.Logger) *Guard {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Guard{journal: journal, spawn: spawn, log: log}
}

// Before records that mounts are about to be frozen: in the journal (durable when it returns) and
// with the guardian. An error means the journal could not be written: do not freeze then. A
// guardian that cannot be started is logged, not an error: the journal still protects.
func (g *Guard) Before(mounts []Mount) error {
	if len(mounts) == 0 {
		return nil
	}
	points := make([]string, len(mounts))
	for i, m := range mounts {
		points[i] = m.Point
	}
	b, err := json.Marshal(journalFile{Version: 1, Mounts: points})
	if err != nil {
		return err
	}
	if err := writeDurable(g.journal, b); err != nil {
		return fmt.Errorf("freeze journal: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.tellLocked("F", points); err != nil {
		g.log.Warn("freeze guardian unavailable: only the journal protects this freeze", "err", err)
	}
	return nil
}

// After records that the filesystems are thawed: the guardian forgets them and the journal is
// removed.
func (g *Guard) After() error {
	g.mu.Lock()
	if err := g.tellLocked("T", nil); err != nil {
		g.log.Warn("freeze guardian unavailable", "err", err)
	}
	g.mu.Unlock()
	if err := os.Remove(g.journal); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("freeze journal: %w", err)
	}
	return nil
}

// Close stops the guardian (nothing is frozen: it exits without thawing).
func (g *Guard) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.w != nil {
		g.tellLocked("T", nil)
		g.w.Close()
		g.cmd.Wait()
		g.w, g.cmd = nil, nil
	}
}

// tellLocked sends one line to the guardian, starting it first when needed.
func (g *Guard) tellLocked(op string, points []string) error {
	if g.spawn == nil {
		return nil
	}
	for attempt := 0; attempt < 2; attempt++ {
		if g.w == nil {
			cmd := g.spawn()
			w, err := cmd.StdinPipe()
			if err != nil {
				return err
			}
			if err := cmd.Start(); err != nil {
				return fmt.Errorf("start the freeze guardian: %w", err)
			}
			g.cmd, g.w = cmd, w
		}
		line, _ := json.Marshal(guardLine{Op: op, Mounts: points})
		if _, err := g.w.Write(append(line, '\n')); err == nil {
			return nil
		}
		g.w.Close() // the guardian died: start another and say it again
		g.cmd.Wait()
		g.w, g.cmd = nil, nil
	}
	return errors.New("the freeze guardian does not take messages")
}

type guardLine struct {
	Op     string   `json:"op"` // F: about to freeze Mounts; T: thawed
	Mounts []string `json:"mounts,omitempty"`
}

// RunGuardian is the guardian's loop: it reads the lines a Guard sends on r until r ends, and then
// thaws whatever it was last told is frozen. It returns the mounts it thawed.
func RunGuardian(r io.Reader, log *slog.Logger) []string {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var frozen []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var l guardLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			log.Warn("freeze guardian: bad message ignored", "err", err)
			continue
		}
		switch l.Op {
		case "F":
			frozen = l.Mounts
		case "T":
			frozen = nil
		}
	}
	// The parent is gone (or closed the pipe): nothing may stay frozen after it.
	for _, p := range frozen {
		if err := thawPath(p); err != nil {
			log.Error("freeze guardian: thaw failed", "mount", p, "err", err)
			continue
		}
		log.Warn("freeze guardian: parent gone while frozen; thawed", "mount", p)
	}
	return frozen
}

// Recover thaws the filesystems named in the journal left by a process that died inside a freeze,
// and removes the journal. It returns the mounts it thawed (none when there is no journal).
// Filesystems that are no longer frozen are fine; a journal that cannot be decoded is an error and
// is left in place for a person to read.
func Recover(journal string, log *slog.Logger) ([]string, error) {
	b, err := os.ReadFile(journal)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("freeze journal: %w", err)
	}
	var j journalFile
	if err := json.Unmarshal(b, &j); err != nil || j.Version != 1 {
		return nil, fmt.Errorf("freeze journal %s cannot be read (version %d, %v): thaw its filesystems with fsfreeze -u and remove it", journal, j.Version, err)
	}
	var errs []error
	for _, p := range j.Mounts {
		if err := thawPath(p); err != nil {
			errs = append(errs, fmt.Errorf("thaw %s: %w", p, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return j.Mounts, err
	}
	if log != nil && len(j.Mounts) > 0 {
		log.Warn("filesystems left frozen by an earlier run were thawed", "mounts", j.Mounts)
	}
	return j.Mounts, os.Remove(journal)
}

// writeDurable writes b to path atomically and durably (temp file, fsync, rename, fsync dir).
func writeDurable(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
