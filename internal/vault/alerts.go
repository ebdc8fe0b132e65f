package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Alert thresholds (docs/control-plane.md).
const (
	psWarnPercent, psCritPercent = 80.0, 95.0
	cacheWarnFree, cacheCritFree = 30.0, 25.0
	drainWarn, drainCrit         = 30 * time.Minute, 45 * time.Minute
	heartbeatLostAfter           = 5 * time.Minute
)

// Alert is a condition that needs attention; it clears by itself when the condition is gone.
type Alert struct {
	ID       string     `json:"id"`
	VaultID  string     `json:"vault_id"`
	Kind     string     `json:"kind"`
	Subject  string     `json:"subject"`
	Severity string     `json:"severity"` // warning, critical
	Message  string     `json:"message"`
	Raised   time.Time  `json:"raised"`
	Updated  time.Time  `json:"updated"`
	Cleared  *time.Time `json:"cleared"`
}

type alertKey struct{ vault, kind, subject string }
type alertVal struct{ severity, message string }

// EvaluateAlerts compares the current state with the open alerts at the clock's now: raises new
// ones, updates changed severities, clears what is healthy again, and queues webhook deliveries
// for each change. It is idempotent.
func (s *Service) EvaluateAlerts(ctx context.Context) error {
	now := s.clock.Now()
	want, err := s.currentConditions(ctx, now)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *dbTx) error {
		rows, err := tx.Query(ctx, `SELECT `+alertCols+` FROM alerts WHERE cleared = 0`)
		if err != nil {
			return err
		}
		open := map[alertKey]Alert{}
		for rows.Next() {
			a, err := scanAlert(rows)
			if err != nil {
				rows.Close()
				return err
			}
			open[alertKey{a.VaultID, a.Kind, a.Subject}] = a
		}
		rows.Close()
		for k, v := range want {
			a, exists := open[k]
			switch {
			case !exists:
				a = Alert{ID: newID("al-"), VaultID: k.vault, Kind: k.kind, Subject: k.subject, Severity: v.severity, Message: v.message, Raised: now.UTC(), Updated: now.UTC()}
				if _, err := tx.Exec(ctx, `INSERT INTO alerts (id, vault_id, kind, subject, severity, message, raised, updated, cleared) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)`,
					a.ID, a.VaultID, a.Kind, a.Subject, a.Severity, a.Message, ns(now), ns(now)); err != nil {
					return err
				}
				if err := s.alertChanged(ctx, tx, "alert.raised", a); err != nil {
					return err
				}
			case a.Severity != v.severity || a.Message != v.message:
				changedSeverity := a.Severity != v.severity
				a.Severity, a.Message, a.Updated = v.severity, v.message, now.UTC()
				if _, err := tx.Exec(ctx, `UPDATE alerts SET severity = ?, message = ?, updated = ? WHERE id = ?`, a.Severity, a.Message, ns(now), a.ID); err != nil {
					return err
				}
				if changedSeverity {
					if err := s.alertChanged(ctx, tx, "alert.updated", a); err != nil {
						return err
					}
				}
			}
		}
		for k, a := range open {
			if _, still := want[k]; still {
				continue
			}
			t := now.UTC()
			a.Cleared, a.Updated = &t, t
			if _, err := tx.Exec(ctx, `UPDATE alerts SET cleared = ?, updated = ? WHERE id = ?`, ns(now), ns(now), a.ID); err != nil {
				return err
			}
			if err := s.alertChanged(ctx, tx, "alert.cleared", a); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Service) alertChanged(ctx context.Context, tx *dbTx, kind string, a Alert) error {
	sev := a.Severity
	msg := a.Message
	if kind == "alert.cleared" {
		sev, msg = "info", "cleared: "+a.Message
	}
	if err := s.event(ctx, tx, a.VaultID, sev, kind, a.Subject, msg); err != nil {
		return err
	}
	return s.queueWebhooks(ctx, tx, kind, a)
}

// currentConditions computes the alerts that should be open now.
func (s *Service) currentConditions(ctx context.Context, now time.Time) (map[alertKey]alertVal, error) {
	want := map[alertKey]alertVal{}
	// RPO: the newest point of a protected item is older than its policy's threshold.
	rows, err := s.db.Query(ctx, `SELECT i.vault_id, i.machine, i.last_point_time, p.rpo_threshold_s FROM protected_items i JOIN policies p ON p.id = i.policy_id WHERE i.state IN (?, ?) AND i.last_point_time > 0`, StateProtected, StateResynchronising)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var vid, machine string
		var lpt, rpo int64
		if err := rows.Scan(&vid, &machine, &lpt, &rpo); err != nil {
			rows.Close()
			return nil, err
		}
		age := now.Sub(fromNS(lpt)).Truncate(time.Second)
		th := time.Duration(rpo) * time.Second
		if age > th {
			sev := "warning"
			if age > 2*th {
				sev = "critical"
			}
			want[alertKey{vid, "rpo-exceeded", "item/" + machine}] = alertVal{sev, fmt.Sprintf("%s: the newest recovery point is %s old, over the RPO threshold of %s", machine, age, th)}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Configuration servers, their process servers and agents.
	rows, err = s.db.Query(ctx, `SELECT vault_id, name, registered, last_heartbeat, heartbeat FROM config_servers`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var vid, name, hbJSON string
		var reg, last int64
		if err := rows.Scan(&vid, &name, &reg, &last, &hbJSON); err != nil {
			return nil, err
		}
		var hb Heartbeat
		json.Unmarshal([]byte(hbJSON), &hb)
		seen := fromNS(max(reg, last))
		csLost := now.Sub(seen) >= csDisconnectedAfter
		if csLost {
			want[alertKey{vid, "config-server-heartbeat-lost", "cs/" + name}] = alertVal{"critical", fmt.Sprintf("configuration server %s: no heartbeat since %s", name, seen.UTC().Format(time.RFC3339))}
		}
		for _, ps := range hb.ProcessServers {
			subj := "ps/" + name + "/" + ps.Name
			if csLost || now.Sub(ps.LastSeen) >= heartbeatLostAfter {
				want[alertKey{vid, "process-server-heartbeat-lost", subj}] = alertVal{"critical", fmt.Sprintf("process server %s: no heartbeat since %s", ps.Name, ps.LastSeen.UTC().Format(time.RFC3339))}
				continue
			}
			over := func(kind, what string, v, warn, crit float64) {
				switch {
				case v > crit:
					want[alertKey{vid, kind, subj}] = alertVal{"critical", fmt.Sprintf("process server %s: %s %.0f%% is over %.0f%%", ps.Name, what, v, crit)}
				case v > warn:
					want[alertKey{vid, kind, subj}] = alertVal{"warning", fmt.Sprintf("process server %s: %s %.0f%% is over %.0f%%", ps.Name, what, v, warn)}
				}
			}
			over("process-server-cpu", "CPU use", ps.CPUPercent, psWarnPercent, psCritPercent)
			over("process-server-memory", "memory use", ps.MemoryPercent, psWarnPercent, psCritPercent)
			switch {
			case ps.CacheFreePercent < cacheCritFree:
				want[alertKey{vid, "process-server-cache", subj}] = alertVal{"critical", fmt.Sprintf("process server %s: cache free space %.0f%% is under %.0f%%", ps.Name, ps.CacheFreePercent, cacheCritFree)}
			case ps.CacheFreePercent < cacheWarnFree:
				want[alertKey{vid, "process-server-cache", subj}] = alertVal{"warning", fmt.Sprintf("process server %s: cache free space %.0f%% is under %.0f%%", ps.Name, ps.CacheFreePercent, cacheWarnFree)}
			}
			drain := time.Duration(ps.UploadDrainSeconds) * time.Second
			switch {
			case drain > drainCrit:
				want[alertKey{vid, "process-server-upload-backlog", subj}] = alertVal{"critical", fmt.Sprintf("process server %s: upload backlog needs %s to drain, over %s", ps.Name, drain, drainCrit)}
			case drain > drainWarn:
				want[alertKey{vid, "process-server-upload-backlog", subj}] = alertVal{"warning", fmt.Sprintf("process server %s: upload backlog needs %s to drain, over %s", ps.Name, drain, drainWarn)}
			}
		}
		for _, ag := range hb.Agents {
			if csLost || now.Sub(ag.LastSeen) >= heartbeatLostAfter {
				want[alertKey{vid, "agent-heartbeat-lost", "agent/" + ag.Machine}] = alertVal{"critical", fmt.Sprintf("mobility agent on %s: no heartbeat since %s", ag.Machine, ag.LastSeen.UTC().Format(time.RFC3339))}
			}
		}
	}
	return want, rows.Err()
}

const alertCols = `id, vault_id, kind, subject, severity, message, raised, updated, cleared`

func scanAlert(sc interface{ Scan(...any) error }) (Alert, error) {
	var a Alert
	var r, u, c int64
	err := sc.Scan(&a.ID, &a.VaultID, &a.Kind, &a.Subject, &a.Severity, &a.Message, &r, &u, &c)
	a.Raised, a.Updated, a.Cleared = fromNS(r), fromNS(u), timePtr(fromNS(c))
	return a, err
}

// ListAlerts returns open alerts (all: cleared ones too), newest first.
func (s *Service) ListAlerts(ctx context.Context, vaultID string, all bool) ([]Alert, error) {
	rows, err := s.db.Query(ctx, `SELECT `+alertCols+` FROM alerts WHERE (? = '' OR vault_id = ?) AND (? = 1 OR cleared = 0) ORDER BY raised DESC, id DESC LIMIT 1000`, vaultID, vaultID, boolInt(all))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Alert{}
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
