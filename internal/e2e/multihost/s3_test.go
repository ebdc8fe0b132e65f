//go:build linux

package multihost

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/e2e/proctest"
)

// s3server is a versitygw (the one scripts/services.sh installs) of the suite's own, on the
// lab's gateway, so that the suite can stop and start it (a storage outage).
type s3server struct {
	t              *testing.T
	procs          *proctest.Procs
	bin, dir, addr string
	access, secret string
	proc           *proctest.Proc
}

func versitygwBin(t *testing.T) string {
	dir := os.Getenv("OSR_SERVICES_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", ".services")
	}
	bin := filepath.Join(dir, "bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("versitygw is not installed at %s: run scripts/services.sh start (it installs versitygw v1.8.0)", bin)
	}
	abs, _ := filepath.Abs(bin)
	return abs
}

func startS3(t *testing.T, procs *proctest.Procs, host, dir string) *s3server {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	b := make([]byte, 18)
	rand.Read(b)
	s := &s3server{t: t, procs: procs, bin: versitygwBin(t), dir: dir, addr: addr, access: "osr-suite", secret: hex.EncodeToString(b)}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s.start()
	return s
}

// start runs the server (again) on the same address and data, and waits until it accepts.
func (s *s3server) start() {
	s.t.Helper()
	s.proc = s.procs.Start("s3", []string{"ROOT_ACCESS_KEY_ID=" + s.access, "ROOT_SECRET_ACCESS_KEY=" + s.secret},
		s.bin, "--port", s.addr, "--quiet", "posix", s.dir)
	proctest.WaitFor(s.t, 30*time.Second, "the S3 server", func() (bool, string) {
		if s.proc.Exited() {
			s.t.Fatal("versitygw exited")
		}
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
}

// stop kills the server (SIGKILL); its data stays.
func (s *s3server) stop() { s.proc.Kill() }

// env is the environment the vault and process servers read the credentials from.
func (s *s3server) env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.access, "AWS_SECRET_ACCESS_KEY=" + s.secret}
}

func (s *s3server) url(bucket string) string {
	return "s3://" + s.addr + "/" + bucket + "/store?tls=false"
}

var _ = strconv.Itoa
