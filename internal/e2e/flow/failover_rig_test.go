//go:build linux

package flow

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/bootcheck/bootdisk"
	"github.com/opensiterecovery/osr/internal/e2e/proctest"
)

// foFlow is an osr up with the CLI environment that reaches it.
type foFlow struct {
	t     *testing.T
	root  string
	upDir string
	port  []int
	env   []string
	ps    *procs
	up    *proctest.Proc
	cs    string // the configuration server's name
}

// machine is a protected machine: its agent and the log of its shutdown hook.
type machine struct {
	name    string
	agent   *proctest.Proc
	hookLog string
}

// startUp starts osr up with its data on root, a policy of the smallest cadences associated with
// its configuration server. The boot check looks for the test boot disk's marker.
func startUp(t *testing.T, root string) *foFlow {
	f := &foFlow{t: t, root: root, upDir: filepath.Join(root, "up"), port: freePorts(t, 4), ps: newProcs(t)}
	f.env = []string{"OSR_DATA_DIR=" + f.upDir, "OSR_VAULT=", "OSR_SERVER=", "OSR_TOKEN_FILE=", "OSR_CA_FILE="}
	upEnv := append(append([]string{}, f.env...), "OSR_BOOTCHECK_MARKER="+bootdisk.DefaultMarker, "OSR_BOOTCHECK_TIMEOUT=4m")
	f.up = f.ps.start("up", upEnv, upArgs(f.upDir, f.port)...)
	waitFor(t, 60*time.Second, "osr up to be up", func() (bool, string) {
		if f.up.Exited() {
			t.Fatal("osr up exited")
		}
		return f.up.LogHas("osr is up."), "no summary yet"
	})
	b, _ := os.ReadFile(f.up.Log)
	m := regexp.MustCompile(`Configuration server:  (\S+), registered with vault default`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("osr up's summary names no configuration server:\n%s", b)
	}
	f.cs = string(m[1])
	f.must("policy", "create", "gold", "--vault", "default", "--rpo-threshold", "1m", "--retention", "1h",
		"--app-consistent-frequency", "5m", "--crash-consistent-frequency", "30s")
	f.must("policy", "associate", "gold", "--vault", "default", "--config-server", f.cs)
	// A vault service without the failover endpoints answers 404 to them.
	out, code := osr(t, f.env, "target", "list", "--json")
	if code != 0 {
		t.Fatalf("osr target list: exit %d: %s\nthe vault service has no failover endpoints: cmd/osr/vault_portal.go's newVaultService must wire "+
			"a.withFailover(&cfg) and a.withPlans(&cfg) before vault.New and bind them to the service after it", code, out)
	}
	return f
}

// protect installs an agent for disk dev as machine name with the configuration server's
// passphrase, adds a shutdown hook that logs its arguments, starts it, enables replication and
// waits until the machine is protected.
func (f *foFlow) protect(name, dev string, hook bool) *machine {
	t := f.t
	dir := filepath.Join(f.root, "agent-"+name)
	out := mustOSR(t, nil, "mobility", "install", "--config-server", "localhost:"+strconv.Itoa(f.port[1]),
		"--passphrase-file", filepath.Join(f.upDir, "config-server", "passphrase"),
		"--disk", "sda="+dev, "--name", name, "--dir", dir, "--state-dir", filepath.Join(f.root, "state-"+name))
	if !strings.Contains(out, "Machine "+name+" registered") {
		t.Fatalf("mobility install:\n%s", out)
	}
	m := &machine{name: name, hookLog: filepath.Join(f.root, name+"-shutdown.log")}
	cfg := filepath.Join(dir, "mobility.yaml")
	if hook {
		// The shutdown hook of a planned failover: what an operator sets to stop the workload. Here
		// it only logs, so that the workload goes on writing during the final sync.
		script := filepath.Join(f.root, name+"-shutdown.sh")
		if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+m.hookLog+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		fh, err := os.OpenFile(cfg, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fmt.Fprintf(fh, "hooks:\n    shutdown: %s\n", script)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	m.agent = f.ps.start("agent-"+name, nil, "mobility", "serve", "--config", cfg)
	waitFor(t, 30*time.Second, name+" in the vault's inventory and replication enabled", func() (bool, string) {
		out, code := osr(t, f.env, "replication", "enable", name, "--policy", "gold", "--vault", "default")
		return code == 0, out
	})
	d := waitFor(t, 90*time.Second, name+" protected", func() (bool, string) {
		var it itemView
		out, code := osr(t, f.env, "replication", "status", name, "--vault", "default", "--json")
		if code != 0 {
			return false, out
		}
		if strings.HasPrefix(strings.TrimSpace(out), "[") {
			var list []itemView
			decode(t, out, &list)
			if len(list) > 0 {
				it = list[0]
			}
		} else {
			decode(t, out, &it)
		}
		return it.State == "protected" && it.LastPointID != "", fmt.Sprintf("%+v", it)
	})
	t.Logf("%s protected %v after enable", name, d.Round(100*time.Millisecond))
	return m
}

// startWorkload runs tools/workload on the source file system (directory w, the manifest off the
// disk) and returns the manifest's path; the workload stops with the test's processes.
func (f *foFlow) startWorkload(mnt string) string {
	dir := filepath.Join(mnt, "w")
	if err := os.Mkdir(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	manifest := filepath.Join(f.root, "workload.manifest")
	f.ps.Start("workload", nil, workloadBin, "run", "--root", "a="+dir, "--manifest", manifest, "--seed", strconv.FormatInt(time.Now().UnixNano(), 10),
		"--pause", "40ms", "--max-size", "262144", "--max-bytes", "16777216", "--max-files", "400")
	return manifest
}

// doneOps counts the workload operations whose fsyncs returned before t.
func doneOps(t *testing.T, manifest string, before time.Time) int {
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		var r struct {
			Ev string `json:"ev"`
			T  int64  `json:"t"`
		}
		if json.Unmarshal([]byte(line), &r) == nil && r.Ev == "done" && r.T < before.UnixNano() {
			n++
		}
	}
	return n
}

// must runs osr against the vault and fails unless it exits 0.
func (f *foFlow) must(args ...string) string {
	f.t.Helper()
	return mustOSR(f.t, f.env, args...)
}

// ok runs osr and fails unless it exits 0 with stdout+stderr exactly want.
func (f *foFlow) ok(want string, args ...string) {
	f.t.Helper()
	out, code := osr(f.t, f.env, args...)
	out = stripProgress(out)
	if code != 0 || out != want {
		f.t.Fatalf("osr %s: exit %d, output\n%q\nwant exit 0 and\n%q", strings.Join(args, " "), code, out, want)
	}
}

// okPrefix runs osr and fails unless it exits 0 with output beginning with want.
func (f *foFlow) okPrefix(want string, args ...string) string {
	f.t.Helper()
	out, code := osr(f.t, f.env, args...)
	out = stripProgress(out)
	if code != 0 || !strings.HasPrefix(out, want) {
		f.t.Fatalf("osr %s: exit %d, output\n%q\nwant exit 0 and a beginning\n%q", strings.Join(args, " "), code, out, want)
	}
	return out
}

// progressLine is what a command that waits for its job prints on stderr meanwhile.
var progressLine = regexp.MustCompile(`(?m)^job job-\S+: [0-9.]+%\n`)

func stripProgress(out string) string { return progressLine.ReplaceAllString(out, "") }

// refused runs osr, expects exit code and exactly want as output, and checks that neither the
// failover records nor the jobs changed.
func (f *foFlow) refused(code int, want string, args ...string) {
	f.t.Helper()
	recs, jobs := f.must("failover", "list", "--json"), f.jobIDs()
	out, got := osr(f.t, f.env, args...)
	if got != code || out != want {
		f.t.Fatalf("osr %s: exit %d, output\n%q\nwant exit %d and\n%q", strings.Join(args, " "), got, out, code, want)
	}
	if after := f.must("failover", "list", "--json"); after != recs {
		f.t.Fatalf("osr %s was refused but changed the failover records:\n%s\nbefore:\n%s", strings.Join(args, " "), after, recs)
	}
	if after := f.jobIDs(); after != jobs {
		f.t.Fatalf("osr %s was refused but changed the jobs: %s, before %s", strings.Join(args, " "), after, jobs)
	}
}

// jobIDs lists the vault's jobs with their states.
func (f *foFlow) jobIDs() string {
	var jobs []struct {
		ID    string `json:"id"`
		Kind  string `json:"kind"`
		State string `json:"state"`
	}
	decode(f.t, f.must("jobs", "list", "--json"), &jobs)
	var s []string
	for _, j := range jobs {
		s = append(s, j.ID+"="+j.Kind+":"+j.State)
	}
	return strings.Join(s, " ")
}

// export writes disk of point with osr store export, reading the vault's store as its process
// server does (the password file osr up gave it), and returns the raw file.
func (f *foFlow) export(point, machine, disk string) string {
	out := filepath.Join(f.root, "export-"+point[:12]+"-"+disk+".raw")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	got := mustOSR(f.t, nil, "store", "export", "--repo", "file://"+filepath.Join(f.upDir, "store"),
		"--password-file", filepath.Join(f.upDir, "config-server", "process-server", "store.password"),
		"--point", point, "--machine", machine, "--disk", disk, "--out", out)
	if !strings.HasPrefix(got, "exported disk "+disk+" of point "+point[:12]) {
		f.t.Fatalf("osr store export: %s", got)
	}
	return out
}

// planRun is the part of osr plan test --json the test reads.
type planRun struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Error string `json:"error"`
	Steps []struct {
		Kind        string  `json:"kind"`
		Name        string  `json:"name"`
		State       string  `json:"state"`
		PointID     string  `json:"point_id"`
		BootSeconds float64 `json:"boot_seconds"`
		Output      string  `json:"output"`
		Error       string  `json:"error"`
	} `json:"steps"`
}

// bootCheck replicates the boot-check test disk (internal/bootcheck/bootdisk) as machine fo-boot01,
// then runs a recovery plan's test failover with --verify-boot (the CLI's boot check) and its
// cleanup; it logs the boot check's wall time.
func (f *foFlow) bootCheck(root string) {
	t := f.t
	if err := bootdisk.Check(); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "boot.raw")
	start := time.Now()
	if err := bootdisk.Build(t.Context(), img, bootdisk.Options{}); err != nil {
		t.Fatalf("build the boot disk: %v", err)
	}
	t.Logf("boot disk built in %v", time.Since(start).Round(time.Millisecond))
	dev := loopDevice(t, img)
	f.protect("fo-boot01", dev, false)
	f.ok("recovery plan boot created: 1 groups, 1 machines\n", "plan", "create", "boot", "--group", "fo-boot01")
	out, code := osr(t, f.env, "plan", "test", "boot", "--verify-boot", "--network", "isolated", "--target", "raw", "--json")
	var run planRun
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &run); err != nil || code != 0 {
		t.Fatalf("osr plan test boot --verify-boot: exit %d (%v)\n%s", code, err, out)
	}
	var boot float64
	for _, st := range run.Steps {
		if st.Name == "fo-boot01" {
			if st.State != "succeeded" || st.BootSeconds <= 0 {
				t.Fatalf("boot check of fo-boot01: %+v", st)
			}
			boot = st.BootSeconds
		}
	}
	if run.State != "succeeded" || boot == 0 {
		t.Fatalf("plan test run: %+v", run)
	}
	t.Logf("boot check of fo-boot01 (qemu TCG, marker %s): %.1f s", bootdisk.DefaultMarker, boot)
	out, code = osr(t, f.env, "plan", "cleanup", "boot")
	if code != 0 {
		t.Fatalf("osr plan cleanup boot: exit %d\n%s", code, out)
	}
	if st := f.status("fo-boot01"); st.Test != nil {
		t.Fatalf("fo-boot01's test failover after the plan's cleanup: %+v", st.Test)
	}
}
