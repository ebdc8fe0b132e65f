package failover

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/opensiterecovery/osr/internal/bootcheck"
	"github.com/opensiterecovery/osr/internal/vault"
)

// BootChecker boots a failed-over machine (verify_boot). *bootcheck.Checker implements it.
type BootChecker interface {
	// CheckFile boots the machine whose definition is the file at definitionFile (its relative
	// disk files are beside it) and waits for a marker on its serial console. It never writes the
	// disks. A machine that does not boot is an error (*bootcheck.TimeoutError or
	// *bootcheck.ExitError, with the console's last lines); so is ctx's end.
	CheckFile(ctx context.Context, definitionFile string) (*bootcheck.Result, error)
}

// DefaultQEMU is the binary the boot check runs, looked up at request time.
const DefaultQEMU = "qemu-system-x86_64"

// localProvider is the provider whose disks the boot check can open (files on this host).
const localProvider = "local"

// BootCheck is the boot check of a failover record's machine (verify_boot).
type BootCheck struct {
	Passed bool `json:"passed"`
	// Marker is the marker that appeared on the serial console (passed only).
	Marker string `json:"marker,omitempty"`
	// Duration is the boot check's wall time: qemu's start to the marker when it passed, the
	// whole check when it failed.
	Duration time.Duration `json:"duration_ns"`
	// Console is the serial console's last lines (failed only).
	Console []string `json:"console,omitempty"`
	// Error is why it failed.
	Error string `json:"error,omitempty"`
}

// checkVerifyBoot refuses a verify_boot request this service cannot honour, before anything is
// changed: no boot checker, a target whose disks are not local files, no qemu.
func (s *Service) checkVerifyBoot(p *prepared) error {
	if s.cfg.BootCheck == nil {
		return vault.Errorf(http.StatusNotImplemented, "verify_boot: this vault service has no boot check configured")
	}
	if p.provider != localProvider {
		return badRequest("verify_boot: target %s is of provider %s; the boot check boots machines of local targets only (their disks are files on the vault's host)", p.target, p.provider)
	}
	if _, err := s.lookPath(s.cfg.QEMU); err != nil {
		return vault.Errorf(http.StatusNotImplemented, "verify_boot: %v", bootcheck.ErrQEMUMissing)
	}
	return nil
}

// boot runs the boot check of the machine the job created; result is the job's result so far.
// The disks stay whatever the outcome: a failed check leaves them for inspection (the record
// keeps them, and cleanup or the next attempt removes them).
func (j *job) boot(ctx context.Context, result string) (string, error) {
	rec := j.rec
	if rec.Result == nil || rec.Result.DefinitionFile == "" {
		return "", errors.New("boot check: the target wrote no machine definition file")
	}
	// The disks are complete: the record says so before the boot, so that a vault service that
	// stops meanwhile leaves a record whose cleanup knows what to remove.
	if err := j.s.saveRecord(ctx, nil, rec); err != nil {
		return "", err
	}
	name := rec.Machine
	if rec.Definition != nil {
		name = rec.Definition.Name
	}
	j.event("info", "boot-check-started", fmt.Sprintf("boot check of %s started (%s)", name, rec.Result.DefinitionFile))
	start := time.Now() // wall time, whatever the service's clock
	res, err := j.s.cfg.BootCheck.CheckFile(ctx, rec.Result.DefinitionFile)
	if err != nil {
		if ctx.Err() != nil {
			return "", err
		}
		bc := &BootCheck{Duration: time.Since(start), Error: err.Error()}
		var te *bootcheck.TimeoutError
		var ee *bootcheck.ExitError
		switch {
		case errors.As(err, &te):
			bc.Console = te.Tail
		case errors.As(err, &ee):
			bc.Console = ee.Tail
		}
		rec.BootCheck = bc
		return "", err
	}
	rec.BootCheck = &BootCheck{Passed: true, Marker: res.Marker, Duration: res.Duration}
	return fmt.Sprintf("%s; boot check passed in %s (%s on the serial console)", result, fmtSeconds(res.Duration), res.Marker), nil
}

// fmtSeconds prints a duration in seconds with one decimal ("6.4s").
func fmtSeconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }
