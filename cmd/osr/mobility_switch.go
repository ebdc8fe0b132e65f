package main

import (
	"encoding/json"

	"github.com/opensiterecovery/osr/internal/configserver"
	"github.com/opensiterecovery/osr/internal/mobility"
)

// switchProcessServer moves the running data path to want's process server without a restart
// when nothing else of the settings changed (a switch, a balance or an automatic move by the
// configuration server): the agent reconnects to the new process server keeping its tracking
// and its points in flight, so nothing is resynchronised. It reports whether it did; otherwise
// the caller restarts the data path with the new settings.
func (m *managedAgent) switchProcessServer(want agentSettings, name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.running
	cur.ProcessServer = want.ProcessServer
	if !m.replicate || m.agent == nil || m.dialer == nil || cur != want {
		return false
	}
	if m.dialer.Switch(want.ProcessServer) {
		m.agent.NoteProcessServer(want.ProcessServer, name)
	}
	m.running = want
	m.log.Info("moved to another process server by the configuration server: reconnecting without a restart", "process_server", want.ProcessServer, "name", name)
	return true
}

// psDialer makes the data path's dialer, kept so that a move reaches the running agent.
func (m *managedAgent) psDialer(cfg *mobility.Config) (*mobility.PSDialer, error) {
	d, err := mobility.NewPSDialer(cfg)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.dialer = d
	m.mu.Unlock()
	return d, nil
}

// agentPSName is the name of the process server in a configuration answer, for the log.
func agentPSName(raw []byte) string {
	var c configserver.AgentConfig
	if json.Unmarshal(raw, &c) != nil {
		return ""
	}
	return c.ProcessServerName
}

// reportedError is the agent's last error as its heartbeat reports it: none once a point captured
// after it is committed (the data path recovered: a move to another process server ends a
// connection on purpose, and a lost connection that healed is history, not a state).
func reportedError(st mobility.Status) string {
	if st.LastError == "" || (!st.LastErrorTime.IsZero() && st.CaptureTime.After(st.LastErrorTime)) {
		return ""
	}
	return st.LastError
}
