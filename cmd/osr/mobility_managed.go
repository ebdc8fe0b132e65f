package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/csclient"
	"github.com/opensiterecovery/osr/internal/mobility"
)

// serveMobilityManaged runs the agent of configPath under its configuration server when the
// configuration's directory holds the link that `osr mobility install` wrote (config-server.yaml).
// It reports false, and does nothing, for an agent without one. A managed agent:
//   - sends heartbeats with its replication state, so that the vault sees the protected item;
//   - replicates only while the configuration server says "replicate" (replication enabled in
//     the vault), to the process server it names, at the policy's crash- and app-consistent
//     frequencies; a change of any of these restarts the data path with the new values;
//   - renews its certificate when the configuration server asks.
func (a *app) serveMobilityManaged(ctx context.Context, configPath string) (bool, error) {
	link := filepath.Join(filepath.Dir(configPath), configserver.LinkFile)
	if _, err := os.Stat(link); err != nil {
		return false, nil
	}
	base, err := mobility.LoadConfig(configPath)
	if err != nil {
		return true, err
	}
	cs, err := csclient.Load(link)
	if err != nil {
		return true, err
	}
	if a.getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(48 << 20) // as the unmanaged service
	}
	log := mobilityLogger(a.stderr, base.LogLevel)
	m := &managedAgent{app: a, base: base, log: log, kick: make(chan struct{}, 1), sup: csclient.Supervisor{Logger: log}}
	m.fs = m.finalSyncs()
	defer m.sup.Stop()
	go m.watch(ctx)
	log.Info("mobility service managed by its configuration server", "link", link, "machine", base.Machine)
	err = cs.Run(ctx, csclient.RunConfig{Heartbeat: m.heartbeat, OnConfig: m.onConfig, Kick: m.kick, Logger: log})
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return true, err
}

type managedAgent struct {
	app  *app
	base *mobility.Config
	log  *slog.Logger
	kick chan struct{}
	sup  csclient.Supervisor
	fs   *configserver.AgentFinalSyncs // final syncs the configuration server orders (mobility_finalsync.go)

	mu        sync.Mutex
	agent     *mobility.Agent    // running, or nil
	dialer    *mobility.PSDialer // the running data path's, or nil (mobility_switch.go)
	startErr  string             // why the data path could not start, while it cannot
	replicate bool
	running   agentSettings
}

// agentSettings are what the configuration server decides for the data path.
type agentSettings struct {
	ProcessServer  string
	Crash, AppCons time.Duration
}

func (m *managedAgent) heartbeat() any {
	hb := configserver.AgentHeartbeat{Version: osrVersion()}
	hb.FinalSync = m.fs.Report()
	m.mu.Lock()
	ag, replicate, startErr := m.agent, m.replicate, m.startErr
	m.mu.Unlock()
	if !replicate || ag == nil {
		switch {
		case replicate && startErr != "":
			hb.State, hb.Error = "error", startErr
		case replicate:
			hb.State = "enabling"
		}
		return hb
	}
	return agentReport(hb, ag.Status())
}

// agentReport maps the agent's status onto the report the vault keeps of the protected item.
func agentReport(hb configserver.AgentHeartbeat, st mobility.Status) configserver.AgentHeartbeat {
	hb.InitialPercent = st.InitialPercent
	hb.LastPointID = st.PointID
	if !st.CaptureTime.IsZero() {
		t := st.CaptureTime.UTC()
		hb.LastPointTime = &t
	}
	hb.Error = reportedError(st) // mobility_switch.go
	connected := st.Connected
	hb.ProcessServerConnected = &connected
	switch st.State {
	case mobility.StateInitialReplication, mobility.StateProtected, mobility.StateResynchronising:
		hb.State = st.State
	default: // starting, disconnected: the replication state stays what it was; the error says why
		switch {
		case hb.LastPointTime != nil && st.InitialPercent >= 100:
			hb.State = mobility.StateProtected
		case st.InitialPercent > 0:
			hb.State = mobility.StateInitialReplication
		default:
			hb.State = "enabling"
		}
	}
	if hb.State == mobility.StateProtected && hb.LastPointTime == nil {
		hb.State = mobility.StateInitialReplication
	}
	return hb
}

func (m *managedAgent) onConfig(ctx context.Context, raw json.RawMessage) {
	m.handleFinalSync(ctx, raw)
	replicate, want, err := agentDesired(m.base, raw)
	if err != nil {
		m.log.Error("configuration from the configuration server refused; the data path stays as it is", "err", err)
		return
	}
	m.mu.Lock()
	same := m.replicate == replicate && (!replicate || m.running == want)
	m.mu.Unlock()
	if same {
		return
	}
	if replicate && m.switchProcessServer(want, agentPSName(raw)) {
		m.poke()
		return
	}
	if !replicate {
		m.log.Info("replication is not enabled for this machine: the data path is stopped")
		m.sup.Stop()
		m.setState(false, agentSettings{})
		return
	}
	cfg := *m.base
	cfg.ProcessServer, cfg.CrashConsistentInterval, cfg.AppConsistentInterval = want.ProcessServer, want.Crash, want.AppCons
	if cfg.ProcessServer != m.base.ProcessServer {
		cfg.TLS.ServerName = "" // the new process server's own host name
	}
	m.log.Info("replication enabled: starting the data path", "process_server", want.ProcessServer,
		"crash_consistent", want.Crash.String(), "app_consistent", want.AppCons.String())
	m.sup.Stop() // the old data path is gone before the state says otherwise
	m.setState(true, want)
	m.sup.Replace(ctx, "mobility service", func(ctx context.Context) error {
		d, err := m.psDialer(&cfg)
		if err != nil {
			m.mu.Lock()
			m.startErr = err.Error()
			m.mu.Unlock()
			return err
		}
		ag, err := mobility.New(&cfg, mobility.Options{Clock: m.app.clock, Logger: m.log, FreezeGuardian: freezeGuardian(), Dial: d.Dial, Redial: d.Redial()})
		m.mu.Lock()
		m.startErr = ""
		if err != nil {
			m.startErr = err.Error()
		}
		m.mu.Unlock()
		if err != nil {
			return err
		}
		defer ag.Close()
		m.setAgent(ag)
		defer m.setAgent(nil)
		err = ag.Run(ctx)
		if err != nil && ctx.Err() == nil {
			m.mu.Lock()
			m.startErr = err.Error()
			m.mu.Unlock()
		}
		return err
	})
	m.poke()
}

// Bounds of what an agent accepts from its configuration server (the vault's policy bounds are
// narrower; these keep a damaged or foreign configuration from spinning or stalling the agent).
const (
	maxCrashFrequency = 24 * 3600      // seconds
	maxAppFrequency   = 30 * 24 * 3600 // seconds
)

// agentDesired decodes the configuration server's answer (configserver.AgentConfig) into whether
// to replicate and with what settings; base fills what the answer leaves out. A bad answer is an
// error and changes nothing.
func agentDesired(base *mobility.Config, raw []byte) (bool, agentSettings, error) {
	var c configserver.AgentConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return false, agentSettings{}, fmt.Errorf("agent configuration: %w", err)
	}
	if c.Machine != "" && c.Machine != base.Machine {
		return false, agentSettings{}, fmt.Errorf("agent configuration is for machine %s, not %s", c.Machine, base.Machine)
	}
	want := agentSettings{ProcessServer: c.ProcessServer, Crash: base.CrashConsistentInterval, AppCons: base.AppConsistentInterval}
	if want.ProcessServer == "" {
		want.ProcessServer = base.ProcessServer
	}
	if host, port, err := net.SplitHostPort(want.ProcessServer); err != nil || host == "" || port == "" {
		return false, agentSettings{}, fmt.Errorf("agent configuration: process_server %q is not host:port", want.ProcessServer)
	}
	if p := c.Policy; p != nil {
		if f := p.CrashConsistentFrequencySeconds; f != 0 {
			if f < 1 || f > maxCrashFrequency {
				return false, agentSettings{}, fmt.Errorf("agent configuration: crash_consistent_frequency_seconds %d is not between 1 and %d", f, maxCrashFrequency)
			}
			want.Crash = time.Duration(f) * time.Second
		}
		if f := p.AppConsistentFrequencySeconds; f != 0 {
			if f < 1 || f > maxAppFrequency {
				return false, agentSettings{}, fmt.Errorf("agent configuration: app_consistent_frequency_seconds %d is not between 1 and %d", f, maxAppFrequency)
			}
			want.AppCons = time.Duration(f) * time.Second
		}
	}
	want.AppCons = max(want.AppCons, want.Crash)
	return c.Replicate, want, nil
}

func (m *managedAgent) setAgent(ag *mobility.Agent) {
	m.mu.Lock()
	m.agent = ag
	m.mu.Unlock()
}

func (m *managedAgent) setState(replicate bool, s agentSettings) {
	m.mu.Lock()
	m.replicate, m.running, m.startErr = replicate, s, ""
	m.mu.Unlock()
}

func (m *managedAgent) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// watch kicks a heartbeat when the replication state or the newest point changes.
func (m *managedAgent) watch(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hb, _ := m.heartbeat().(configserver.AgentHeartbeat)
		key := fmt.Sprintf("%s|%s|%d|%s|%v", hb.State, hb.LastPointID, int(hb.InitialPercent/10), hb.Error, hb.ProcessServerConnected != nil && *hb.ProcessServerConnected)
		if key != last {
			last = key
			m.poke()
		}
	}
}

// osrVersion is the module version the binary was built from ("devel" for a local build).
func osrVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
