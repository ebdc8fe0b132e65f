package progress

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

var t0 = time.Date(2026, 11, 28, 15, 30, 0, 0, time.UTC)

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func TestSilentWhenNotATerminal(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var buf bytes.Buffer

	for _, tc := range []struct {
		name string
		out  func() string
		b    *Bar
	}{
		{"buffer", buf.String, New(&buf, 100, "copy", Options{Interval: time.Millisecond})},
		{"regular file", func() string {
			data, err := os.ReadFile(file.Name())
			if err != nil {
				t.Fatal(err)
			}
			return string(data)
		}, New(file, 100, "copy", Options{Interval: time.Millisecond})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.b.stop != nil {
				t.Error("silent bar started a redraw goroutine")
			}
			tc.b.Add(40)
			tc.b.SetTotal(200)
			time.Sleep(10 * time.Millisecond) // a redraw goroutine, if any, would have drawn
			tc.b.Add(160)
			tc.b.Finish()
			if got := tc.out(); got != "" {
				t.Errorf("wrote %q, want nothing", got)
			}
			if got := tc.b.done.Load(); got != 200 {
				t.Errorf("silent bar counted %d, want 200", got)
			}
		})
	}
}

func TestLine(t *testing.T) {
	tests := []struct {
		name    string
		label   string
		total   int64
		done    int64
		elapsed time.Duration
		final   bool
		width   int
		want    string
	}{
		{
			name: "start", label: "restore vm-01", total: gib,
			want: "restore vm-01   0.0% 0 B / 1.0 GiB  --/s  ETA --:--",
		},
		{
			name: "no progress yet", label: "restore vm-01", total: gib, elapsed: 5 * time.Second,
			want: "restore vm-01   0.0% 0 B / 1.0 GiB  0 B/s  ETA --:--",
		},
		{
			name: "a quarter", label: "restore vm-01", total: gib, done: 256 * mib, elapsed: 16 * time.Second,
			want: "restore vm-01  25.0% 256.0 MiB / 1.0 GiB  16.0 MiB/s  ETA 0:48",
		},
		{
			name: "long ETA", label: "backup", total: 10 * gib, done: mib, elapsed: time.Second,
			want: "backup   0.0% 1.0 MiB / 10.0 GiB  1.0 MiB/s  ETA 2:50:39",
		},
		{
			name: "percent is not rounded up to 100", label: "copy", total: 1000, done: 999, elapsed: 999 * time.Second,
			want: "copy  99.9% 999 B / 1000 B  1 B/s  ETA 0:01",
		},
		{
			name: "done beyond total", label: "copy", total: 1000, done: 2000, elapsed: 10 * time.Second,
			want: "copy 100.0% 2.0 KiB / 1000 B  200 B/s  ETA 0:00",
		},
		{
			name: "unknown total", label: "scan", done: 5 * mib, elapsed: 10 * time.Second,
			want: "scan 5.0 MiB  512.0 KiB/s",
		},
		{
			name: "unknown total, final", label: "scan", done: 5 * mib, elapsed: 10 * time.Second, final: true,
			want: "scan 5.0 MiB  512.0 KiB/s  in 0:10",
		},
		{
			name: "final", label: "restore vm-01", total: gib, done: gib, elapsed: 64 * time.Second, final: true,
			want: "restore vm-01 100.0% 1.0 GiB / 1.0 GiB  16.0 MiB/s  in 1:04",
		},
		{
			name: "final before the end", label: "restore vm-01", total: gib, done: gib / 2, elapsed: time.Hour + time.Second, final: true,
			want: "restore vm-01  50.0% 512.0 MiB / 1.0 GiB  145.6 KiB/s  in 1:00:01",
		},
		{
			name: "no label", total: gib, done: 256 * mib, elapsed: 16 * time.Second,
			want: " 25.0% 256.0 MiB / 1.0 GiB  16.0 MiB/s  ETA 0:48",
		},
		{
			name: "clock went backwards", label: "copy", total: 100, done: 10, elapsed: -time.Second,
			want: "copy  10.0% 10 B / 100 B  --/s  ETA --:--",
		},
		{
			name: "fits the width", label: "restore vm-01", total: gib, done: 256 * mib, elapsed: 16 * time.Second, width: 64,
			want: "restore vm-01  25.0% 256.0 MiB / 1.0 GiB  16.0 MiB/s  ETA 0:48",
		},
		{
			name: "label shortened to the width", label: "restore vm-01", total: gib, done: 256 * mib, elapsed: 16 * time.Second, width: 58,
			want: "resto...  25.0% 256.0 MiB / 1.0 GiB  16.0 MiB/s  ETA 0:48",
		},
		{
			name: "label shortened by runes", label: "système de fichiers", total: 100, done: 50, elapsed: time.Second, width: 47,
			want: "systè...  50.0% 50 B / 100 B  50 B/s  ETA 0:01",
		},
		{
			name: "too narrow for the label", label: "restore vm-01", total: gib, done: 256 * mib, elapsed: 16 * time.Second, width: 53,
			want: " 25.0% 256.0 MiB / 1.0 GiB  16.0 MiB/s  ETA 0:48",
		},
		{
			name: "too narrow for the stats", label: "restore vm-01", total: gib, done: 256 * mib, elapsed: 16 * time.Second, width: 21,
			want: " 25.0% 256.0 MiB / 1",
		},
		{
			name: "one column", label: "x", total: 10, width: 1,
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(&bytes.Buffer{}, tt.total, tt.label, Options{Clock: clock.NewFake(t0), Width: tt.width})
			b.Add(tt.done)
			got := b.line(t0.Add(tt.elapsed), tt.final)
			if got != tt.want {
				t.Errorf("line =\n%q, want\n%q", got, tt.want)
			}
			if tt.width > 0 && len([]rune(got)) >= tt.width {
				t.Errorf("line %q has %d columns, want fewer than %d", got, len([]rune(got)), tt.width)
			}
		})
	}
}

func TestFinishDrawsExactFinalLine(t *testing.T) {
	clk := clock.NewFake(t0)
	var buf bytes.Buffer
	// A redraw interval of an hour: only Finish draws in this test.
	b := New(&buf, gib, "restore vm-01", Options{Force: true, Clock: clk, Interval: time.Hour})
	b.Add(256 * mib)
	clk.Advance(16 * time.Second)
	b.Add(768 * mib)
	clk.Advance(48 * time.Second)
	if buf.Len() != 0 {
		t.Fatalf("Add drew %q; only the redraw goroutine and Finish should draw", buf.String())
	}
	b.Finish()
	want := "\rrestore vm-01 100.0% 1.0 GiB / 1.0 GiB  16.0 MiB/s  in 1:04\x1b[K\n"
	if got := buf.String(); got != want {
		t.Fatalf("Finish wrote\n%q, want\n%q", got, want)
	}
	b.Finish()
	b.Add(1)
	if got := buf.String(); got != want {
		t.Fatalf("second Finish or Add after Finish wrote more: %q", got)
	}
}

func TestRedrawsOnTicker(t *testing.T) {
	clk := clock.NewFake(t0)
	var buf syncBuffer
	b := New(&buf, gib, "restore vm-01", Options{Force: true, Clock: clk, Interval: time.Millisecond})
	b.Add(256 * mib)
	clk.Advance(16 * time.Second)

	want := "\rrestore vm-01  25.0% 256.0 MiB / 1.0 GiB  16.0 MiB/s  ETA 0:48\x1b[K"
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no redraw %q within 10s; output so far %q", want, buf.String())
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // many ticks with nothing new: no new frames
	b.SetTotal(512 * mib)
	clk.Advance(16 * time.Second)
	b.Finish()

	out := buf.String()
	if !strings.HasSuffix(out, "\rrestore vm-01  50.0% 256.0 MiB / 512.0 MiB  8.0 MiB/s  in 0:32\x1b[K\n") {
		t.Fatalf("output does not end with the final line: %q", out)
	}
	frames := strings.Split(strings.TrimSuffix(out, "\n"), "\r")[1:]
	for i, f := range frames {
		if !strings.HasSuffix(f, "\x1b[K") {
			t.Errorf("frame %d %q does not clear to end of line", i, f)
		}
		if i > 0 && f == frames[i-1] {
			t.Errorf("frame %d %q drawn twice in a row", i, f)
		}
	}
	if strings.Count(out, want) != 1 {
		t.Errorf("unchanged line drawn %d times, want once: %q", strings.Count(out, want), out)
	}
}

func TestConcurrentAdd(t *testing.T) {
	const (
		workers = 16
		adds    = 2000
	)
	clk := clock.NewFake(t0)
	var buf syncBuffer
	b := New(&buf, workers*adds, "copy", Options{Force: true, Clock: clk, Interval: time.Millisecond})

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range adds {
				b.Add(1)
				if i%500 == 0 {
					b.SetTotal(workers * adds)
					if w == 0 {
						clk.Advance(time.Second)
					}
				}
			}
		})
	}
	wg.Wait()
	clk.Set(t0.Add(10 * time.Second))
	b.Finish()

	want := "\rcopy 100.0% 31.2 KiB / 31.2 KiB  3.1 KiB/s  in 0:10\x1b[K\n"
	if out := buf.String(); !strings.HasSuffix(out, want) {
		t.Fatalf("output does not end with %q: %q", want, out)
	}
}

func TestDefaultOptions(t *testing.T) {
	var buf syncBuffer
	b := New(&buf, 10, "work", Options{Force: true})
	b.Add(10)
	b.Finish()
	re := regexp.MustCompile(`^(\r[^\r\n]*\x1b\[K)*\rwork 100\.0% 10 B / 10 B  [0-9.]+ [KMGTPE]?i?B/s  in 0:00\x1b\[K\n$`)
	if out := buf.String(); !re.MatchString(out) {
		t.Fatalf("output %q does not match %v", out, re)
	}
}
