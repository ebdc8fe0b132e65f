package bootcheck

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/childproc"
	"github.com/opensiterecovery/osr/internal/target"
)

// Check boots the machine def (relative disk files are under dir) and waits for a marker on its
// serial console. qemu runs with no network and -snapshot: the disks are read, never written. It
// is killed when Check returns. Errors: *TimeoutError, *ExitError, ErrQEMUMissing (wrapped), a
// definition qemu cannot run, or ctx's error.
func (c *Checker) Check(ctx context.Context, def target.Definition, dir string) (*Result, error) {
	args, err := c.args(def, dir)
	if err != nil {
		return nil, err
	}
	bin := c.cfg.QEMU
	if bin == "" {
		bin = "qemu-system-x86_64"
	}
	path, err := c.lookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("boot check of %s: %w", def.Name, ErrQEMUMissing)
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := childproc.Command(qctx, path, args...)
	var stderr childproc.Tail
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("boot check of %s: %w", def.Name, err)
	}
	con := newConsole(c.cfg.Markers, c.cfg.TailLines)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("boot check of %s: start qemu: %w", def.Name, err)
	}
	c.log.InfoContext(ctx, "boot check started", "machine", def.Name, "pid", cmd.Process.Pid)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			n, err := out.Read(buf)
			if n > 0 {
				con.write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	// stop kills qemu and waits for it; its status is returned.
	stop := func() error {
		cancel()
		<-readDone
		return cmd.Wait()
	}
	timer := time.NewTimer(c.cfg.Timeout)
	defer timer.Stop()
	select {
	case m := <-con.found:
		d := time.Since(start)
		stop()
		c.log.InfoContext(ctx, "boot check passed", "machine", def.Name, "marker", m, "duration", d)
		return &Result{Machine: def.Name, Marker: m, Duration: d, Console: con.tail()}, nil
	case <-readDone:
		werr := cmd.Wait()
		select {
		case m := <-con.found: // the marker, then a power-off
			return &Result{Machine: def.Name, Marker: m, Duration: time.Since(start), Console: con.tail()}, nil
		default:
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		status := "exit status 0"
		if werr != nil {
			status = werr.Error()
		}
		return nil, &ExitError{Machine: def.Name, Status: status, Stderr: stderr.LastLine(), Tail: con.tail()}
	case <-timer.C:
		stop()
		return nil, &TimeoutError{Machine: def.Name, Timeout: c.cfg.Timeout, Markers: c.cfg.Markers, Tail: con.tail()}
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
}

// console follows a serial console: it keeps the last lines and reports the first marker seen.
type console struct {
	markers []string
	keep    int
	found   chan string // buffered 1, sent once

	mu      sync.Mutex
	lines   []string
	partial []byte
	window  []byte // the end of the text seen, long enough to find a marker across reads
	seen    bool
	esc     int // ANSI escape state: 0 none, 1 after ESC, 2 in CSI
}

func newConsole(markers []string, keep int) *console {
	return &console{markers: markers, keep: keep, found: make(chan string, 1)}
}

func (c *console) write(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	clean := make([]byte, 0, len(p))
	for _, b := range p {
		switch c.esc {
		case 1:
			if b == '[' {
				c.esc = 2
			} else {
				c.esc = 0
			}
			continue
		case 2:
			if b >= 0x40 && b <= 0x7e {
				c.esc = 0
			}
			continue
		}
		switch {
		case b == 0x1b:
			c.esc = 1
		case b == '\n':
			c.lines = append(c.lines, string(c.partial))
			c.partial = c.partial[:0]
			if len(c.lines) > c.keep {
				c.lines = c.lines[len(c.lines)-c.keep:]
			}
			clean = append(clean, b)
		case b == '\t' || (b >= 0x20 && b != 0x7f):
			c.partial = append(c.partial, b)
			clean = append(clean, b)
		}
	}
	if c.seen {
		return
	}
	c.window = append(c.window, clean...)
	for _, m := range c.markers {
		if bytes.Contains(c.window, []byte(m)) {
			c.seen = true
			c.found <- m
			return
		}
	}
	longest := 0
	for _, m := range c.markers {
		longest = max(longest, len(m))
	}
	if n := len(c.window) - longest; n > 0 {
		c.window = append(c.window[:0], c.window[n:]...)
	}
}

// tail returns the last lines, with the unfinished one.
func (c *console) tail() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]string(nil), c.lines...)
	if p := strings.TrimSpace(string(c.partial)); p != "" {
		out = append(out, string(c.partial))
	}
	if len(out) > c.keep {
		out = out[len(out)-c.keep:]
	}
	return out
}
