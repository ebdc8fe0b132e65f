//go:build linux

package mobility

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/e2e/faultproxy"
	"github.com/opensiterecovery/osr/internal/processserver"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A connection that goes silent without a reset (the proxy between agent and process server
// black-holes both directions, connections stay open) is taken for dead by both ends within
// their idle timeout, and replication resumes once the path carries traffic again.
func TestSilentConnectionIsDetected(t *testing.T) {
	const idle = 2 * time.Second
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 4 << 20
	testImage(t, img, size, 31)
	var psLog syncBuffer
	ps := startPSWith(t, dir, "127.0.0.1:0", func(c *processserver.Config, d *processserver.Deps) {
		c.IdleTimeout = idle
		d.Logger = slog.New(slog.NewTextHandler(&psLog, nil))
	})
	px, err := faultproxy.New("127.0.0.1:0", ps.addr, faultproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	cfg := ps.config(t, Disk{Name: "sda", Path: img})
	cfg.ProcessServer = px.Addr()
	cfg.TLS.ServerName = "127.0.0.1"
	r := startAgent(t, cfg, Options{IdleTimeout: idle})
	waitFor(t, "initial replication", 60*time.Second, func() bool { return r.a.initialDone() })
	seq := r.a.Status().CommittedSeq

	px.Pause()
	paused := time.Now()
	wantAgent := "read from process server: nothing arrived for 2s: the connection is taken for dead"
	var took time.Duration
	waitFor(t, "the agent to drop the silent connection", 4*idle, func() bool {
		ev := r.last("disconnected")
		if ev != nil && ev.Time.After(paused) {
			if ev.Attrs["err"] != wantAgent {
				t.Fatalf("disconnected: %q, want %q", ev.Attrs["err"], wantAgent)
			}
			took = time.Since(paused)
			return true
		}
		return false
	})
	// The last frame before the pause may have come a ping interval (idle/4) before it.
	if took < idle/2 {
		t.Fatalf("the agent gave up after %s, before its idle timeout %s", took, idle)
	}
	waitFor(t, "the process server to close the silent connection", 4*idle, func() bool {
		return strings.Contains(psLog.String(), `msg="agent connection silent: closing it as dead" remote=`)
	})

	px.Resume()
	mutate(t, img, 10, 32)
	r.a.Trigger()
	waitFor(t, "a point after the path is back", 30*time.Second, func() bool { return r.a.Status().CommittedSeq > seq })
	want, _ := os.ReadFile(img)
	if got := ps.export(t, r.a.Status().CommittedSeq, "sda"); !bytes.Equal(got, want) {
		t.Fatal("export after the reconnect differs from the image")
	}
	t.Logf("the agent dropped the silent connection after %s (idle timeout %s)", took.Round(time.Millisecond), idle)
}
