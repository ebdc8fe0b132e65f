package progress

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/opensiterecovery/osr/internal/clock"
)

// DefaultInterval is the time between redraws: at most five per second.
const DefaultInterval = 200 * time.Millisecond

// Options tune a Bar. The zero value is fine for CLI use.
type Options struct {
	// Force renders even when the writer is not a terminal (tests, --progress=always).
	Force bool
	// Clock times throughput and ETA; nil means the system clock.
	Clock clock.Clock
	// Interval is the time between redraws; zero means DefaultInterval.
	Interval time.Duration
	// Width is the most columns the line may use; zero means the terminal's width when the
	// writer is a terminal, and no limit otherwise. Long labels are shortened to fit.
	Width int
}

// Bar reports the progress of work measured in bytes. Add and SetTotal are safe for concurrent
// use; Finish must be called once the work is over, to stop redrawing and end the line.
type Bar struct {
	w     io.Writer
	label string
	clock clock.Clock
	start time.Time
	width int

	done, total atomic.Int64

	mu   sync.Mutex // serializes drawing
	last string     // last line drawn, to skip identical redraws

	stop, stopped chan struct{} // nil when the bar is silent
	finish        sync.Once
}

// New returns a Bar for total bytes of work (zero or less if unknown) that draws on w, starting
// its redraw goroutine when w is a terminal or opts.Force is set. Otherwise the bar only counts.
func New(w io.Writer, total int64, label string, opts Options) *Bar {
	b := &Bar{w: w, label: label, clock: opts.Clock, width: opts.Width}
	if b.clock == nil {
		b.clock = clock.Real{}
	}
	b.start = b.clock.Now()
	b.total.Store(total)

	f, isFile := w.(*os.File)
	tty := isFile && term.IsTerminal(int(f.Fd()))
	if !tty && !opts.Force {
		return b
	}
	if tty && b.width == 0 {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil {
			b.width = cols
		}
	}
	interval := opts.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	b.stop, b.stopped = make(chan struct{}), make(chan struct{})
	go b.loop(interval)
	return b
}

// Add records n more bytes done. It only counts; the line is redrawn by the bar's goroutine.
func (b *Bar) Add(n int64) { b.done.Add(n) }

// SetTotal changes the total number of bytes; zero or less means unknown.
func (b *Bar) SetTotal(total int64) { b.total.Store(total) }

// Finish stops redrawing and draws the final line, with the elapsed time, followed by a newline.
// Later calls do nothing.
func (b *Bar) Finish() {
	b.finish.Do(func() {
		if b.stop == nil {
			return
		}
		close(b.stop)
		<-b.stopped
		b.draw(true)
	})
}

func (b *Bar) loop(interval time.Duration) {
	defer close(b.stopped)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.draw(false)
		}
	}
}

// draw rewrites the line: carriage return, text, clear to end of line. Write errors are ignored:
// progress output is best effort and must not fail the work it reports on.
func (b *Bar) draw(final bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.line(b.clock.Now(), final)
	if !final && s == b.last {
		return
	}
	b.last = s
	out := "\r" + s + "\x1b[K"
	if final {
		out += "\n"
	}
	_, _ = io.WriteString(b.w, out)
}
