package source

import (
	"fmt"
	"runtime/debug"
)

// writeChunk hands p to t; a fault on the mapping (the file shrank under us) becomes an error
// instead of a crash.
func writeChunk(t Target, p []byte, off int64) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = fmt.Errorf("reading the disk at %d failed (did it shrink while being read?): %v", off, r)
		}
	}()
	_, err = t.WriteAt(p, off)
	return err
}
