package storagetest

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/storage"
)

// RandomName returns prefix followed by 12 random hex digits, for containers, buckets and
// prefixes that tests share a server with.
func RandomName(prefix string) string {
	var b [6]byte
	_, _ = crand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Cleanup deletes every object of be when the test ends.
func Cleanup(t *testing.T, be storage.Backend) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var names []string
		if err := be.List(ctx, "", func(fi storage.Info) error { names = append(names, fi.Name); return nil }); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, n := range names {
			if err := be.Delete(ctx, n); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
}
