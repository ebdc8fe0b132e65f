package childproc

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// WaitDelay bounds how long Wait waits for the output of a killed child (a grandchild that kept
// its stdout open) before it closes the pipes.
const WaitDelay = 5 * time.Second

// Command is exec.CommandContext with the child in a process group of its own (on Unix): the end
// of ctx kills the group, so what the child started ends with it. Wait returns at most WaitDelay
// after the kill.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	ownGroup(cmd)
	cmd.WaitDelay = WaitDelay
	return cmd
}

// TailSize is how many bytes a Tail keeps.
const TailSize = 4096

// Tail is an io.Writer that keeps the last TailSize bytes written to it. Its zero value is ready
// to use; it is safe for concurrent use (a child's stdout and stderr may share one).
type Tail struct {
	mu  sync.Mutex
	buf []byte
}

// Write keeps the end of p; it never fails.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > TailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-TailSize:]...)
	}
	return len(p), nil
}

// String returns what is kept, with invalid UTF-8 (a cut character) replaced by '?'.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ToValidUTF8(string(t.buf), "?")
}

// LastLine returns the last line that is not blank, without surrounding white space ("" when
// nothing but white space was written).
func (t *Tail) LastLine() string {
	lines := strings.Split(strings.TrimSpace(t.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
