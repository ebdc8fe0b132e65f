//go:build linux

package mobility

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// capture --wait through the socket: asked during the initial replication it answers with the
// first complete point; asked after a write, with a new point that holds the write, byte-exact,
// and a pending trigger does not make one more point. A bad wait value is refused.
func TestCaptureWait(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "sda.img")
	const size = 16 << 20
	testImage(t, img, size, 21)
	ps := startPS(t, dir)
	cfg := ps.config(t, Disk{Name: "sda", Path: img})
	cfg.CrashConsistentInterval = time.Hour
	r := startAgent(t, cfg, Options{})
	waitFor(t, "the status socket", 30*time.Second, func() bool {
		_, err := os.Stat(SocketPath(cfg.StateDir))
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first, err := CaptureWait(ctx, cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	pts := ps.points(t)
	if p := pts[first.Seq]; p == nil || p.Partial || p.ID != first.PointID || first.Kind != "app" {
		t.Fatalf("capture during the initial replication answered %+v; store point %+v", first, p)
	}
	want, _ := os.ReadFile(img)
	if got := ps.export(t, first.Seq, "sda"); !bytes.Equal(got, want) {
		t.Fatal("the first complete point differs from the image")
	}

	mutate(t, img, 40, 22)
	next, err := CaptureWait(ctx, cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	if next.Seq <= first.Seq || next.PointID == first.PointID || next.CommittedAt.Before(first.CommittedAt) {
		t.Fatalf("second capture answered %+v after %+v", next, first)
	}
	want, _ = os.ReadFile(img)
	if got := ps.export(t, next.Seq, "sda"); !bytes.Equal(got, want) {
		t.Fatal("the point captured after the write differs from the image")
	}
	// The trigger of each capture is consumed by the point it asked for: no point follows.
	time.Sleep(500 * time.Millisecond)
	if got := r.a.Status().CommittedSeq; got != next.Seq {
		t.Fatalf("committed seq %d after the captures, want %d", got, next.Seq)
	}

	// A wait that ends first returns the context's error.
	short, cancelShort := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancelShort()
	if _, err := r.a.CaptureAndWait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("capture with an expired context: %v", err)
	}

	req, _ := http.NewRequest(http.MethodPost, "http://mobility/capture?wait=soon", nil)
	resp, err := socketClient(cfg.StateDir, 10*time.Second).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body.String(), `"error": "wait must be true or false"`) {
		t.Fatalf("wait=soon: %d %s", resp.StatusCode, body.String())
	}
}
