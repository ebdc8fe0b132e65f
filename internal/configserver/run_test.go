package configserver_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/csclient"
	"github.com/opensiterecovery/osr/internal/configserver/enroll"
	"github.com/opensiterecovery/osr/internal/processserver"
)

// TestHolderRun: the holder loop sends heartbeats, receives its configuration and renews its
// certificate when a third of its life is left, writing the new files.
func TestHolderRun(t *testing.T) {
	r := startRig(t)
	key := NewKey()
	res, err := enroll.Enroll(context.Background(), enroll.ClientRequest{Address: r.addr, Passphrase: r.res.Passphrase, Role: enroll.RoleAgent,
		Name: "web01", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteIdentity(dir, HolderIdentity{Role: enroll.RoleAgent, Name: "web01", Cert: res.Cert, CA: res.CA, Root: res.Root, Key: key, ConfigServerAddr: r.addr}); err != nil {
		t.Fatal(err)
	}
	c, err := csclient.Load(filepath.Join(dir, LinkFile))
	if err != nil {
		t.Fatal(err)
	}
	oldCert, _ := os.ReadFile(filepath.Join(dir, IdentityCert))
	var mu sync.Mutex
	var configs []AgentConfig
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	r.clock.Advance(61 * 24 * time.Hour) // 29 days left
	go func() {
		done <- c.Run(ctx, csclient.RunConfig{
			Heartbeat: func() any { return AgentHeartbeat{Version: "0.1.0"} },
			OnConfig: func(_ context.Context, raw json.RawMessage) {
				var ac AgentConfig
				json.Unmarshal(raw, &ac)
				mu.Lock()
				configs = append(configs, ac)
				mu.Unlock()
			},
			Interval: 20 * time.Millisecond, Wait: time.Second,
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, IdentityCert))
		mu.Lock()
		n := len(configs)
		mu.Unlock()
		if string(b) != string(oldCert) && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no renewal or no configuration (%d configurations)", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The renewed files load and are accepted; the heartbeats keep coming.
	c2, err := csclient.Load(filepath.Join(dir, LinkFile))
	if err != nil {
		t.Fatal(err)
	}
	ans, err := c2.Heartbeat(context.Background(), AgentHeartbeat{})
	if err != nil || ans.RenewCert {
		t.Fatalf("heartbeat with the renewed certificate: %+v %v", ans, err)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if configs[0].Machine != "web01" || configs[0].ProcessServerName != "cs1" {
		t.Fatalf("configuration %+v", configs[0])
	}
	v := r.srv.Infrastructure().ConfigurationServers[0]
	if v.Agents[0].Status != Connected {
		t.Fatalf("agent status %s %s", v.Agents[0].Status, v.Agents[0].Reason)
	}
}

// TestProcessServerHealthJSON: a process server's own /health document is a valid heartbeat body.
func TestProcessServerHealthJSON(t *testing.T) {
	r := startRig(t)
	ps, _, err := holder(t, r, r.res.Passphrase, enroll.RoleProcessServer, "ps2", PSInfo{Address: "10.0.0.6:9443"})
	if err != nil {
		t.Fatal(err)
	}
	h := processserver.Health{Name: "ps2", Status: "ok", CPUPercent: 12, CacheFreePercent: 71, BacklogBytes: 1 << 20, DrainSeconds: -1, ConnectedAgents: 1}
	if _, err := ps.Heartbeat(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range r.srv.Infrastructure().ConfigurationServers[0].ProcessServers {
		if p.Name == "ps2" {
			found = true
			if p.Status != Critical || p.Reason != "1048576 bytes wait for upload and uploads make no progress" {
				t.Fatalf("ps2: %s %q", p.Status, p.Reason)
			}
		}
	}
	if !found {
		t.Fatal("ps2 is not in the infrastructure")
	}
}
