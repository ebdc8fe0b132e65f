package processserver

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The spool's file holds exactly what was appended, whatever the sizes of the appends and the
// syncs in between; readers see only written data, in whole chunks until the end.
func TestSpoolAppendsInOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []int
		sync  int // Sync after every sync-th append (0: never)
	}{
		{"small frames", []int{13, 4096 + 28, 100, 1}, 3},
		{"frames across chunks", []int{spoolChunk - 5, 10, 3 * spoolChunk, 7}, 1},
		{"exact chunks", []int{spoolChunk, spoolChunk, spoolChunk}, 0},
		{"empty", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "1.part")
			sp, err := createSpool(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			r := rand.New(rand.NewPCG(uint64(len(tc.sizes)), 9))
			var want []byte
			for i, n := range tc.sizes {
				b := make([]byte, n)
				for k := range b {
					b[k] = byte(r.IntN(256))
				}
				if _, err := sp.Append(b); err != nil {
					t.Fatal(err)
				}
				want = append(want, b...)
				if tc.sync > 0 && (i+1)%tc.sync == 0 {
					if err := sp.Sync(); err != nil {
						t.Fatal(err)
					}
				}
				full := int64(len(want)) / spoolChunk * spoolChunk
				if full > 0 {
					got, done, _ := sp.waitReadable(full - 1)
					if done || got < full || got > int64(len(want)) {
						t.Fatalf("after %d bytes: readable %d, done %v", len(want), got, done)
					}
				}
			}
			if err := sp.Finish(); err != nil {
				t.Fatal(err)
			}
			if got, done, err := sp.waitReadable(int64(len(want))); !done || err != nil || got != int64(len(want)) {
				t.Fatalf("finished: readable %d of %d, done %v, %v", got, len(want), done, err)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("file has %d bytes, want %d, or other content", len(got), len(want))
			}
		})
	}
}

// A write that fails is reported by the next Append or by Finish, with the file named; nothing
// after it becomes readable.
func TestSpoolWriteError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "2.part")
	sp, err := createSpool(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	sp.f.Close() // every write fails from now on
	chunk := make([]byte, spoolChunk)
	var got error
	for i := 0; i < 8 && got == nil; i++ {
		_, got = sp.Append(chunk)
	}
	if got == nil {
		got = sp.Finish()
	}
	want := "write cache file " + p + ": "
	if got == nil || !strings.HasPrefix(got.Error(), want) || !strings.Contains(got.Error(), "file already closed") {
		t.Fatalf("got %v, want %q… file already closed", got, want)
	}
	if r, _, _ := sp.readableNow(); r != 0 {
		t.Fatalf("readable %d after failed writes", r)
	}
	close(sp.ops)
	sp.writer.Wait()
}

// readableNow returns the readable size without waiting.
func (s *spool) readableNow() (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readable, s.done, s.failed
}
