package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests run the built binary, as users and later components do.

var osrBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "osr-e2e-bin")
	if err != nil {
		panic(err)
	}
	osrBin = filepath.Join(dir, "osr")
	out, err := exec.Command("go", "build", "-o", osrBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build osr: %v\n%s", err, out)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type cli struct {
	t   *testing.T
	env []string
}

func newCLI(t *testing.T, repo string) *cli {
	env := append(os.Environ(), "OSR_REPO="+repo, "OSR_PASSWORD=correct horse")
	return &cli{t: t, env: env}
}

// run runs osr and returns stdout, stderr and the exit code.
func (c *cli) run(args ...string) (string, string, int) {
	c.t.Helper()
	cmd := exec.Command(osrBin, args...)
	cmd.Env = c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("run osr %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("osr %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// writeImage writes a test image: random, compressible and zero blocks, and a hole.
func writeImage(t *testing.T, path string, size int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	img := make([]byte, size)
	for off := 0; off < size; off += 4096 {
		end := min(off+4096, size)
		switch rng.IntN(4) {
		case 0:
		case 1:
			for i := off; i < end; i++ {
				img[i] = byte(rng.Uint32())
			}
		default:
			for i := off; i < end; i++ {
				img[i] = "osr-test "[rng.IntN(9)]
			}
		}
	}
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
}

// mutate changes n random 4 KiB blocks of the file in place.
func mutate(t *testing.T, path string, n int, seed uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	rng := rand.New(rand.NewPCG(seed, 9))
	blk := make([]byte, 4096)
	for i := 0; i < n; i++ {
		for j := range blk {
			blk[j] = byte(rng.Uint32())
		}
		off := rng.Int64N(fi.Size()/4096) * 4096
		if _, err := f.WriteAt(blk, off); err != nil {
			t.Fatal(err)
		}
	}
}

func fileSHA(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// roundTrip runs init, two puts (full, incremental), ls, export of both points, check.
func roundTrip(t *testing.T, repo string) {
	c := newCLI(t, repo)
	dir := t.TempDir()
	disk1, disk2 := filepath.Join(dir, "sda.img"), filepath.Join(dir, "sdb.img")
	writeImage(t, disk1, 6<<20+4096*3+100, 1)
	writeImage(t, disk2, 1<<20, 2)
	c.ok("store", "init")
	p1 := lastLine(c.ok("store", "put", "--machine", "web01", "--disk", "sda="+disk1, "--disk", "sdb="+disk2))
	sum1a, sum1b := fileSHA(t, disk1), fileSHA(t, disk2)
	mutate(t, disk1, 40, 3)
	p2 := lastLine(c.ok("store", "put", "--machine", "web01", "--disk", "sda="+disk1, "--disk", "sdb="+disk2, "--app-consistent"))
	if len(p1) != 64 || len(p2) != 64 || p1 == p2 {
		t.Fatalf("point ids: %q %q", p1, p2)
	}
	ls := c.ok("store", "ls", "--machine", "web01")
	if !strings.Contains(ls, p1[:12]) || !strings.Contains(ls, p2[:12]) || !strings.Contains(ls, "app") {
		t.Fatalf("ls output lacks points:\n%s", ls)
	}
	for _, tc := range []struct {
		point, disk string
		want        [32]byte
	}{{p1, "sda", sum1a}, {p1, "sdb", sum1b}, {"latest", "sda", fileSHA(t, disk1)}, {p2[:10], "sdb", sum1b}} {
		out := filepath.Join(dir, "out.raw")
		c.ok("store", "export", "--point", tc.point, "--machine", "web01", "--disk", tc.disk, "--out", out)
		if got := fileSHA(t, out); got != tc.want {
			t.Fatalf("export %s %s: sha %x, want %x", tc.point, tc.disk, got, tc.want)
		}
	}
	out := c.ok("store", "check", "--read-data")
	if !strings.Contains(out, "no problems found") {
		t.Fatalf("check: %s", out)
	}
}

func TestRoundTripFile(t *testing.T) {
	roundTrip(t, filepath.Join(t.TempDir(), "vault"))
}

func TestRoundTripAzure(t *testing.T) {
	if os.Getenv("OSR_TEST_AZURITE") == "" {
		t.Fatal("Azurite is not running: start it with 'scripts/services.sh start' and source \"$(scripts/services.sh env)\"")
	}
	roundTrip(t, fmt.Sprintf("azure://osr-e2e-%d/vault", rand.Uint32()))
}

func TestRoundTripS3(t *testing.T) {
	ep := os.Getenv("OSR_TEST_S3_ENDPOINT")
	if ep == "" {
		t.Fatal("versitygw is not running: start it with 'scripts/services.sh start' and source \"$(scripts/services.sh env)\"")
	}
	roundTrip(t, fmt.Sprintf("s3://%s/osr-e2e-%d/vault?tls=false", ep, rand.Uint32()))
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "vault")
	c := newCLI(t, repo)
	if _, e, code := c.run("store", "ls"); code == 0 || !strings.Contains(e, "no vault store at this location (run 'osr store init')") {
		t.Fatalf("ls before init: %d %q", code, e)
	}
	c.ok("store", "init")
	if _, e, code := c.run("store", "init"); code == 0 || !strings.Contains(e, "a vault store already exists at") {
		t.Fatalf("second init: %d %q", code, e)
	}
	bad := &cli{t: t, env: append(os.Environ(), "OSR_REPO="+repo, "OSR_PASSWORD=wrong")}
	if _, e, code := bad.run("store", "ls"); code == 0 || !strings.Contains(e, "osr: wrong password: it opens no key of this store") {
		t.Fatalf("wrong password: %d %q", code, e)
	}
	if _, e, code := c.run("store", "export", "--point", "latest", "--machine", "nope", "--disk", "sda", "--out", filepath.Join(dir, "x")); code == 0 || !strings.Contains(e, `machine "nope" has no recovery point (latest)`) {
		t.Fatalf("export of unknown machine: %d %q", code, e)
	}
	if _, e, code := c.run("store", "put", "--machine", "m", "--disk", "sda"); code == 0 || !strings.Contains(e, `--disk "sda": want NAME=PATH`) {
		t.Fatalf("bad --disk: %d %q", code, e)
	}
	// A store of a newer format.
	cfg := filepath.Join(repo, "config")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(b, []byte(`"version": 1`), []byte(`"version": 2`), 1), 0o600)
	if _, e, code := c.run("store", "ls"); code == 0 || !strings.Contains(e, "has format version 2, newer than this osr supports (1): upgrade osr") {
		t.Fatalf("newer format: %d %q", code, e)
	}
}

func TestPasswd(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "vault")
	c := newCLI(t, repo)
	c.ok("store", "init")
	pwFile := filepath.Join(t.TempDir(), "new")
	os.WriteFile(pwFile, []byte("new secret\n"), 0o600)
	c.ok("store", "passwd", "--new-password-file", pwFile)
	if _, e, code := c.run("store", "ls"); code == 0 || !strings.Contains(e, "wrong password") {
		t.Fatalf("old password still works: %d %q", code, e)
	}
	c2 := &cli{t: t, env: append(os.Environ(), "OSR_REPO="+repo)}
	c2.ok("store", "ls", "--password-file", pwFile)
}
