package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/vaulttest"
	"github.com/opensiterecovery/osr/internal/pushinstall"
)

// TestMobilityDeploy: the non-interactive install from an answer file registers the machine,
// starts the supervised agent (no systemd here), which heartbeats Connected; a second run upgrades
// in place; a bad answer file and a wrong passphrase give exit codes 2 and 3 with --json.
func TestMobilityDeploy(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "osr")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	v := vaulttest.StartVault(t)
	tmp := t.TempDir()
	keyFile := filepath.Join(tmp, "vault.key")
	os.WriteFile(keyFile, []byte(v.Key(t)+"\n"), 0o600)
	fake := clock.NewFake(time.Now().UTC())
	p := &inproc{t: t, clock: clock.Real{}}
	data := filepath.Join(tmp, "cs")
	api := port(t)
	p.ok("config-server", "install", "--registration-key", keyFile, "--cache-dir", filepath.Join(tmp, "cache"), "--port", port(t),
		"--api-port", api, "--data-dir", data, "--listen-address", "127.0.0.1", "--name", "cs1", "--health-listen", "127.0.0.1:"+port(t))
	pass := filepath.Join(tmp, "pass")
	os.WriteFile(pass, []byte(strings.TrimSpace(p.ok("config-server", "passphrase", "--data-dir", data))+"\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		p.run(ctx, "config-server", "serve", "--data-dir", data, "--vault-interval", "1s")
	}()
	defer func() { cancel(); <-served }()
	waitFor(t, filepath.Join(data, configserver.AdminSocket))

	root := filepath.Join(tmp, "root")
	os.MkdirAll(root, 0o755)
	disk := filepath.Join(tmp, "sda.img")
	os.WriteFile(disk, make([]byte, 1<<20), 0o600)
	l := pushinstall.Layout{Root: root}
	defer pushinstall.StopLocal(context.Background(), l)
	answers := filepath.Join(tmp, "answers.yaml")
	write := func(passFile string) {
		os.WriteFile(answers, []byte(fmt.Sprintf("config_server: 127.0.0.1:%s\npassphrase_file: %s\nmachine: web01\ndisks: [sda=%s]\nroot: %s\n", api, passFile, disk, root)), 0o600)
	}
	deploy := func(extra ...string) (deployResult, int) {
		out, _, code := runDiscovery(t, fake, append([]string{"mobility", "deploy", "--answer-file", answers, "--binary", bin, "--json"}, extra...)...)
		var r deployResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("deploy --json: %q: %v", out, err)
		}
		return r, code
	}

	write(pass)
	r, code := deploy()
	want := deployResult{Machine: "web01", Action: "installed", Service: "supervised", Binary: l.Binary(), Config: l.Config()}
	if code != 0 || r != want {
		t.Fatalf("deploy: exit %d %+v", code, r)
	}
	hb := pushinstall.AdminSocket{Path: filepath.Join(data, configserver.AdminSocket)}
	for i := 0; ; i++ {
		st, _, err := hb.AgentStatus(context.Background(), "web01")
		if err == nil && st == configserver.Connected {
			break
		}
		if i > 400 {
			log, _ := os.ReadFile(l.LogFile())
			t.Fatalf("agent status %s %v\nagent log:\n%s", st, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r, code = deploy()
	if want.Action = "upgraded"; code != 0 || r != want {
		t.Fatalf("second deploy: exit %d %+v", code, r)
	}

	// A bad answer file: exit 2, nothing done.
	os.WriteFile(answers, []byte("config_server: cs\npassphrase_file: p\n"), 0o600)
	if r, code := deploy(); code != deployBadAnswers || r.Error != "answer file: disks is required (NAME=PATH, one or more)" || r.Code != 2 {
		t.Fatalf("bad answers: exit %d %+v", code, r)
	}
	// A wrong passphrase on another machine root: exit 3 with the configuration server's answer.
	root = filepath.Join(tmp, "root2")
	wrong := filepath.Join(tmp, "wrong")
	b, _ := os.ReadFile(pass)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	os.WriteFile(wrong, b, 0o600)
	write(wrong)
	r, code = deploy()
	wantErr := "register with the configuration server at 127.0.0.1:" + api + ": the configuration server did not prove it knows this passphrase: the passphrase is wrong, or the address is not that configuration server"
	if code != deployRegister || r.Error != wantErr {
		t.Fatalf("wrong passphrase: exit %d %+v", code, r)
	}
}
