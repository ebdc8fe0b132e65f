package vault

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Webhook delivery: attempts and back-off (10 s, 20 s, 40 s, ... at most 1 h between attempts).
const (
	webhookAttempts = 8
	webhookBackoff  = 10 * time.Second
)

// Webhook is a URL that receives alert changes as JSON POSTs. Each POST carries the header
// X-Osr-Signature: sha256=<hex HMAC-SHA256 of the body under Secret>; Secret is returned only by
// the request that adds the webhook.
type Webhook struct {
	ID      string    `json:"id"`
	URL     string    `json:"url"`
	Created time.Time `json:"created"`
	Secret  string    `json:"secret,omitempty"`
}

// AddWebhookRequest is the body of POST /webhooks.
type AddWebhookRequest struct {
	URL string `json:"url"`
}

// WebhookPayload is what a webhook receives.
type WebhookPayload struct {
	Type  string    `json:"type"` // alert.raised, alert.updated, alert.cleared
	Time  time.Time `json:"time"`
	Alert Alert     `json:"alert"`
}

// AddWebhook registers a receiver.
func (s *Service) AddWebhook(ctx context.Context, req AddWebhookRequest) (*Webhook, error) {
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, badRequest("webhook URL %q is not an http or https URL", req.URL)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	w := &Webhook{ID: newID("wh-"), URL: req.URL, Created: s.clock.Now().UTC(), Secret: hex.EncodeToString(raw)}
	err = s.db.InTx(ctx, func(tx *dbTx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO webhooks (id, url, created, secret) VALUES (?, ?, ?, ?)`, w.ID, w.URL, ns(w.Created), s.box.seal("webhook:"+w.ID, []byte(w.Secret))); err != nil {
			return err
		}
		return s.audit(ctx, tx, "webhook.add", w.ID, w.URL)
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// ListWebhooks returns the receivers.
func (s *Service) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	rows, err := s.db.Query(ctx, `SELECT id, url, created FROM webhooks ORDER BY created, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Webhook{}
	for rows.Next() {
		var w Webhook
		var c int64
		if err := rows.Scan(&w.ID, &w.URL, &c); err != nil {
			return nil, err
		}
		w.Created = fromNS(c)
		out = append(out, w)
	}
	return out, rows.Err()
}

// RemoveWebhook deletes a receiver and its pending deliveries.
func (s *Service) RemoveWebhook(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(tx *dbTx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = ?`, id); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("webhook %s does not exist", id)
		}
		return s.audit(ctx, tx, "webhook.remove", id, "")
	})
}

func (s *Service) queueWebhooks(ctx context.Context, tx *dbTx, kind string, a Alert) error {
	now := s.clock.Now()
	payload, _ := json.Marshal(WebhookPayload{Type: kind, Time: now.UTC(), Alert: a})
	_, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (id, webhook_id, payload, attempts, next_attempt, delivered, last_error, created) SELECT ? || id, id, ?, 0, ?, 0, '', ? FROM webhooks`,
		newID("wd-")+"-", string(payload), ns(now), ns(now))
	return err
}

// DeliverWebhooks makes one attempt at every delivery that is due at the clock's now, and
// schedules a retry with back-off for those that fail (non-2xx or no answer). It returns how many
// were delivered.
func (s *Service) DeliverWebhooks(ctx context.Context) (int, error) {
	now := s.clock.Now()
	rows, err := s.db.Query(ctx, `SELECT d.id, w.id, w.url, w.secret, d.payload, d.attempts FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.delivered = 0 AND d.attempts < ? AND d.next_attempt <= ? ORDER BY d.created, d.id LIMIT 100`, webhookAttempts, ns(now))
	if err != nil {
		return 0, err
	}
	type due struct {
		id, hook, url, secret, payload string
		attempts                       int
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.hook, &d.url, &d.secret, &d.payload, &d.attempts); err != nil {
			rows.Close()
			return 0, err
		}
		list = append(list, d)
	}
	rows.Close()
	delivered := 0
	for _, d := range list {
		var key []byte
		if d.secret != "" {
			if key, err = s.box.open("webhook:"+d.hook, d.secret); err != nil {
				return delivered, err
			}
		}
		err := s.post(ctx, d.url, d.id, d.payload, key)
		if err == nil {
			delivered++
			if _, err := s.db.Exec(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, delivered = ?, last_error = '' WHERE id = ?`, ns(s.clock.Now()), d.id); err != nil {
				return delivered, err
			}
			continue
		}
		wait := min(webhookBackoff<<d.attempts, time.Hour)
		s.log.WarnContext(ctx, "webhook delivery failed", "url", d.url, "attempt", d.attempts+1, "err", err)
		if _, err := s.db.Exec(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?`, ns(now.Add(wait)), err.Error(), d.id); err != nil {
			return delivered, err
		}
	}
	return delivered, nil
}

// WebhookSignature returns the X-Osr-Signature value of a webhook body under its secret.
func WebhookSignature(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (s *Service) post(ctx context.Context, url, id, payload string, secret []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(payload)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Osr-Delivery", id)
	if secret != nil {
		req.Header.Set("X-Osr-Signature", WebhookSignature(secret, []byte(payload)))
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}

// WebhookDelivery is the state of one delivery (for tests and the portal).
type WebhookDelivery struct {
	ID        string `json:"id"`
	Attempts  int    `json:"attempts"`
	Delivered bool   `json:"delivered"`
	LastError string `json:"last_error"`
}

// ListDeliveries returns all deliveries, oldest first.
func (s *Service) ListDeliveries(ctx context.Context) ([]WebhookDelivery, error) {
	rows, err := s.db.Query(ctx, `SELECT id, attempts, delivered, last_error FROM webhook_deliveries ORDER BY created, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WebhookDelivery
	for rows.Next() {
		var d WebhookDelivery
		var del int64
		if err := rows.Scan(&d.ID, &d.Attempts, &del, &d.LastError); err != nil {
			return nil, err
		}
		d.Delivered = del != 0
		out = append(out, d)
	}
	return out, rows.Err()
}
