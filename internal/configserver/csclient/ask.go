package csclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
)

// healthAsks follows a process server's health asks (configserver.PSConfig.HealthAsk): a new ask
// wakes the heartbeat loop at once, and the heartbeat says which ask it answers.
type healthAsks struct {
	ch chan struct{} // receives when a new ask arrived

	mu   sync.Mutex
	last int64
}

// saw records the ask of a configuration just fetched; a new one wakes the heartbeat loop. Asks
// are compared for difference, not order: a configuration server that lost its asks (it
// restarted) asks anew from a higher configuration version.
func (a *healthAsks) saw(ask int64) {
	a.mu.Lock()
	changed := ask != a.last
	a.last = ask
	a.mu.Unlock()
	if changed && ask > 0 {
		select {
		case a.ch <- struct{}{}:
		default:
		}
	}
}

// newest returns the newest ask seen, 0 when none.
func (a *healthAsks) newest() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// withAnswer returns the JSON of heartbeat body with "health_answer" set to ask (nothing when
// ask is 0): the body may be any JSON object (configserver.PSHealth, the process server's own
// health document). A field of that name in the body itself wins over it.
func withAnswer(body any, ask int64) (any, error) {
	if ask <= 0 {
		return body, nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '{' {
		return nil, fmt.Errorf("heartbeat: body is not a JSON object: %.40q", b)
	}
	out := make([]byte, 0, len(b)+32)
	out = append(out, `{"health_answer":`...)
	out = strconv.AppendInt(out, ask, 10)
	rest := bytes.TrimSpace(b[1:])
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	out = append(out, rest...)
	return json.RawMessage(out), nil
}
