package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/opensiterecovery/osr/internal/configserver"
)

// finalSyncs runs the planned-failover final syncs the configuration server orders in the
// agent's configuration, on the running data path, and kicks a heartbeat when the report changes
// (docs/pipeline.md, "Planned failover").
func (m *managedAgent) finalSyncs() *configserver.AgentFinalSyncs {
	return configserver.NewAgentFinalSyncs(func(ctx context.Context, shutdown bool) (string, uint64, error) {
		m.mu.Lock()
		ag := m.agent
		m.mu.Unlock()
		if ag == nil {
			return "", 0, errors.New("replication is not running on this machine")
		}
		res, err := ag.FinalSync(ctx, shutdown)
		return res.PointID, res.Seq, err
	}, m.poke)
}

// handleFinalSync starts the final sync a configuration (configserver.AgentConfig) orders, once
// per request ID.
func (m *managedAgent) handleFinalSync(ctx context.Context, raw []byte) {
	var c struct {
		FinalSync *configserver.FinalSyncOrder `json:"final_sync"`
	}
	if err := json.Unmarshal(raw, &c); err == nil {
		m.fs.Handle(ctx, c.FinalSync)
	}
}
