package mobility

import (
	"bytes"
	"testing"

	"github.com/opensiterecovery/osr/internal/mobility/tracker"
)

// The spool keeps blocks in memory up to its bound, spills the rest to its file, and refuses when
// it may not spill.
func TestSpool(t *testing.T) {
	blk := func(c byte, n int) ([]byte, []tracker.Fingerprint) {
		d := bytes.Repeat([]byte{c}, n*4096)
		fps := make([]tracker.Fingerprint, n)
		for i := range fps {
			fps[i] = tracker.FingerprintOf(d[i*4096 : (i+1)*4096])
		}
		return d, fps
	}
	sp, err := newSpool(8192, t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	for i, c := range []byte{1, 2, 3} {
		d, fps := blk(c, 1+i%2)
		if err := sp.addBlocks("sda", int64(10*i), d, fps); err != nil {
			t.Fatal(err)
		}
	}
	sp.addZero("sda", 100, 5)
	if sp.memLen != 8192 || sp.fileLen != 8192 || len(sp.entries) != 4 || !sp.entries[1].inFile || sp.entries[2].inFile {
		t.Fatalf("spool: mem %d file %d entries %+v", sp.memLen, sp.fileLen, sp.entries)
	}
	d, _ := blk(2, 2)
	got := make([]byte, 8192)
	sp.f.ReadAt(got, sp.entries[1].off)
	if !bytes.Equal(got, d) {
		t.Fatal("spilled block differs")
	}
	no, _ := newSpool(4096, t.TempDir(), false)
	d, fps := blk(9, 2)
	if err := no.addBlocks("sda", 0, d, fps); err != errSpoolFull {
		t.Fatalf("spool without a file: %v", err)
	}
}
