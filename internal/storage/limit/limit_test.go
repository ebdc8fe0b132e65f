package limit_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/storage"
	"github.com/opensiterecovery/osr/internal/storage/file"
	"github.com/opensiterecovery/osr/internal/storage/limit"
	"github.com/opensiterecovery/osr/internal/storage/storagetest"
)

func open(t *testing.T) *file.Backend {
	be, err := file.Open(t.TempDir(), file.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// within fails unless elapsed is close to the time that size bytes take at bps, the limiter's
// initial burst of one chunk being free.
func within(t *testing.T, what string, elapsed time.Duration, size, bps int64) {
	t.Helper()
	want := time.Duration(float64(size-limit.Chunk) / float64(bps) * float64(time.Second))
	if elapsed < want*85/100 || elapsed > want*150/100 {
		t.Errorf("%s of %d bytes at %d B/s took %v, want about %v", what, size, bps, elapsed, want)
	} else {
		t.Logf("%s of %d bytes at %d B/s took %v (ideal %v)", what, size, bps, elapsed, want)
	}
}

func TestThroughput(t *testing.T) {
	const size, bps = 640 << 10, 1 << 20 // about 0.56 s each way
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	ctx := t.Context()

	up := limit.New(open(t), limit.Options{Upload: bps})
	start := time.Now()
	if err := up.Put(ctx, "x", bytes.NewReader(data), size); err != nil {
		t.Fatal(err)
	}
	within(t, "upload", time.Since(start), size, bps)
	start = time.Now()
	if got, err := storage.ReadAll(ctx, up, "x"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("unlimited download: %d bytes, %v", len(got), err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("unlimited download took %v", d)
	}

	down := limit.New(open(t), limit.Options{Download: bps})
	if err := down.Put(ctx, "x", bytes.NewReader(data), size); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	got, err := storage.ReadAll(ctx, down, "x")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("limited download: %d bytes, %v", len(got), err)
	}
	within(t, "download", time.Since(start), size, bps)
}

func TestDeadline(t *testing.T) {
	be := limit.New(open(t), limit.Options{Upload: 64 << 10})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	data := make([]byte, 1<<20) // 16 s at this rate
	err := be.Put(ctx, "x", bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, context.DeadlineExceeded) || !storage.IsPermanent(err) {
		t.Fatalf("put past the deadline: %v, want context.DeadlineExceeded", err)
	}
	if _, err := be.Stat(t.Context(), "x"); !storage.IsNotFound(err) {
		t.Fatalf("stat after the failed put: %v", err)
	}
	err = be.Load(t.Context(), "missing", 0, 0, func(rd io.Reader) error { _, err := io.Copy(io.Discard, rd); return err })
	if !storage.IsNotFound(err) {
		t.Fatalf("load of a missing object: %v", err)
	}
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return limit.New(open(t), limit.Options{Upload: 1 << 30, Download: 1 << 30})
	})
}
