package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var pe *problemsError
	switch {
	case err == nil:
	case errors.As(err, &pe):
		os.Exit(1)
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "workload:", err)
		os.Exit(2)
	}
}

// problemsError means verify found differences (already printed).
type problemsError struct{ n int }

func (e *problemsError) Error() string { return fmt.Sprintf("%d problems", e.n) }

// rootFlags collects repeated --root LABEL=DIR flags.
type rootFlags []rootDir

func (r *rootFlags) String() string { return fmt.Sprint(*r) }

func (r *rootFlags) Set(v string) error {
	label, dir, ok := strings.Cut(v, "=")
	if !ok || label == "" || dir == "" {
		return fmt.Errorf("want LABEL=DIR, got %q", v)
	}
	*r = append(*r, rootDir{Label: label, Dir: dir})
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: workload run|verify [flags] (workload run -h)")
		return flag.ErrHelp
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "verify":
		return cmdVerify(args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q (want run or verify)", args[0])
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o runOptions
	var roots rootFlags
	var manifestPath string
	fs := flag.NewFlagSet("workload run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&roots, "root", "LABEL=DIR: an empty directory (a mount point) to write into; repeat for several disks")
	fs.StringVar(&manifestPath, "manifest", "", "manifest file to create (required; keep it off the disks written)")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the operations and the content")
	fs.IntVar(&o.Ops, "ops", 0, "stop after this many operations (0: no limit)")
	fs.DurationVar(&o.Duration, "duration", 0, "stop after this long (0: no limit; SIGTERM stops it too)")
	fs.DurationVar(&o.Pause, "pause", 0, "pause between operations")
	fs.Int64Var(&o.MinSize, "min-size", 1<<10, "smallest new file")
	fs.Int64Var(&o.MaxSize, "max-size", 4<<20, "largest file")
	fs.Int64Var(&o.MaxBytes, "max-bytes", 32<<20, "delete files while the files hold more than this")
	fs.IntVar(&o.MaxFiles, "max-files", 2000, "delete files while there are this many")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if manifestPath == "" {
		return errors.New("--manifest is required")
	}
	o.Roots = roots
	f, err := os.OpenFile(manifestPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := newRunner(o, f, clock.Real{})
	if err != nil {
		return err
	}
	runErr := r.run(ctx)
	fmt.Fprintf(stdout, "workload: %d ops, %d files, %d bytes\n", r.lastSeq(), len(r.files), r.bytes)
	return runErr
}

func cmdVerify(args []string, stdout, stderr io.Writer) error {
	var roots rootFlags
	var manifestPath, at string
	var slack time.Duration
	fs := flag.NewFlagSet("workload verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&roots, "root", "LABEL=DIR: where the image of that root is mounted (read-only is fine); repeat")
	fs.StringVar(&manifestPath, "manifest", "", "the run's manifest (required)")
	fs.StringVar(&at, "at", "", "capture time of the image: RFC 3339 with fraction, or unix nanoseconds (required)")
	fs.DurationVar(&slack, "slack", 0, "operations begun this long after --at may show too")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if manifestPath == "" || at == "" || len(roots) == 0 {
		return errors.New("--manifest, --at and at least one --root are required")
	}
	atNS, err := parseInstant(at)
	if err != nil {
		return err
	}
	f, err := os.Open(manifestPath)
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := parseManifest(f)
	if err != nil {
		return err
	}
	dirs := map[string]string{}
	for _, r := range roots {
		dirs[r.Label] = r.Dir
	}
	res, err := verifyRoots(m, dirs, atNS, int64(slack))
	if err != nil {
		return err
	}
	if len(res.Problems) > 0 {
		for _, p := range res.Problems {
			fmt.Fprintln(stderr, "workload verify:", p)
		}
		fmt.Fprintf(stderr, "workload verify: %d problems (%d paths checked, capture window %d-%d)\n",
			len(res.Problems), res.Paths, res.Window.lo, res.Window.hi)
		return &problemsError{len(res.Problems)}
	}
	fit := res.Cuts.intersect(spanSet{res.Window})
	fmt.Fprintf(stdout, "workload verify: ok: %d paths, %d files present, cut %s of %d (window %d-%d)\n",
		res.Paths, res.Present, fit, 2*len(m.Ops), res.Window.lo, res.Window.hi)
	return nil
}

// parseInstant reads RFC 3339 (with or without fraction) or unix nanoseconds.
func parseInstant(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("bad --at %q: want RFC 3339 or unix nanoseconds", s)
	}
	return t.UnixNano(), nil
}
