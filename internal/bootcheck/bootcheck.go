package bootcheck

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opensiterecovery/osr/internal/target"
)

// Defaults of Config.
const (
	DefaultTimeout     = 5 * time.Minute
	DefaultMaxMemoryMB = 2048
	DefaultMaxCPUs     = 2
	DefaultTailLines   = 20
	// LoginMarker is what a login prompt ends with ("web01 login: ").
	LoginMarker = "login:"
)

// Config configures a Checker. Zero values take the defaults.
type Config struct {
	// QEMU is the qemu-system-x86_64 binary (default: found in PATH).
	QEMU string
	// Timeout bounds one boot, from qemu's start to the marker (default DefaultTimeout).
	Timeout time.Duration
	// Markers end the check successfully when one appears on the serial console (default: a login
	// prompt, LoginMarker). Give your own (for example a line a boot script prints) to replace it.
	Markers []string
	// MaxMemoryMB caps the machine's memory (default DefaultMaxMemoryMB); the definition's memory
	// is used when it is smaller.
	MaxMemoryMB int64
	// MaxCPUs caps the machine's vCPUs (default DefaultMaxCPUs).
	MaxCPUs int
	// TailLines is how many console lines a result or an error keeps (default DefaultTailLines).
	TailLines int
	// OVMF is the UEFI firmware for machines whose firmware is "uefi" (default:
	// /usr/share/ovmf/OVMF.fd when it exists).
	OVMF string
}

// Deps are the Checker's injected dependencies; zero values take the real ones.
type Deps struct {
	Logger *slog.Logger
	// LookPath finds the qemu binary (exec.LookPath).
	LookPath func(string) (string, error)
}

// Checker boots machines. It is safe for concurrent use: every Check runs its own qemu.
type Checker struct {
	cfg      Config
	log      *slog.Logger
	lookPath func(string) (string, error)
}

// Result is a successful boot check.
type Result struct {
	Machine string `json:"machine"`
	// Marker is the marker that appeared.
	Marker string `json:"marker"`
	// Duration is the wall time from qemu's start to the marker.
	Duration time.Duration `json:"duration_ns"`
	// Console is the console's last lines (control characters removed).
	Console []string `json:"console"`
}

// ErrQEMUMissing is returned (wrapped) when qemu-system-x86_64 cannot be found.
var ErrQEMUMissing = errors.New("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")

// TimeoutError: no marker appeared within the timeout.
type TimeoutError struct {
	Machine string
	Timeout time.Duration
	Markers []string
	Tail    []string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("boot check of %s: %s did not appear on the serial console within %s; last console lines:\n%s",
		e.Machine, markerList(e.Markers), e.Timeout, indent(e.Tail))
}

// ExitError: qemu exited before a marker appeared (a kernel panic with panic=, a power-off, a bad
// option, an unreadable image).
type ExitError struct {
	Machine string
	// Status is qemu's exit status ("exit status 1").
	Status string
	// Stderr is the last line qemu wrote to its standard error, if any.
	Stderr string
	Tail   []string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("boot check of %s: qemu exited before a marker appeared (%s)", e.Machine, e.Status)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg + "; last console lines:\n" + indent(e.Tail)
}

func markerList(ms []string) string {
	q := make([]string, len(ms))
	for i, m := range ms {
		q[i] = strconv.Quote(m)
	}
	if len(q) == 1 {
		return q[0]
	}
	return "none of " + strings.Join(q, ", ")
}

func indent(lines []string) string {
	if len(lines) == 0 {
		return "  (nothing)"
	}
	return "  " + strings.Join(lines, "\n  ")
}

// New returns a Checker.
func New(cfg Config, deps Deps) (*Checker, error) {
	if cfg.Timeout < 0 || cfg.MaxMemoryMB < 0 || cfg.MaxCPUs < 0 || cfg.TailLines < 0 {
		return nil, errors.New("boot check: timeout, memory, cpus and tail lines must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if len(cfg.Markers) == 0 {
		cfg.Markers = []string{LoginMarker}
	}
	for _, m := range cfg.Markers {
		if m == "" || strings.ContainsAny(m, "\n\r") {
			return nil, fmt.Errorf("boot check: marker %q must be non-empty and on one line", m)
		}
	}
	if cfg.MaxMemoryMB == 0 {
		cfg.MaxMemoryMB = DefaultMaxMemoryMB
	}
	if cfg.MaxCPUs == 0 {
		cfg.MaxCPUs = DefaultMaxCPUs
	}
	if cfg.TailLines == 0 {
		cfg.TailLines = DefaultTailLines
	}
	if cfg.OVMF == "" {
		if _, err := os.Stat("/usr/share/ovmf/OVMF.fd"); err == nil {
			cfg.OVMF = "/usr/share/ovmf/OVMF.fd"
		}
	}
	c := &Checker{cfg: cfg, log: deps.Logger, lookPath: deps.LookPath}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.lookPath == nil {
		c.lookPath = exec.LookPath
	}
	return c, nil
}

// qemuFormat maps a definition disk format to qemu's format= name.
func qemuFormat(f string) (string, bool) {
	switch f {
	case "raw":
		return "raw", true
	case "vhd":
		return "vpc", true
	case "qcow2":
		return "qcow2", true
	}
	return "", false
}

// args returns qemu's command line for the machine; dir resolves relative disk files.
func (c *Checker) args(def target.Definition, dir string) ([]string, error) {
	name := def.Name
	if len(def.Disks) == 0 {
		return nil, fmt.Errorf("boot check of %s: the definition has no disks", name)
	}
	mem := def.MemoryMB
	if mem <= 0 || mem > c.cfg.MaxMemoryMB {
		mem = c.cfg.MaxMemoryMB
	}
	cpus := def.CPUs
	if cpus <= 0 || cpus > c.cfg.MaxCPUs {
		cpus = c.cfg.MaxCPUs
	}
	a := []string{
		"-name", "osr-bootcheck-" + name,
		"-accel", "tcg", "-nographic", "-monitor", "none", "-serial", "stdio", "-parallel", "none",
		"-no-reboot", "-nic", "none", "-snapshot",
		"-m", strconv.FormatInt(mem, 10), "-smp", strconv.Itoa(cpus),
	}
	switch def.Firmware {
	case "", "bios":
	case "uefi":
		if c.cfg.OVMF == "" {
			return nil, fmt.Errorf("boot check of %s: the machine boots with uefi and no OVMF firmware is installed (apt-get install ovmf)", name)
		}
		a = append(a, "-bios", c.cfg.OVMF)
	default:
		return nil, fmt.Errorf("boot check of %s: unknown firmware %q (bios or uefi)", name, def.Firmware)
	}
	for i, d := range def.Disks {
		f, ok := qemuFormat(d.Format)
		if !ok {
			return nil, fmt.Errorf("boot check of %s: disk %s has format %q, which the boot check cannot open (raw, vhd or qcow2)", name, d.Name, d.Format)
		}
		p := d.File
		if p == "" {
			return nil, fmt.Errorf("boot check of %s: disk %s has no file", name, d.Name)
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("boot check of %s: disk %s: %w", name, d.Name, err)
		}
		// The first four disks on IDE (every guest has its driver), the others on virtio.
		bus := "if=ide,index=" + strconv.Itoa(i)
		if i >= 4 {
			bus = "if=virtio"
		}
		a = append(a, "-drive", "file="+strings.ReplaceAll(p, ",", ",,")+",format="+f+",media=disk,"+bus)
	}
	return a, nil
}
