package mobility

import (
	"context"
	"sync"
	"time"

	"github.com/opensiterecovery/osr/internal/wire"
)

// CaptureResult is the point a CaptureAndWait waited for.
type CaptureResult struct {
	Seq         uint64    `json:"seq"`
	PointID     string    `json:"point_id"`
	Kind        string    `json:"kind"`
	CaptureTime time.Time `json:"capture_time"`
	CommittedAt time.Time `json:"committed_at"`
}

// commitNotice tells waiters about complete points committed: the newest one, and a channel
// closed at the next.
type commitNotice struct {
	mu   sync.Mutex
	last CaptureResult
	next chan struct{}
}

func (n *commitNotice) get() (CaptureResult, chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.next == nil {
		n.next = make(chan struct{})
	}
	return n.last, n.next
}

func (n *commitNotice) set(r CaptureResult) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.last = r
	if n.next != nil {
		close(n.next)
		n.next = nil
	}
}

// noteCommitted records the newest complete point of pts (in seq order), if any.
func (a *Agent) noteCommitted(pts []*point, pointID string, at time.Time) {
	for i := len(pts) - 1; i >= 0; i-- {
		if p := pts[i]; p.kind != wire.KindPartial {
			a.commits.set(CaptureResult{Seq: p.seq, PointID: pointID, Kind: string(p.kind), CaptureTime: p.time, CommittedAt: at})
			return
		}
	}
}

// CaptureAndWait asks for a capture now and waits until a complete point begun after the request
// is committed: that point holds every write that finished before the call. During the initial
// replication that is the first complete point. It returns ctx's error if ctx ends first.
func (a *Agent) CaptureAndWait(ctx context.Context) (CaptureResult, error) {
	a.stMu.Lock()
	want := a.st.NextSeq // every point begun from now on has a seq of at least this
	a.stMu.Unlock()
	a.Trigger()
	for {
		last, next := a.commits.get()
		if last.Seq >= want {
			return last, nil
		}
		select {
		case <-next:
		case <-ctx.Done():
			return CaptureResult{}, ctx.Err()
		}
	}
}
