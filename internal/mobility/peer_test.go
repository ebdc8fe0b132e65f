package mobility

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/mobility/tracker"
	"github.com/opensiterecovery/osr/internal/wire"
)

// testPeer speaks the data-path protocol with an in-memory replica, for what the real process
// server cannot be made to do: a replica damaged behind the agent's back, a refused sequence, and
// a sink that keeps nothing for the memory benchmark. Everything else is tested against the real
// process server (ps_test.go).
type testPeer struct {
	t  *testing.T
	l  net.Listener
	mu sync.Mutex
	// replica state
	disks     map[string][]byte // committed images
	committed uint64
	// per seq: blocks received
	received map[uint64]int
	zeroed   map[uint64]int
	kinds    map[uint64]wire.Kind
	// hooks
	onDurable func(seq uint64) bool // return false to cut the connection before Committed
	discard   bool                  // count blocks but keep no data (benchmarks)
	refuse    int                   // refuse this many complete points with a sequence error
	conns     []net.Conn
}

func newTestPeer(t *testing.T, disks map[string]int64) *testPeer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &testPeer{t: t, l: l, disks: map[string][]byte{}, received: map[uint64]int{}, zeroed: map[uint64]int{}, kinds: map[uint64]wire.Kind{}}
	for n, sz := range disks {
		if sz > 0 {
			p.disks[n] = make([]byte, tracker.Blocks(sz)*tracker.BlockSize)
		}
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			go p.serve(c)
		}
	}()
	t.Cleanup(func() { l.Close(); p.cut() })
	return p
}

func (p *testPeer) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", p.l.Addr().String())
}

// cut closes every connection.
func (p *testPeer) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *testPeer) image(disk string, size int64) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.disks[disk][:size]...)
}

type op struct {
	disk  string
	first uint64
	data  []byte
	zero  uint64
}

func (p *testPeer) serve(c net.Conn) {
	defer c.Close()
	wc := wire.NewConn(c, wire.Options{})
	if _, err := wc.Handshake(); err != nil {
		return
	}
	f, err := wc.ReadFrame()
	if err != nil || f.Type != wire.TypeHello {
		return
	}
	p.mu.Lock()
	w := wire.Welcome{CommittedSeq: p.committed, CommittedPoint: fmt.Sprintf("p%d", p.committed), Durable: p.committed}
	if p.committed == 0 {
		w.CommittedPoint = ""
	}
	p.mu.Unlock()
	if wc.Send(w) != nil {
		return
	}
	var seq uint64
	var ops []op
	for {
		f, err := wc.ReadFrame()
		if err != nil {
			return
		}
		switch f.Type {
		case wire.TypeBeginPoint:
			var m wire.BeginPoint
			if err := m.Decode(f.Payload); err != nil {
				p.t.Errorf("peer: %v", err)
				return
			}
			seq, ops = m.Seq, nil
			p.mu.Lock()
			if p.refuse > 0 && m.Kind != wire.KindPartial {
				p.refuse--
				p.mu.Unlock()
				wc.Send(wire.Error{Code: wire.ErrCodeSequence, Message: fmt.Sprintf("base seq %d of point %d is neither committed nor durable here", m.Base, m.Seq)})
				return
			}
			p.kinds[seq] = m.Kind
			if m.Base != p.committed {
				p.t.Errorf("peer: point %d has base %d, committed is %d", m.Seq, m.Base, p.committed)
			}
			p.mu.Unlock()
		case wire.TypeBlocks:
			var m wire.Blocks
			if err := m.Decode(f.Payload); err != nil || m.Verify() != nil || m.Seq != seq {
				p.t.Errorf("peer: bad blocks frame: %v %v seq %d/%d", err, m.Verify(), m.Seq, seq)
				return
			}
			if p.discard {
				p.mu.Lock()
				p.received[seq] += m.N()
				p.mu.Unlock()
				continue
			}
			ops = append(ops, op{disk: m.Disk, first: m.First, data: append([]byte(nil), m.Data...)})
		case wire.TypeZero:
			var m wire.Zero
			if err := m.Decode(f.Payload); err != nil {
				return
			}
			ops = append(ops, op{disk: m.Disk, first: m.First, zero: m.Count})
		case wire.TypeEndPoint:
			var m wire.EndPoint
			if err := m.Decode(f.Payload); err != nil || m.Seq != seq {
				p.t.Errorf("peer: end point %v", err)
				return
			}
			wc.Send(wire.Durable{Seq: seq})
			if p.onDurable != nil && !p.onDurable(seq) {
				// Durable but cut before Committed: commit it anyway, as the real one does after a
				// restart, and report it on the next connection via Welcome.
				p.apply(seq, ops)
				return
			}
			p.apply(seq, ops)
			wc.Send(wire.Committed{Seq: seq, Point: fmt.Sprintf("p%d", seq), Time: time.Now()})
		case wire.TypeFingerprintsRequest:
			var m wire.FingerprintsRequest
			if err := m.Decode(f.Payload); err != nil {
				return
			}
			p.mu.Lock()
			img := p.disks[m.Disk]
			var fps []byte
			for i := m.First; i < m.First+m.Count; i++ {
				fp := tracker.FingerprintOf(img[i*4096 : (i+1)*4096])
				fps = append(fps, fp[:]...)
			}
			pt := fmt.Sprintf("p%d", p.committed)
			p.mu.Unlock()
			wc.Send(wire.Fingerprints{Disk: m.Disk, First: m.First, Point: pt, Fingerprints: fps})
		case wire.TypePing:
			var m wire.Ping
			m.Decode(f.Payload)
			wc.Send(wire.Pong(m))
		}
	}
}

func (p *testPeer) apply(seq uint64, ops []op) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range ops {
		img := p.disks[o.disk]
		if o.zero > 0 {
			clear(img[o.first*4096 : (o.first+o.zero)*4096])
			p.zeroed[seq] += int(o.zero)
			continue
		}
		copy(img[o.first*4096:], o.data)
		p.received[seq] += len(o.data) / 4096
	}
	p.committed = seq
}

func (p *testPeer) stats() (committed uint64, received map[uint64]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := map[uint64]int{}
	for k, v := range p.received {
		r[k] = v
	}
	return p.committed, r
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var _ = bytes.Equal
var _ = errors.New
