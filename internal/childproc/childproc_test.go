//go:build unix

package childproc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestTail(t *testing.T) {
	for _, tc := range []struct {
		name      string
		writes    []string
		str, last string
	}{
		{"empty", nil, "", ""},
		{"blank", []string{" \n\n"}, " \n\n", ""},
		{"lines", []string{"one\n", "two \n\n"}, "one\ntwo \n\n", "two"},
		{"partial line", []string{"one\ntw", "o"}, "one\ntwo", "two"},
		{"kept end", []string{strings.Repeat("a", TailSize), "\nlast\n"}, strings.Repeat("a", TailSize-6) + "\nlast\n", "last"},
		{"cut character", []string{"é", strings.Repeat("a", TailSize-1)}, "?" + strings.Repeat("a", TailSize-1), "?" + strings.Repeat("a", TailSize-1)},
	} {
		var tl Tail
		for _, w := range tc.writes {
			if n, err := tl.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("%s: Write = %d, %v", tc.name, n, err)
			}
		}
		if got := tl.String(); got != tc.str {
			t.Errorf("%s: String() = %.60q, want %.60q", tc.name, got, tc.str)
		}
		if got := tl.LastLine(); got != tc.last {
			t.Errorf("%s: LastLine() = %.60q, want %.60q", tc.name, got, tc.last)
		}
	}
}

// TestCommandKillsGroup: the end of the context kills what the child started too, and Wait
// returns at once although a grandchild held the output pipe.
func TestCommandKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	cmd := Command(ctx, "sh", "-c", "sleep 60 & echo $! > "+pidFile+"; echo started; wait")
	var out Tail
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	if err == nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("Run = %v, ctx %v", err, ctx.Err())
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Run returned after %s", d)
	}
	if out.LastLine() != "started" {
		t.Fatalf("output %q", out.String())
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	for _, c := range strings.TrimSpace(string(b)) {
		pid = pid*10 + int(c-'0')
	}
	deadline := time.Now().Add(2 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
