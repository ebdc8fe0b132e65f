//go:build linux

package flow

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// ackedFile is a file the workload wrote and made durable: its content and its name (file and
// directory fsynced) were acknowledged at At.
type ackedFile struct {
	Name   string // relative to the file system's root
	SHA256 string
	At     time.Time
}

// workload writes files of 1 to 16 KiB into DIR/w on the source file system, each with fsync of
// the file and of the directory, and keeps a manifest of what was acknowledged. It stops after
// maxFiles, so that the disk does not fill.
type workload struct {
	root string
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	acked []ackedFile
	err   error
}

const workloadMaxFiles = 3000

func startWorkload(t *testing.T, root string, every time.Duration) *workload {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "w"), 0o755); err != nil {
		t.Fatal(err)
	}
	w := &workload{root: root, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run(every)
	t.Cleanup(w.Stop)
	return w
}

func (w *workload) run(every time.Duration) {
	defer close(w.done)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	dir := filepath.Join(w.root, "w")
	for i := 0; i < workloadMaxFiles; i++ {
		select {
		case <-w.stop:
			return
		case <-time.After(every):
		}
		data := make([]byte, 1024+rng.IntN(15*1024))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		name := fmt.Sprintf("w/f%05d", i)
		if err := writeDurable(dir, filepath.Join(w.root, name), data); err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		sum := sha256.Sum256(data)
		w.mu.Lock()
		w.acked = append(w.acked, ackedFile{Name: name, SHA256: hex.EncodeToString(sum[:]), At: time.Now()})
		w.mu.Unlock()
	}
}

// writeDurable writes path, fsyncs it and then its directory.
func writeDurable(dir, path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
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
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ackedBefore returns the files acknowledged before t; it fails the test if the workload failed.
func (w *workload) ackedBefore(tb testing.TB, t time.Time) []ackedFile {
	tb.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		tb.Fatalf("the workload failed: %v", w.err)
	}
	var out []ackedFile
	for _, a := range w.acked {
		if a.At.Before(t) {
			out = append(out, a)
		}
	}
	return out
}

// Stop ends the workload and waits for it.
func (w *workload) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}
