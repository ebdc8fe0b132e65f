package csclient

import (
	"encoding/json"
	"testing"

	"github.com/opensiterecovery/osr/internal/configserver"
)

func TestWithAnswer(t *testing.T) {
	type health struct {
		Status string `json:"status"`
		Answer int64  `json:"health_answer,omitempty"`
	}
	for _, tc := range []struct {
		name string
		body any
		ask  int64
		want string
		err  string
	}{
		{"no ask", health{Status: "ok"}, 0, "", ""},
		{"object", health{Status: "ok"}, 12, `{"health_answer":12,"status":"ok"}`, ""},
		{"empty object", struct{}{}, 3, `{"health_answer":3}`, ""},
		{"the body's own field follows", health{Status: "ok", Answer: 4}, 12, `{"health_answer":12,"status":"ok","health_answer":4}`, ""},
		{"not an object", []int{1}, 5, "", "heartbeat: body is not a JSON object: \"[1]\""},
		{"cannot marshal", map[string]any{"f": func() {}}, 5, "", "heartbeat: json: unsupported type: func()"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := withAnswer(tc.body, tc.ask)
			switch {
			case tc.err != "":
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %s", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case tc.want == "":
				if got != tc.body {
					t.Fatalf("body changed: %v", got)
				}
			default:
				raw, ok := got.(interface{ MarshalJSON() ([]byte, error) })
				if !ok {
					t.Fatalf("got %T", got)
				}
				b, _ := raw.MarshalJSON()
				if string(b) != tc.want {
					t.Fatalf("got %s, want %s", b, tc.want)
				}
			}
		})
	}
}

// A new ask wakes the heartbeat loop once; the same ask again does not; ask 0 never does.
func TestHealthAsks(t *testing.T) {
	a := &healthAsks{ch: make(chan struct{}, 1)}
	woke := func() bool {
		select {
		case <-a.ch:
			return true
		default:
			return false
		}
	}
	a.saw(0)
	if woke() || a.newest() != 0 {
		t.Fatal("woken by no ask")
	}
	a.saw(7)
	if !woke() || a.newest() != 7 {
		t.Fatalf("not woken by ask 7 (newest %d)", a.newest())
	}
	a.saw(7)
	if woke() {
		t.Fatal("woken by the same ask")
	}
	a.saw(3) // another run of the configuration server
	if !woke() || a.newest() != 3 {
		t.Fatalf("not woken by ask 3 (newest %d)", a.newest())
	}
}

// A process server's own health_answer (-1: no health document read) wins over the ask the loop
// adds, when the configuration server decodes the heartbeat.
func TestWithAnswerBodyWins(t *testing.T) {
	for _, tc := range []struct {
		own, ask, want int64
	}{{0, 9, 9}, {-1, 9, -1}, {0, 0, 0}, {-1, 0, -1}} {
		body, err := withAnswer(configserver.PSHealth{HealthAnswer: tc.own, Status: "ok"}, tc.ask)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(body)
		var h configserver.PSHealth
		if err := json.Unmarshal(b, &h); err != nil || h.HealthAnswer != tc.want || h.Status != "ok" {
			t.Errorf("own %d, ask %d: %s decodes to %+v (%v), want answer %d", tc.own, tc.ask, b, h, err, tc.want)
		}
	}
}
