//go:build unix

package processserver

import "syscall"

// mapRegion maps n bytes of anonymous memory (page aligned, so aligned for direct I/O), or returns
// nil.
func mapRegion(n int) []byte {
	if n <= 0 {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	return b
}
