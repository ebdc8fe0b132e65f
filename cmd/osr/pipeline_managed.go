package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/configserver/csclient"
	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
	"github.com/opensiterecovery/osr/internal/processserver"
)

// serveProcessServerManaged runs the process server of configFile under its configuration server
// when the configuration's directory holds the link that `osr process-server install` (or the
// configuration server's install, for its default process server) wrote. It reports false, and
// does nothing, for a process server without one. A managed process server:
//   - takes its store settings (repository URL and password) from the configuration server,
//     records them beside its configuration (configserver.ApplyStorage) and serves only once it
//     has them; new settings restart it on the new store;
//   - sends its /health document as its heartbeat, so that the configuration server and the vault
//     rate it;
//   - renews its certificate when the configuration server asks.
func (a *app) serveProcessServerManaged(ctx context.Context, configFile, logLevel string) (bool, error) {
	dir := filepath.Dir(configFile)
	link := filepath.Join(dir, configserver.LinkFile)
	if _, err := os.Stat(link); err != nil {
		return false, nil
	}
	cfg, err := processserver.LoadConfig(configFile)
	if err != nil {
		return true, err
	}
	cs, err := csclient.Load(link)
	if err != nil {
		return true, err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return true, err
	}
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level})).With("process_server", cfg.Name)
	m := &managedPS{app: a, file: configFile, dir: dir, logLevel: logLevel, health: cfg.HealthListen, log: log,
		sup: csclient.Supervisor{Logger: log}, hc: &http.Client{Timeout: 5 * time.Second}, kick: make(chan struct{}, 1)}
	defer m.sup.Stop()
	if cfg.Store.Repo != "" {
		m.start(ctx) // settings from an earlier run (or written by the configuration server)
	} else {
		log.Info("waiting for the vault's storage settings from the configuration server")
	}
	err = cs.Run(ctx, csclient.RunConfig{Heartbeat: m.heartbeat, OnConfig: m.onConfig, Kick: m.kick, Logger: log})
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return true, err
}

type managedPS struct {
	app      *app
	file     string
	dir      string
	logLevel string
	health   string // host:port of /health; empty: none
	log      *slog.Logger
	sup      csclient.Supervisor
	hc       *http.Client

	mu      sync.Mutex
	serving bool
	kick    chan struct{} // an early heartbeat once serving (pipeline_kick.go)
}

func (m *managedPS) start(ctx context.Context) {
	m.mu.Lock()
	m.serving = true
	m.mu.Unlock()
	m.sup.Replace(ctx, "process server", func(ctx context.Context) error {
		return m.app.serveProcessServer(ctx, m.file, m.logLevel)
	})
	go m.kickWhenHealthy(ctx) // pipeline_kick.go
}

func (m *managedPS) onConfig(ctx context.Context, raw json.RawMessage) {
	st, err := psStorage(raw)
	if err != nil {
		m.log.Error("configuration from the configuration server refused; the process server stays as it is", "err", err)
		return
	}
	if st == nil {
		return
	}
	changed, err := configserver.ApplyStorage(m.dir, *st)
	if err != nil {
		m.log.Error("record the store settings", "err", err)
		return
	}
	m.mu.Lock()
	serving := m.serving
	m.mu.Unlock()
	if changed || !serving {
		m.log.Info("store settings from the vault: (re)starting on them", "repo", st.URL)
		m.start(ctx)
	}
}

// heartbeat reports the process server's own /health document, or why there is none. A heartbeat
// without the document answers no health ask (HealthAnswer -1, which wins over the ask the
// heartbeat loop adds): a latest-received request must not take "no drain state" for "nothing
// cached" while the process server (re)starts.
func (m *managedPS) heartbeat() any {
	h, read := m.readHealth()
	if !read {
		h.HealthAnswer = -1
	}
	return h
}

// readHealth returns the process server's /health document (read true) or why there is none.
func (m *managedPS) readHealth() (h configserver.PSHealth, read bool) {
	h = configserver.PSHealth{Version: osrVersion()}
	m.mu.Lock()
	serving := m.serving
	m.mu.Unlock()
	if !serving {
		h.Status, h.Problems = "warning", []string{"waiting for the vault's storage settings"}
		return h, false
	}
	if m.health == "" {
		return h, false
	}
	resp, err := m.hc.Get("http://" + m.health + "/health")
	if err != nil {
		h.Status, h.LastError = "critical", "health: "+err.Error()
		return h, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(b, &h)
	}
	if err != nil {
		h.Status, h.LastError = "critical", "health: "+err.Error()
	}
	h.Version = osrVersion()
	return h, err == nil
}

// psStorage decodes the configuration server's answer (configserver.PSConfig) and returns its
// store settings, nil when it has none yet. Settings without a password, or with control
// characters in the URL, are an error and change nothing; the URL itself is the vault's, which
// created the store there (the store's backends check it when the process server opens it).
func psStorage(raw []byte) (*vaultlink.Storage, error) {
	var c configserver.PSConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("process server configuration: %w", err)
	}
	st := c.Storage
	if st == nil || st.URL == "" {
		return nil, nil
	}
	switch {
	case strings.ContainsFunc(st.URL, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return nil, fmt.Errorf("process server configuration: storage url %q holds control characters", st.URL)
	case len(st.Password) == 0:
		return nil, errors.New("process server configuration: storage without a password")
	}
	return st, nil
}
