package winsvc

import (
	"context"
	"errors"

	"golang.org/x/sys/windows/svc"
)

// exitFailed is the service-specific exit code when the agent ended on its own with an error: the
// manager then applies the recovery actions (restart).
const exitFailed = 1

// IsService reports whether the service control manager started this process.
func IsService() (bool, error) { return svc.IsWindowsService() }

// Run runs run as the service name until it returns or the manager asks the service to stop or
// shut down; then run's context is cancelled and Run waits for it to return. It returns run's
// error, except the cancellation of a requested stop.
func Run(name string, run func(ctx context.Context) error) error {
	h := &handler{run: run}
	if err := svc.Run(name, h); err != nil {
		return err
	}
	return h.err
}

// handler is the svc.Handler of the mobility service.
type handler struct {
	run func(ctx context.Context) error
	err error // what run returned, unless the stop was requested
}

// Execute implements svc.Handler.
func (h *handler) Execute(_ []string, reqs <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.run(ctx) }()
	const accepts = svc.AcceptStop | svc.AcceptShutdown
	status <- svc.Status{State: svc.Running, Accepts: accepts}
	for {
		select {
		case err := <-done: // the agent ended by itself
			status <- svc.Status{State: svc.StopPending}
			if err != nil && !errors.Is(err, context.Canceled) {
				h.err = err
				return true, exitFailed
			}
			return false, 0
		case r := <-reqs:
			switch r.Cmd {
			case svc.Interrogate:
				status <- r.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: uint32(StopTimeout.Milliseconds())}
				cancel()
				if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
					h.err = err
				}
				return false, 0
			default:
				status <- svc.Status{State: svc.Running, Accepts: accepts}
			}
		}
	}
}
