package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/opensiterecovery/osr/internal/storage"
)

func TestCheckName(t *testing.T) {
	for _, name := range []string{"config", "keys/abc", "data/ab/abcdef", "a.b/c-d_e", ".hidden/x"} {
		if err := storage.CheckName(name); err != nil {
			t.Errorf("CheckName(%q): %v", name, err)
		}
	}
	for _, name := range []string{"", "/abs", "a/", "a//b", ".", "..", "../x", "a/../b", "a/./b", `a\b`, "a\x00b"} {
		if err := storage.CheckName(name); err == nil || !storage.IsPermanent(err) || storage.IsNotFound(err) {
			t.Errorf("CheckName(%q): %v, want a permanent error", name, err)
		}
	}
}

func TestCheckRange(t *testing.T) {
	for _, tc := range []struct {
		offset, length, size, want int64
		ok                         bool
	}{
		{0, 0, 10, 10, true},
		{3, 0, 10, 7, true},
		{3, 7, 10, 7, true},
		{10, 0, 10, 0, true},
		{0, 0, 0, 0, true},
		{3, 8, 10, 0, false},
		{11, 0, 10, 0, false},
		{10, 1, 10, 0, false},
		{-1, 0, 10, 0, false},
		{0, -1, 10, 0, false},
		{1, 1<<63 - 1, 10, 0, false}, // no overflow
	} {
		got, err := storage.CheckRange(tc.offset, tc.length, tc.size)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("CheckRange(%d, %d, %d) = %d, %v; want %d", tc.offset, tc.length, tc.size, got, err, tc.want)
		}
		if !tc.ok && (err == nil || !storage.IsPermanent(err)) {
			t.Errorf("CheckRange(%d, %d, %d) = %d, %v; want a permanent error", tc.offset, tc.length, tc.size, got, err)
		}
	}
}

func TestClassification(t *testing.T) {
	transient := errors.New("connection reset")
	for _, tc := range []struct {
		err                 error
		permanent, notFound bool
	}{
		{nil, false, false},
		{transient, false, false},
		{fmt.Errorf("put: %w", transient), false, false},
		{storage.Permanent(transient), true, false},
		{fmt.Errorf("put: %w", storage.Permanent(transient)), true, false},
		{fmt.Errorf("load x: %w", storage.ErrNotFound), true, true},
		{fmt.Errorf("load: %w", context.Canceled), true, false},
		{context.DeadlineExceeded, true, false},
	} {
		if got := storage.IsPermanent(tc.err); got != tc.permanent {
			t.Errorf("IsPermanent(%v) = %v", tc.err, got)
		}
		if got := storage.IsNotFound(tc.err); got != tc.notFound {
			t.Errorf("IsNotFound(%v) = %v", tc.err, got)
		}
	}
	if storage.Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	p := storage.Permanent(transient)
	if storage.Permanent(p) != p || !errors.Is(p, transient) || p.Error() != transient.Error() {
		t.Error("Permanent does not wrap once and transparently")
	}
}
