package source

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// memTarget records what CopyTo writes.
type memTarget struct {
	mu    sync.Mutex
	img   []byte
	zeros int64
}

func (m *memTarget) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	copy(m.img[off:], p)
	return len(p), nil
}

func (m *memTarget) ZeroRange(off, n int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.img[off : off+n])
	m.zeros += n
	return nil
}

// sparseFile writes data at a few places of a file with holes and returns its content.
func sparseFile(t *testing.T, size int64) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, at := range []int64{0, 3 << 20, 5<<20 + 4096, size - 5000} {
		n := int64(70000)
		if at+n > size {
			n = size - at
		}
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(rng.Uint32() | 1)
		}
		copy(want[at:], buf)
		if _, err := f.WriteAt(buf, at); err != nil {
			t.Fatal(err)
		}
	}
	return path, want
}

func TestCopyToAndRanges(t *testing.T) {
	const size = 9<<20 + 333
	path, want := sparseFile(t, size)
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Size() != size {
		t.Fatalf("size %d, want %d", d.Size(), size)
	}
	var data, holes, next int64
	if err := d.Ranges(func(off, n int64, isData bool) error {
		if off != next {
			t.Fatalf("range at %d, want %d", off, next)
		}
		next = off + n
		if isData {
			data += n
		} else {
			holes += n
			if !bytes.Equal(want[off:off+n], make([]byte, n)) {
				t.Fatalf("hole at %d+%d holds data", off, n)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if next != size || holes == 0 || data == 0 {
		t.Fatalf("ranges cover %d of %d, %d data, %d holes", next, size, data, holes)
	}
	for _, skip := range []bool{false, true} {
		tgt := &memTarget{img: bytes.Repeat([]byte{0xee}, size)}
		if skip {
			clear(tgt.img) // a target that starts empty
		}
		var done int64
		var mu sync.Mutex
		err := CopyTo(context.Background(), d, tgt, CopyOptions{SkipHoles: skip, Progress: func(n int64) { mu.Lock(); done += n; mu.Unlock() }})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tgt.img, want) {
			t.Fatalf("skipHoles=%v: copy differs", skip)
		}
		if done != size {
			t.Fatalf("progress %d, want %d", done, size)
		}
		if skip != (tgt.zeros == 0) {
			t.Fatalf("skipHoles=%v but %d bytes zeroed", skip, tgt.zeros)
		}
	}
}

// A file that shrinks while it is read gives an error, not a crash.
func TestShrinkWhileReading(t *testing.T) {
	path, _ := sparseFile(t, 8<<20)
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tgt := &shrinkTarget{path: path}
	err = CopyTo(context.Background(), d, tgt, CopyOptions{Workers: 1})
	if err == nil || !strings.Contains(err.Error(), "reading the disk at 0 failed (did it shrink while being read?)") {
		t.Fatalf("copy of a file that shrank: %v", err)
	}
}

type shrinkTarget struct {
	once sync.Once
	path string
	sum  byte
}

func (s *shrinkTarget) WriteAt(p []byte, off int64) (int, error) {
	s.once.Do(func() { _ = os.Truncate(s.path, 0) })
	for _, b := range p { // touches the mapping beyond the end of the file
		s.sum += b
	}
	return len(p), nil
}

func (s *shrinkTarget) ZeroRange(off, n int64) error { return nil }
