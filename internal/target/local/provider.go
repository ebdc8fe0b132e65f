package local

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/target"
)

// Disk formats the provider writes.
const (
	FormatRaw   = "raw"
	FormatVHD   = "vhd"
	FormatQcow2 = "qcow2"
)

// DefinitionFile is the machine definition's name in a run directory.
const DefinitionFile = "machine.json"

func validFormat(f string) bool { return f == FormatRaw || f == FormatVHD || f == FormatQcow2 }

// Config configures a Provider.
type Config struct {
	// Dir is the directory the run directories are made in; it is created if missing.
	Dir string
	// Format is the disk format: raw (default), vhd or qcow2. A definition disk whose Format is
	// one of these is written in that format instead.
	Format string
	// Workers copy a disk's data in parallel (qcow2 and disks without a raw export); default
	// 2×GOMAXPROCS, at least 4.
	Workers int
	Clock   clock.Clock  // VHD timestamps; default clock.Real
	Rand    io.Reader    // VHD unique IDs; default crypto/rand
	Logger  *slog.Logger // default: discard
}

// ConfigFromSettings reads a target's settings: "dir" (required) and "format" (optional). Unknown
// settings are refused.
func ConfigFromSettings(settings map[string]string) (Config, error) {
	var c Config
	for k, v := range settings {
		switch k {
		case "dir":
			c.Dir = v
		case "format":
			c.Format = v
		default:
			return Config{}, fmt.Errorf("local target: unknown setting %q (dir, format)", k)
		}
	}
	return c, nil
}

// Provider is the local target. It is safe for concurrent use by different runs; one run must
// not be created twice at once (the failover service locks the machine).
type Provider struct {
	cfg Config
	dir string // absolute
}

// New checks cfg and returns the provider; the output directory is created if missing.
func New(cfg Config) (*Provider, error) {
	if cfg.Dir == "" {
		return nil, errors.New("local target: no output directory (setting dir)")
	}
	if cfg.Format == "" {
		cfg.Format = FormatRaw
	}
	if !validFormat(cfg.Format) {
		return nil, fmt.Errorf("local target: format %q is not raw, vhd or qcow2", cfg.Format)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("local target: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("local target: %w", err)
	}
	return &Provider{cfg: cfg, dir: dir}, nil
}

// Name is "local".
func (p *Provider) Name() string { return "local" }

// Dir is the absolute directory runs are created in.
func (p *Provider) Dir() string { return p.dir }

// safeName turns a name into a single plain path component: characters other than letters,
// digits, '-', '_' and '.' become '_', as does a leading dot; it is cut to 100 bytes.
func safeName(what, s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("local target: %s is empty", what)
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') || i == 0 && c == '.' {
			b[i] = '_'
		}
	}
	return string(b[:min(len(b), 100)]), nil
}

// plannedDisk is one disk of a run with where and how it is written.
type plannedDisk struct {
	d      target.Disk
	format string
	file   string // name in the run directory
}

func (p *Provider) plan(req target.Request) (string, target.Definition, []plannedDisk, error) {
	def := req.Definition
	run, err := safeName("run", req.Run)
	if err != nil {
		return "", def, nil, err
	}
	machine, err := safeName("machine name", def.Name)
	if err != nil {
		return "", def, nil, err
	}
	if len(req.Disks) == 0 {
		return "", def, nil, errors.New("local target: the request has no disks")
	}
	if len(req.Disks) != len(def.Disks) {
		return "", def, nil, fmt.Errorf("local target: the request has %d disks, the definition %d", len(req.Disks), len(def.Disks))
	}
	def.Disks = append([]target.DefinitionDisk(nil), def.Disks...)
	seen := map[string]bool{}
	var out []plannedDisk
	for i, d := range req.Disks {
		dd := &def.Disks[i]
		if dd.Name != d.Name() {
			return "", def, nil, fmt.Errorf("local target: definition disk %d is %q, the point's is %q", i, dd.Name, d.Name())
		}
		base, err := safeName("disk name", d.Name())
		if err != nil {
			return "", def, nil, err
		}
		if seen[base] {
			return "", def, nil, fmt.Errorf("local target: disk %s: another disk has the file name %s", d.Name(), base)
		}
		seen[base] = true
		if d.Size() <= 0 {
			return "", def, nil, fmt.Errorf("local target: disk %s has size %d", d.Name(), d.Size())
		}
		if dd.SizeBytes != 0 && dd.SizeBytes != d.Size() {
			return "", def, nil, fmt.Errorf("local target: disk %s is %d bytes in the definition, %d in the point", d.Name(), dd.SizeBytes, d.Size())
		}
		format := p.cfg.Format
		if validFormat(dd.Format) {
			format = dd.Format
		} else if dd.Format != "" {
			return "", def, nil, fmt.Errorf("local target: disk %s: format %q is not raw, vhd or qcow2", d.Name(), dd.Format)
		}
		dd.SizeBytes, dd.Format, dd.File = d.Size(), format, base+"."+format
		out = append(out, plannedDisk{d: d, format: format, file: dd.File})
	}
	return filepath.Join(p.dir, machine+"-"+run), def, out, nil
}

// Create writes the run's disks and then its machine.json. Called again for the same run, it
// keeps the disks whose done marker matches and writes the others from the start. progress is
// called one call at a time, with ascending counts; disks kept from an earlier call count as
// done at once.
func (p *Provider) Create(ctx context.Context, req target.Request, progress target.Progress) (target.Result, error) {
	dir, def, disks, err := p.plan(req)
	if err != nil {
		return target.Result{}, err
	}
	if progress == nil {
		progress = func(int64, int64) {}
	}
	log := p.cfg.Logger.With("run", req.Run, "dir", dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return target.Result{}, fmt.Errorf("local target: %w", err)
	}
	if err := syncDir(p.dir); err != nil {
		return target.Result{}, fmt.Errorf("local target: %w", err)
	}
	defPath := filepath.Join(dir, DefinitionFile)
	// The definition goes first, so the directory says "incomplete" while disks are written.
	if err := os.Remove(defPath); err == nil {
		if err := syncDir(dir); err != nil {
			return target.Result{}, fmt.Errorf("local target: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return target.Result{}, fmt.Errorf("local target: %w", err)
	}
	var total int64
	for _, d := range disks {
		total += d.d.Size()
	}
	// One lock around the count and the call keeps the reports in ascending order.
	var mu sync.Mutex
	var done int64
	add := func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		done += n
		progress(done, total)
	}
	res := target.Result{Provider: p.Name(), Location: dir, DefinitionFile: defPath}
	for _, d := range disks {
		m, err := p.writeDisk(ctx, dir, req.Definition.PointID, d, add)
		if err != nil {
			return target.Result{}, fmt.Errorf("local target: disk %s: %w", d.d.Name(), err)
		}
		log.Info("disk ready", "disk", d.d.Name(), "format", d.format, "written", m.BytesWritten, "skipped", m.BytesSkipped)
		res.Disks = append(res.Disks, filepath.Join(dir, d.file))
		res.BytesWritten += m.BytesWritten
		res.BytesSkipped += m.BytesSkipped
	}
	b, err := json.MarshalIndent(def, "", "  ")
	if err != nil {
		return target.Result{}, fmt.Errorf("local target: %w", err)
	}
	if err := writeFileAtomic(defPath, append(b, '\n')); err != nil {
		return target.Result{}, fmt.Errorf("local target: %w", err)
	}
	return res, nil
}

// Remove deletes the run directory of res. It refuses locations that are not a run directory
// directly inside the provider's directory.
func (p *Provider) Remove(ctx context.Context, res target.Result) error {
	if res.Provider != p.Name() {
		return fmt.Errorf("local target: cannot remove what provider %q made", res.Provider)
	}
	loc := filepath.Clean(res.Location)
	if !filepath.IsAbs(loc) || filepath.Dir(loc) != p.dir || strings.HasPrefix(filepath.Base(loc), ".") {
		return fmt.Errorf("local target: %s is not a run directory in %s", res.Location, p.dir)
	}
	if err := os.RemoveAll(loc); err != nil {
		return fmt.Errorf("local target: %w", err)
	}
	if err := syncDir(p.dir); err != nil {
		return fmt.Errorf("local target: %w", err)
	}
	return nil
}
