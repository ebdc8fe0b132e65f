package directio

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"testing"
)

func TestCopy(t *testing.T) {
	for _, dir := range []string{t.TempDir(), "/dev/shm"} {
		for _, size := range []int64{0, 1, Align - 1, Align, 3*Align + 17, 5 << 20} {
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(rand.Uint32())
			}
			f, err := os.CreateTemp(dir, "directio")
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			defer os.Remove(f.Name())
			err = Copy(context.Background(), f.Name(), bytes.NewReader(data), size, 1<<20)
			if errors.Is(err, ErrUnsupported) { // older tmpfs: nothing may have been written
				if fi, _ := os.Stat(f.Name()); fi.Size() != 0 {
					t.Fatalf("%s: unsupported, but %d bytes written", dir, fi.Size())
				}
				continue
			}
			if err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
			got, _ := os.ReadFile(f.Name())
			if !bytes.Equal(got, data) {
				t.Fatalf("size %d: content differs (%d bytes read)", size, len(got))
			}
		}
	}
	if b := AlignedBuffer(10); !Aligned(b) || len(b) != 10 {
		t.Fatal("AlignedBuffer")
	}
}
