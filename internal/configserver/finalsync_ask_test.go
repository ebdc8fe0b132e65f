package configserver

import (
	"context"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/configserver/vaultlink"
)

// Latest received with a process server that answers health asks: the request asks (a new
// configuration version carries it), an answer to an earlier ask does not fix the target, the
// first answer to this one does, and the request asks again about once a second while it waits
// for the commit.
func TestServeLatestReceivedAsks(t *testing.T) {
	s, _ := fsServer(t)
	beat := func(answer int64, durable, committed uint64, point string) {
		s.registry.BeatPS("ps1", PSHealth{HealthAnswer: answer, Drain: []PSDrain{{Machine: "web01", DurableSeq: durable, CommittedSeq: committed, CommittedPoint: point}}})
	}
	beat(0, 3, 3, "p3")
	v0, _ := s.registry.ConfigVersion()
	ch := serve(s, context.Background(), vaultlink.Request{ID: "job-1", Kind: vaultlink.RequestLatestReceived, Machine: "web01", TimeoutSeconds: 60})
	var ask int64
	waitFor(t, "the health ask in the process server's configuration", func() bool {
		pc, _ := s.registry.PSConfig("ps1")
		ask = pc.HealthAsk
		return ask > 0
	})
	if v, _ := s.registry.ConfigVersion(); ask != v || v <= v0 {
		t.Fatalf("ask %d, configuration version %d (was %d)", ask, v, v0)
	}
	beat(ask-1, 3, 3, "p3") // read before the ask
	beat(ask, 5, 3, "p3")   // the answer: seq 5 is acknowledged
	select {
	case r := <-ch:
		t.Fatalf("answered before seq 5 was committed: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	waitFor(t, "a second ask while the commit is pending", func() bool {
		pc, _ := s.registry.PSConfig("ps1")
		return pc.HealthAsk > ask
	})
	beat(ask+1, 6, 5, "p5")
	if r := got(t, ch); r != (vaultlink.RequestReport{State: "succeeded", PointID: "p5", Seq: 5}) {
		t.Fatalf("report %+v", r)
	}

	// Committed already: the first answer ends it, without a second heartbeat.
	ch = serve(s, context.Background(), vaultlink.Request{ID: "job-2", Kind: vaultlink.RequestLatestReceived, Machine: "web01", TimeoutSeconds: 60})
	waitFor(t, "the next ask", func() bool { pc, _ := s.registry.PSConfig("ps1"); ask2 := pc.HealthAsk; return ask2 > ask+1 })
	pc, _ := s.registry.PSConfig("ps1")
	beat(pc.HealthAsk, 6, 6, "p6")
	if r := got(t, ch); r != (vaultlink.RequestReport{State: "succeeded", PointID: "p6", Seq: 6}) {
		t.Fatalf("report %+v", r)
	}

	// An answer that does not list the machine: nothing of it in the cache.
	ch = serve(s, context.Background(), vaultlink.Request{ID: "job-3", Kind: vaultlink.RequestLatestReceived, Machine: "web01", TimeoutSeconds: 60})
	waitFor(t, "the third ask", func() bool { p, _ := s.registry.PSConfig("ps1"); return p.HealthAsk > pc.HealthAsk })
	p3, _ := s.registry.PSConfig("ps1")
	s.registry.BeatPS("ps1", PSHealth{HealthAnswer: p3.HealthAsk})
	if r := got(t, ch); r != (vaultlink.RequestReport{State: "succeeded"}) {
		t.Fatalf("report %+v", r)
	}
}

// The answer lookup: the oldest kept heartbeat at or above the ask, nothing for ask 0.
func TestFinalSyncsAnswered(t *testing.T) {
	var f finalSyncs
	f.psBeat("ps1", []PSDrain{{Machine: "web01", DurableSeq: 1}}, 0)
	f.psBeat("ps1", []PSDrain{{Machine: "web01", DurableSeq: 2}}, 7)
	f.psBeat("ps1", []PSDrain{{Machine: "web01", DurableSeq: 3}}, 9)
	f.psBeat("ps1", nil, 12)
	for _, tc := range []struct {
		ask           int64
		durable       uint64
		listed, found bool
	}{
		{0, 0, false, false},
		{5, 2, true, true},
		{7, 2, true, true},
		{8, 3, true, true},
		{10, 0, false, true},
		{13, 0, false, false},
	} {
		d, listed, found := f.answered("ps1", "web01", tc.ask)
		if d.DurableSeq != tc.durable || listed != tc.listed || found != tc.found {
			t.Errorf("ask %d: %+v listed %v found %v", tc.ask, d, listed, found)
		}
	}
	if _, _, found := f.answered("ps2", "web01", 1); found {
		t.Error("an answer from another process server")
	}
	f.psBeat("ps2", nil, 0)
	if !f.answers("ps1") || f.answers("ps2") {
		t.Errorf("answering: ps1 %v, ps2 %v", f.answers("ps1"), f.answers("ps2"))
	}
}

// A process server that says its heartbeats carry no health document (-1: it is starting)
// answers nothing, not even by the two-heartbeat rule: its missing drain state is not "nothing
// cached". Its first heartbeat with a document answers.
func TestServeLatestReceivedStartingPS(t *testing.T) {
	s, _ := fsServer(t)
	s.registry.BeatPS("ps1", PSHealth{HealthAnswer: -1})
	ch := serve(s, context.Background(), vaultlink.Request{ID: "job-1", Kind: vaultlink.RequestLatestReceived, Machine: "web01", TimeoutSeconds: 60})
	waitFor(t, "the health ask", func() bool { pc, _ := s.registry.PSConfig("ps1"); return pc.HealthAsk > 0 })
	for range 3 {
		s.registry.BeatPS("ps1", PSHealth{HealthAnswer: -1})
	}
	select {
	case r := <-ch:
		t.Fatalf("answered from heartbeats without a health document: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	pc, _ := s.registry.PSConfig("ps1")
	s.registry.BeatPS("ps1", PSHealth{HealthAnswer: pc.HealthAsk, Drain: []PSDrain{{Machine: "web01", DurableSeq: 5, CommittedSeq: 5, CommittedPoint: "p5"}}})
	if r := got(t, ch); r != (vaultlink.RequestReport{State: "succeeded", PointID: "p5", Seq: 5}) {
		t.Fatalf("report %+v", r)
	}
}
