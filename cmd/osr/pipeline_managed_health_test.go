package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver"
)

// A managed process server's heartbeat answers health asks only when it carries a health
// document it read: before it serves, without a /health listener, and when /health fails it says
// HealthAnswer -1, so that a latest-received request does not take "no drain state" for
// "nothing cached".
func TestManagedPSHeartbeatAnswers(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"status":"ok","drain":[{"machine":"web01","durable_seq":4,"committed_seq":4}]}`)
	}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"status":`) }))
	defer bad.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	for _, tc := range []struct {
		name    string
		serving bool
		health  string
		answer  int64
		status  string
		drained bool
	}{
		{"not serving yet", false, host(ok), -1, "warning", false},
		{"no health listener", true, "", -1, "", false},
		{"health read", true, host(ok), 0, "ok", true},
		{"health unreachable", true, gone, -1, "critical", false},
		{"health not JSON", true, host(bad), -1, "critical", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &managedPS{health: tc.health, serving: tc.serving, log: slog.New(slog.DiscardHandler), hc: &http.Client{Timeout: 2 * time.Second}}
			h := m.heartbeat().(configserver.PSHealth)
			if h.HealthAnswer != tc.answer || h.Status != tc.status || (len(h.Drain) == 1) != tc.drained {
				t.Fatalf("heartbeat %+v", h)
			}
		})
	}
}
