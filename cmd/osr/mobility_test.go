package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/clock"
)

func runMobility(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, clock: clock.Real{}}
	root := a.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func TestMobilityCommands(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	os.WriteFile(img, make([]byte, 1<<20), 0o600)
	cfg := filepath.Join(dir, "mobility.yaml")
	os.WriteFile(cfg, []byte(`machine: web01
process_server: 127.0.0.1:1
tls: {ca: ca.crt, cert: web01.crt, key: web01.key}
state_dir: state
disks: [{name: sda, path: disk.img}]
`), 0o600)

	// Not running: status says so from the state directory, exit code 3.
	out, _, err := runMobility(t, "mobility", "status", "--config", cfg)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitNotRunning || err.Error() != "the mobility service is not running" {
		t.Fatalf("status: %v", err)
	}
	if !strings.Contains(out, "state:           stopped\n") || !strings.Contains(out, "rpo:             no point yet") {
		t.Fatalf("status output:\n%s", out)
	}
	out, _, _ = runMobility(t, "mobility", "status", "--config", cfg, "--json")
	if !strings.Contains(out, `"state": "stopped"`) || !strings.Contains(out, `"rpo_seconds": -1`) {
		t.Fatalf("status json:\n%s", out)
	}

	// Verify without a service needs the certificates and the process server.
	_, _, err = runMobility(t, "mobility", "verify", "--config", cfg)
	if err == nil || !strings.HasPrefix(err.Error(), "tls: ") || exitCode(err) != 1 {
		t.Fatalf("verify without certificates: %v", err)
	}

	// A configuration error is exact and names the file.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("machine: web01\nfreeze: 3s\n"), 0o600)
	_, _, err = runMobility(t, "mobility", "serve", "--config", bad)
	if err == nil || err.Error() != bad+": yaml: unmarshal errors:\n  line 2: field freeze not found in type mobility.Config" {
		t.Fatalf("bad config: %v", err)
	}
}
