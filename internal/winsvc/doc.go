// Package winsvc runs the mobility service under the Windows service control manager and
// registers it there.
//
// On Windows, Run drives a process started by the service manager: it reports the service
// running, runs the agent with a context that is cancelled when the manager asks it to stop (Stop
// or Shutdown), reports it stopped once the agent has returned, and exits with a service-specific
// code when the agent failed on its own, so that the recovery actions Install sets (restart after
// 5 s, 30 s, 60 s) apply. Install and Uninstall create and delete the service with the manager
// (golang.org/x/sys/windows/svc/mgr).
//
// On every other system IsService reports false and the rest returns ErrNotWindows: Linux agents
// run under systemd units that osr mobility install and deploy write.
package winsvc
