package processserver

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/opensiterecovery/osr/internal/store"
)

// applier writes the checked block and zero frames of one point into a store writer with several
// goroutines: compressing, sealing and hashing the blocks is most of a process server's CPU, and a
// point written by one goroutine uses one core. The result is the same as writing the frames one by
// one in their order: a frame whose range overlaps a frame still being written waits for it, and
// frames of disjoint ranges commute. Errors: the first one is kept; later frames are refused.
type applier struct {
	jobs     chan *applyJob
	wg       sync.WaitGroup
	maxBusy  int
	mu       sync.Mutex
	cond     *sync.Cond
	busy     []*applyJob // submitted, not yet written
	err      error
	closed   bool
	bufs     sync.Pool
	progress func(n int64) // called with the bytes of each written Blocks frame
}

// applyJob is one frame's write: data at off (a copy the applier owns), or n zero bytes at off
// when data is nil.
type applyJob struct {
	disk string
	dw   *store.DiskWriter
	off  int64
	n    int64
	data []byte
	buf  *[]byte
}

// newApplier starts workers goroutines (0: one per CPU, at least 2).
func newApplier(workers int, progress func(n int64)) *applier {
	if workers <= 0 {
		workers = max(2, runtime.GOMAXPROCS(0))
	}
	a := &applier{jobs: make(chan *applyJob, 2*workers), maxBusy: 2 * workers, progress: progress}
	a.cond = sync.NewCond(&a.mu)
	a.wg.Add(workers)
	for range workers {
		go a.work()
	}
	return a
}

// write queues a copy of data for dw at off; it blocks while an overlapping write is in flight or
// the queue is full. It returns the first error of any earlier write.
func (a *applier) write(disk string, dw *store.DiskWriter, off int64, data []byte) error {
	bp, _ := a.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	*bp = append((*bp)[:0], data...)
	return a.submit(&applyJob{disk: disk, dw: dw, off: off, n: int64(len(data)), data: *bp, buf: bp})
}

// zero queues making n bytes of dw at off read as zeros, like write.
func (a *applier) zero(disk string, dw *store.DiskWriter, off, n int64) error {
	return a.submit(&applyJob{disk: disk, dw: dw, off: off, n: n})
}

func (a *applier) submit(j *applyJob) error {
	a.mu.Lock()
	for a.err == nil && (len(a.busy) >= a.maxBusy || a.overlaps(j)) {
		a.cond.Wait()
	}
	if a.err != nil || a.closed {
		err := a.err
		if err == nil {
			err = errors.New("write after the point's frames ended")
		}
		a.mu.Unlock()
		a.release(j)
		return err
	}
	a.busy = append(a.busy, j)
	a.mu.Unlock()
	a.jobs <- j // never blocks: at most maxBusy jobs are in the channel
	return nil
}

// overlaps reports whether j touches bytes of a write in flight. Caller holds a.mu.
func (a *applier) overlaps(j *applyJob) bool {
	for _, b := range a.busy {
		if b.dw == j.dw && b.off < j.off+j.n && j.off < b.off+b.n {
			return true
		}
	}
	return false
}

func (a *applier) work() {
	defer a.wg.Done()
	for j := range a.jobs {
		a.mu.Lock()
		failed := a.err != nil
		a.mu.Unlock()
		var err error
		if !failed {
			if j.data != nil {
				if _, err = j.dw.WriteOwnedAt(j.data, j.off); err == nil && a.progress != nil {
					a.progress(j.n)
				}
			} else {
				err = j.dw.ZeroRange(j.off, j.n)
			}
		}
		a.mu.Lock()
		for i, b := range a.busy {
			if b == j {
				a.busy = append(a.busy[:i], a.busy[i+1:]...)
				break
			}
		}
		if err != nil && a.err == nil {
			a.err = fmt.Errorf("disk %s: %w", j.disk, err)
		}
		a.cond.Broadcast()
		a.mu.Unlock()
		a.release(j)
	}
}

func (a *applier) release(j *applyJob) {
	if j.buf != nil {
		*j.buf = (*j.buf)[:0]
		a.bufs.Put(j.buf)
	}
}

// wait ends the applier once every queued write is done and returns the first error. It may be
// called more than once.
func (a *applier) wait() error {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.jobs)
	}
	a.mu.Unlock()
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}
