package progress

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/opensiterecovery/osr/internal/clock"
)

// openPTY opens a pseudo-terminal of the given width and returns its controller and terminal
// ends, or skips the test when the system has none.
func openPTY(t *testing.T, cols uint16) (controller, tty *os.File) {
	t.Helper()
	controller, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { controller.Close() })
	ioctl := func(f *os.File, req uintptr, arg unsafe.Pointer) error {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(arg)); errno != 0 {
			return errno
		}
		return nil
	}
	var unlock int32
	if err := ioctl(controller, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		t.Skipf("unlocking pseudo-terminal: %v", err)
	}
	var n uint32
	if err := ioctl(controller, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		t.Skipf("pseudo-terminal number: %v", err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	size := struct{ rows, cols, x, y uint16 }{rows: 24, cols: cols}
	if err := ioctl(tty, syscall.TIOCSWINSZ, unsafe.Pointer(&size)); err != nil {
		t.Skipf("setting pseudo-terminal size: %v", err)
	}
	return controller, tty
}

func TestDrawsOnTerminal(t *testing.T) {
	controller, tty := openPTY(t, 49)
	clk := clock.NewFake(t0)
	b := New(tty, 100, "backup of a machine with a long name", Options{Clock: clk, Interval: time.Hour})
	if b.stop == nil {
		t.Fatal("bar on a terminal is silent")
	}
	if b.width != 49 {
		t.Fatalf("width = %d, want the terminal's 49 columns", b.width)
	}
	b.Add(100)
	clk.Advance(4 * time.Second)
	b.Finish()

	// The terminal turns the final "\n" into "\r\n".
	want := "\rbackup... 100.0% 100 B / 100 B  25 B/s  in 0:04\x1b[K\r\n"
	if err := controller.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Skipf("no read deadline on the pseudo-terminal: %v", err)
	}
	var got []byte
	buf := make([]byte, 256)
	for !strings.HasSuffix(string(got), "\n") {
		n, err := controller.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("reading the terminal: %v; read %q", err, got)
		}
	}
	if string(got) != want {
		t.Fatalf("terminal got\n%q, want\n%q", got, want)
	}
}
