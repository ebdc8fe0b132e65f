package enroll

import (
	"fmt"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/clock"
)

func TestFailLimiter(t *testing.T) {
	c := clock.NewFake(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	l := newFailLimiter(c)
	for i := range FailBurstPerHost {
		if d := l.wait("10.0.0.1"); d != 0 {
			t.Fatalf("failure %d: wait %s", i, d)
		}
		l.fail("10.0.0.1")
	}
	if d := l.wait("10.0.0.1"); d != FailEveryPerHost {
		t.Fatalf("after the burst: wait %s, want %s", d, FailEveryPerHost)
	}
	if d := l.wait("10.0.0.2"); d != 0 {
		t.Fatalf("another host waits %s", d)
	}
	c.Advance(30 * time.Second)
	if d := l.wait("10.0.0.1"); d != 30*time.Second {
		t.Fatalf("half a minute later: wait %s", d)
	}
	c.Advance(30 * time.Second)
	if d := l.wait("10.0.0.1"); d != 0 {
		t.Fatalf("a minute later: wait %s", d)
	}
	// Many hosts together hit the total limit: everyone waits, even a host that never failed.
	for i := range FailBurstTotal {
		l.fail(fmt.Sprintf("10.1.%d.%d", i/200, i%200))
	}
	if d := l.wait("10.9.9.9"); d <= 0 || d > FailEveryTotal {
		t.Fatalf("after %d failures in total: wait %s, want up to %s", FailBurstTotal+FailBurstPerHost, d, FailEveryTotal)
	}
	c.Advance(FailEveryTotal)
	if d := l.wait("10.9.9.9"); d != 0 {
		t.Fatalf("after %s: wait %s", FailEveryTotal, d)
	}
}
