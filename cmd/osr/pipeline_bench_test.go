package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/wire"
)

// BenchmarkProcessServer50Agents: the built process server, a file store, 50 agents (goroutines
// on real TLS sockets here) each sending a full point of an 8 MiB disk. Reports aggregate MB/s from
// the first byte to the last commit and the server process's peak RSS (VmHWM).
func BenchmarkProcessServer50Agents(b *testing.B) {
	const agents = 50
	size := 8 << 20 // per agent; OSR_BENCH_DISK_MIB changes it
	if v := os.Getenv("OSR_BENCH_DISK_MIB"); v != "" {
		fmt.Sscan(v, &size)
		size <<= 20
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		repo := filepath.Join(dir, "vault")
		c := newCLI(&testing.T{}, repo)
		run := func(args ...string) {
			if _, e, code := c.run(args...); code != 0 {
				b.Fatalf("osr %v: %s", args, e)
			}
		}
		run("store", "init")
		pkiDir := filepath.Join(dir, "pki")
		run("pki", "init", "--dir", pkiDir)
		run("pki", "issue", "--dir", pkiDir, "--name", "ps1", "--role", "process-server", "--host", "127.0.0.1")
		ids := make([]*pki.Identity, agents)
		for k := range ids {
			name := fmt.Sprintf("m%02d", k)
			run("pki", "issue", "--dir", pkiDir, "--name", name, "--role", "agent")
			id, err := pki.LoadIdentity(filepath.Join(pkiDir, name+".crt"), filepath.Join(pkiDir, name+".key"), filepath.Join(pkiDir, "ca.crt"))
			if err != nil {
				b.Fatal(err)
			}
			ids[k] = id
		}
		os.WriteFile(filepath.Join(dir, "pw"), []byte("correct horse\n"), 0o600)
		addr := "127.0.0.1:" + port(&testing.T{})
		config := filepath.Join(dir, "ps.yaml")
		os.WriteFile(config, []byte(fmt.Sprintf("listen: %q\ntls: {ca: pki/ca.crt, cert: pki/ps1.crt, key: pki/ps1.key}\ncache: {dir: cache, max_bytes: 4294967296}\nstore: {repo: %q, password_file: pw}\n", addr, repo)), 0o600)
		t := &testing.T{}
		ps := startPS(t, c.env, config)
		data := make([][]byte, agents)
		for k := range data {
			data[k] = make([]byte, size)
			r := rand.New(rand.NewPCG(uint64(k), 3))
			for j := 0; j < size; j += 8 {
				v := r.Uint64()
				for x := 0; x < 8; x++ {
					data[k][j+x] = byte(v >> (8 * x))
				}
			}
		}
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, agents)
		for k := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- benchAgent(addr, ids[k], fmt.Sprintf("m%02d", k), data[k])
			}()
		}
		wg.Wait()
		took := time.Since(start)
		b.StopTimer()
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		hwm := vmHWM(ps.cmd.Process.Pid)
		ps.cmd.Process.Kill()
		ps.cmd.Wait()
		b.ReportMetric(float64(agents*size)/took.Seconds()/1e6, "MB/s")
		b.ReportMetric(float64(hwm)/(1<<20), "serverPeakRSS-MiB")
	}
}

func benchAgent(addr string, id *pki.Identity, name string, data []byte) error {
	tc, err := tlsDial(addr, id)
	if err != nil {
		return err
	}
	defer tc.Close()
	wc := wire.NewConn(tc, wire.Options{})
	if _, err := wc.Handshake(); err != nil {
		return err
	}
	if err := wc.Send(wire.Hello{Machine: name, Disks: []wire.Disk{{Name: "sda", Size: int64(len(data))}}}); err != nil {
		return err
	}
	wc.Queue(wire.BeginPoint{Seq: 1, Kind: wire.KindCrash, Time: time.Now().UTC(), Disks: []wire.Disk{{Name: "sda", Size: int64(len(data))}}})
	var n uint64
	for off := 0; off < len(data); off += wire.MaxBlocksPerFrame * wire.BlockSize {
		m := wire.Blocks{Seq: 1, Disk: "sda", First: uint64(off / wire.BlockSize), Data: data[off : off+wire.MaxBlocksPerFrame*wire.BlockSize]}
		m.SetFingerprints()
		if err := wc.Queue(&m); err != nil {
			return err
		}
		n += uint64(m.N())
	}
	if err := wc.Send(wire.EndPoint{Seq: 1, Blocks: n}); err != nil {
		return err
	}
	for {
		f, err := wc.ReadFrame()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		switch f.Type {
		case wire.TypeCommitted:
			return nil
		case wire.TypeError:
			return fmt.Errorf("%s: error frame %s", name, f.Payload)
		}
	}
}

func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "VmHWM:"), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}
