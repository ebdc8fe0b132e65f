package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/vaulttest"
)

// runIn runs an osr command in this process with stdin.
func runIn(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, clock: clock.Real{}, logger: slog.New(slog.DiscardHandler)}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	code := 0
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = exitCode(err)
		errb.WriteString("osr: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), code
}

// TestSwitchBalanceCommands: the scale-out commands against a running configuration server with
// two process servers and two agents enrolled (no heartbeats: no change rates, all on the first).
func TestSwitchBalanceCommands(t *testing.T) {
	v := vaulttest.StartVault(t)
	tmp := t.TempDir()
	keyFile := filepath.Join(tmp, "vault.key")
	os.WriteFile(keyFile, []byte(v.Key(t)+"\n"), 0o600)
	p := &inproc{t: t, clock: clock.Real{}}
	data := filepath.Join(tmp, "cs")
	api := port(t)
	p.ok("config-server", "install", "--registration-key", keyFile, "--cache-dir", filepath.Join(tmp, "cache"), "--port", port(t),
		"--api-port", api, "--data-dir", data, "--listen-address", "127.0.0.1", "--name", "cs1")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		p.run(ctx, "config-server", "serve", "--data-dir", data, "--vault-interval", "1s")
	}()
	defer func() { cancel(); <-served }()
	waitFor(t, filepath.Join(data, configserver.AdminSocket))
	passFile := filepath.Join(tmp, "pass")
	os.WriteFile(passFile, []byte(p.ok("config-server", "passphrase", "--data-dir", data)), 0o600)
	p.ok("process-server", "install", "--config-server", "127.0.0.1:"+api, "--passphrase-file", passFile, "--name", "ps2",
		"--cache-dir", filepath.Join(tmp, "cache2"), "--dir", filepath.Join(tmp, "ps2"), "--port", port(t), "--listen-address", "127.0.0.1")
	disk := filepath.Join(tmp, "sda.img")
	os.WriteFile(disk, make([]byte, 1<<20), 0o600)
	for _, m := range []string{"web01", "web02"} {
		p.ok("mobility", "install", "--config-server", "127.0.0.1:"+api, "--passphrase-file", passFile, "--name", m,
			"--disk", "sda="+disk, "--dir", filepath.Join(tmp, m), "--state-dir", filepath.Join(tmp, m+"-state"))
	}
	// Enrollment spread them (fewest machines first): web01 on cs1, web02 on ps2. Gather them.
	if out, errOut, code := runIn(t, "", "process-server", "switch", "--from", "ps2", "--to", "cs1", "--yes", "--data-dir", data); code != 0 ||
		!strings.Contains(out, "Moved 1 machines") {
		t.Fatalf("switch to cs1: %d %s %s", code, out, errOut)
	}
	// Not confirmed: the plan is shown, nothing moves.
	out, _, code := runIn(t, "n\n", "process-server", "switch", "--from", "cs1", "--to", "ps2", "web01", "--data-dir", data)
	if code != 0 || !hasRow(out, "MACHINE", "FROM", "TO", "CHANGE RATE (AVG)", "CACHE NEEDED", "TARGET CACHE FREE AFTER") ||
		!hasRow(out, "web01", "cs1", "ps2", "0 B/s", "0 B", "100%") || !strings.HasSuffix(out, "Move 1 machines? [y/N] Nothing moved.\n") {
		t.Fatalf("unconfirmed switch: %d\n%s", code, out)
	}
	var view configserver.ScaleOutView
	json.Unmarshal([]byte(p.ok("process-server", "scale-out", "--data-dir", data, "--json")), &view)
	if len(view.Machines) != 2 || view.Machines[0].ProcessServer != "cs1" || view.Machines[1].ProcessServer != "cs1" || len(view.Events) != 1 {
		t.Fatalf("after the unconfirmed switch: %+v", view)
	}
	// Confirmed.
	out, _, code = runIn(t, "yes\n", "process-server", "switch", "--from", "cs1", "--to", "ps2", "web01", "--data-dir", data)
	if code != 0 || !strings.Contains(out, "Move 1 machines? [y/N] Moved 1 machines: their agents reconnect to the new process server within seconds, without a resync.\n") {
		t.Fatalf("confirmed switch: %d\n%s", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"switch", "--from", "cs1", "--to", "ps2", "web01", "--yes"}, "osr: machine web01 is on process server ps2, not cs1\n"},
		{[]string{"switch", "--from", "cs1", "--to", "ps9", "--yes"}, "osr: process server ps9 is not enrolled\n"},
		{[]string{"switch", "--from", "cs1", "--to", "ps2", "db01", "--yes"}, "osr: machine db01 is not enrolled\n"},
		{[]string{"switch", "--to", "ps2", "--yes"}, "osr: --from and --to are required\n"},
		{[]string{"balance", "cs1", "ps9", "--yes"}, "osr: process server ps9 is not enrolled\n"},
		{[]string{"scale-out", "--hold", "-1s"}, "osr: scale-out settings: hold_seconds -1 is not between 0 and 604800\n"},
		{[]string{"scale-out", "--automatic", "maybe"}, "osr: --automatic \"maybe\": on or off\n"},
	} {
		_, errOut, code := runIn(t, "", append(append([]string{"process-server"}, tc.args...), "--data-dir", data)...)
		if code != 1 || errOut != tc.want {
			t.Errorf("osr process-server %s: exit %d %q, want %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}
	// A balance with nothing to move is not a failure.
	for args, want := range map[string]string{
		"balance":         "Nothing moved: balancing needs two process servers that may take machines, there are 0.\n",
		"balance cs1 ps2": "Nothing moved: the process servers are balanced.\n",
	} {
		out, errOut, code := runIn(t, "", append(append([]string{"process-server"}, strings.Fields(args)...), "--yes", "--data-dir", data)...)
		if code != 0 || out != want {
			t.Errorf("osr process-server %s: exit %d %q %q, want %q", args, code, out, errOut, want)
		}
	}
	// Settings change and show; the file keeps them.
	out = p.ok("process-server", "scale-out", "--data-dir", data, "--resync-budget", "3", "--site-resync-budget", "0", "--automatic", "off", "--hold", "5m")
	if !strings.Contains(out, "Automatic moves off: lost after 1m30s without a heartbeat or 1m0s unreachable for its agents; overloaded after 2m0s Critical (then one machine every 2m0s); hold 5m0s.\n") ||
		!strings.Contains(out, "Resync budget: 3 per process server, no cap for the site.\n") || !hasRow(out, "web01", "ps2", "-", "0 B/s", "0 B", "0s ago") ||
		!strings.Contains(out, "web01  cs1 → ps2 by an operator: switch") {
		t.Fatalf("scale-out:\n%s", out)
	}
	if s, err := configserver.LoadScaleOut(data); err != nil || s.ResyncBudgetPerProcessServer != 3 || s.Automatic || s.HoldSeconds != 300 {
		t.Fatalf("saved settings %+v %v", s, err)
	}
}
