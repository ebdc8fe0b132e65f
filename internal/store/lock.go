package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opensiterecovery/osr/internal/crypto"
	"github.com/opensiterecovery/osr/internal/storage"
)

// Lock kinds. Writers and readers share the store; a prune excludes other prunes only, and defers
// deleting anything that a writer or reader older than its decision may still use.
const (
	LockWrite = "write"
	LockRead  = "read"
	LockPrune = "prune"
)

const lockAD = "osr lock v1"

// LockInfo is the content of a lock object.
type LockInfo struct {
	Name      string    `json:"-"`
	Kind      string    `json:"kind"`
	Hostname  string    `json:"hostname"`
	PID       int       `json:"pid"`
	Created   time.Time `json:"created"`
	Refreshed time.Time `json:"refreshed"`
}

// Lock is a held lock; it refreshes itself until released.
type Lock struct {
	r    *Repo
	info LockInfo
	name string
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Lock takes a lock of the given kind. A prune lock is refused while another live prune lock
// exists.
func (r *Repo) Lock(ctx context.Context, kind string) (*Lock, error) {
	now := r.opts.Clock.Now().UTC()
	l := &Lock{r: r, name: locksPrefix + crypto.RandomID().String(), stop: make(chan struct{}), done: make(chan struct{}),
		info: LockInfo{Kind: kind, Hostname: r.opts.Hostname, PID: os.Getpid(), Created: now, Refreshed: now}}
	if err := r.writeLock(ctx, l.name, &l.info); err != nil {
		return nil, err
	}
	if kind == LockPrune {
		locks, err := r.Locks(ctx)
		if err != nil {
			_ = r.be.Delete(context.WithoutCancel(ctx), l.name)
			return nil, err
		}
		for _, o := range locks {
			if o.Kind == LockPrune && o.Name != l.name && !r.stale(o) {
				_ = r.be.Delete(context.WithoutCancel(ctx), l.name)
				return nil, fmt.Errorf("the store is being pruned by %s (pid %d) since %s", o.Hostname, o.PID, o.Created.Format(time.RFC3339))
			}
		}
	}
	go l.refresh()
	return l, nil
}

func (r *Repo) writeLock(ctx context.Context, name string, li *LockInfo) error {
	b, _ := json.Marshal(li)
	if err := putBytes(ctx, r.be, name, r.keys.Seal(nil, b, []byte(lockAD))); err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	return nil
}

func (l *Lock) refresh() {
	defer close(l.done)
	t := time.NewTicker(l.r.opts.LockStale / 6)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.info.Refreshed = l.r.opts.Clock.Now().UTC()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := l.r.writeLock(ctx, l.name, &l.info); err != nil {
				l.r.opts.Logger.Warn("lock refresh failed", "lock", l.name, "err", err)
			}
			cancel()
		}
	}
}

// Release removes the lock.
func (l *Lock) Release() {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := l.r.be.Delete(ctx, l.name); err != nil && !storage.IsNotFound(err) {
			l.r.opts.Logger.Warn("lock release failed", "lock", l.name, "err", err)
		}
	})
}

// Locks lists the store's locks. Locks that cannot be read are reported as stale write locks with
// zero times, so they block nothing forever: they are stale at once.
func (r *Repo) Locks(ctx context.Context) ([]LockInfo, error) {
	var names []string
	if err := r.be.List(ctx, locksPrefix, func(fi storage.Info) error {
		names = append(names, fi.Name)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	var out []LockInfo
	for _, name := range names {
		b, err := storage.ReadAll(ctx, r.be, name)
		if storage.IsNotFound(err) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read lock %s: %w", name, err)
		}
		var li LockInfo
		plain, err := r.keys.Open(nil, b, []byte(lockAD))
		if err == nil {
			li, err = decodeLockInfo(plain)
		}
		if err != nil {
			r.opts.Logger.Warn("unreadable lock", "lock", name, "err", err)
			li = LockInfo{Kind: LockWrite}
		}
		li.Name = name
		out = append(out, li)
	}
	return out, nil
}

// stale reports whether a lock's holder is gone: it has not refreshed the lock in time, or it ran
// on this host and its process no longer exists (killed or crashed).
func (r *Repo) stale(li LockInfo) bool {
	if r.opts.Clock.Now().Sub(li.Refreshed) > r.opts.LockStale {
		return true
	}
	return li.Hostname == r.opts.Hostname && li.PID > 0 && li.PID != os.Getpid() && !processAlive(li.PID)
}

// processAlive reports whether a process with this PID exists on this host. A reused PID reads as
// alive, which only delays a prune.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM)
}

// RemoveStaleLocks deletes locks not refreshed within the stale time and returns how many.
func (r *Repo) RemoveStaleLocks(ctx context.Context) (int, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, li := range locks {
		if r.stale(li) && strings.HasPrefix(li.Name, locksPrefix) {
			if err := r.be.Delete(ctx, li.Name); err != nil && !storage.IsNotFound(err) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// decodeLockInfo decodes a lock's plaintext.
func decodeLockInfo(plain []byte) (LockInfo, error) {
	var li LockInfo
	if err := json.Unmarshal(plain, &li); err != nil {
		return LockInfo{}, corruptf("lock: %v", err)
	}
	switch li.Kind {
	case LockWrite, LockRead, LockPrune:
	default:
		return LockInfo{}, corruptf("lock: unknown kind %q", li.Kind)
	}
	return li, nil
}
