package pushinstall

import (
	"context"
	"fmt"
	"strings"
)

// Service kinds.
const (
	Systemd    = "systemd"
	Supervised = "supervised" // no systemd running: see the package documentation
)

func (l Layout) usesSystemd(ctx context.Context, r runner) bool {
	if strings.Trim(l.Root, "/") != "" {
		return false // a unit under another root would never be seen by systemd
	}
	_, err := r.run(ctx, "[ -d /run/systemd/system ]")
	return err == nil
}

func (l Layout) unitText() string {
	return fmt.Sprintf(`# Installed by osr push install; remove with osr mobility uninstall.
[Unit]
Description=osr mobility service (replicates this machine's disks)
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=%s mobility serve --config %s
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
`, l.Binary(), l.Config())
}

func (l Layout) supervisorText() string {
	return fmt.Sprintf(`#!/bin/sh
# osr mobility service, supervised: this machine runs no systemd. Restarts the agent 5 s after it
# exits. Started by osr push install with setsid; its process group is in %s.
trap 'kill "$child" 2>/dev/null; exit 0' TERM INT
while :; do
	%s mobility serve --config %s &
	child=$!
	wait "$child"
	sleep 5
done
`, l.supervisorPID(), quote(l.Binary()), quote(l.Config()))
}

func (l Layout) supervisorPID() string { return l.p("var/lib/osr/supervisor.pid") }

// startService (re)starts the agent and returns the service kind.
func (l Layout) startService(ctx context.Context, r runner) (string, error) {
	if l.usesSystemd(ctx, r) {
		cmd := fmt.Sprintf("mkdir -p %s && cat > %s <<'OSR_UNIT'\n%sOSR_UNIT\nsystemctl daemon-reload && systemctl enable %s && systemctl restart %s",
			quote(l.p("etc/systemd/system")), quote(l.Unit()), l.unitText(), UnitName, UnitName)
		if _, err := r.run(ctx, cmd); err != nil {
			return "", fmt.Errorf("start the systemd service: %w", err)
		}
		return Systemd, nil
	}
	if err := l.stopSupervised(ctx, r); err != nil {
		return "", err
	}
	cmd := fmt.Sprintf("mkdir -p %s %s && cat > %s <<'OSR_SUPERVISOR'\n%sOSR_SUPERVISOR\nchmod 0755 %s && "+
		"setsid %s </dev/null >>%s 2>&1 & echo $! > %s",
		quote(l.p("var/log/osr")), quote(l.p("var/lib/osr")), quote(l.Supervisor()), l.supervisorText(), quote(l.Supervisor()),
		quote(l.Supervisor()), quote(l.LogFile()), quote(l.supervisorPID()))
	if _, err := r.run(ctx, cmd); err != nil {
		return "", fmt.Errorf("start the supervised agent: %w", err)
	}
	return Supervised, nil
}

// stopService stops whichever service runs the agent.
func (l Layout) stopService(ctx context.Context, r runner) error {
	if l.usesSystemd(ctx, r) {
		if _, err := r.run(ctx, fmt.Sprintf("if [ -f %s ]; then systemctl disable --now %s; rm -f %s; systemctl daemon-reload; fi",
			quote(l.Unit()), UnitName, quote(l.Unit()))); err != nil {
			return fmt.Errorf("stop the systemd service: %w", err)
		}
	}
	return l.stopSupervised(ctx, r)
}

// stopSupervised ends the supervisor's process group (TERM, then KILL after 5 s).
func (l Layout) stopSupervised(ctx context.Context, r runner) error {
	cmd := fmt.Sprintf(`f=%s
[ -f "$f" ] || exit 0
pg=$(cat "$f")
case "$pg" in ''|*[!0-9]*) rm -f "$f"; exit 0;; esac
kill -TERM -"$pg" 2>/dev/null || { rm -f "$f"; exit 0; }
i=0
while kill -0 -"$pg" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL -"$pg" 2>/dev/null
rm -f "$f"`, quote(l.supervisorPID()))
	if _, err := r.run(ctx, cmd); err != nil {
		return fmt.Errorf("stop the supervised agent: %w", err)
	}
	return nil
}
