package bootdisk

import (
	"compress/gzip"
	"fmt"
	"io"
)

// cpioEntry is one member of an initramfs: a directory, a regular file, a symlink or a character
// device.
type cpioEntry struct {
	name         string
	mode         uint32 // type and permission bits (S_IFDIR|0755, ...)
	data         []byte // file contents, or the link target
	major, minor uint32 // for devices
}

const (
	sIFDIR = 0o040000
	sIFREG = 0o100000
	sIFLNK = 0o120000
	sIFCHR = 0o020000
)

// writeInitramfs writes entries as a gzip-compressed cpio archive in the "newc" format the Linux
// kernel unpacks into its initial root file system.
func writeInitramfs(w io.Writer, entries []cpioEntry) error {
	zw := gzip.NewWriter(w)
	ino := uint32(1)
	pad := func(n int) error {
		if r := n % 4; r != 0 {
			_, err := zw.Write(make([]byte, 4-r))
			return err
		}
		return nil
	}
	put := func(e cpioEntry) error {
		nlink := 1
		if e.mode&0o170000 == sIFDIR {
			nlink = 2
		}
		hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
			ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, e.major, e.minor, len(e.name)+1, 0)
		ino++
		if _, err := io.WriteString(zw, hdr+e.name+"\x00"); err != nil {
			return err
		}
		if err := pad(len(hdr) + len(e.name) + 1); err != nil {
			return err
		}
		if _, err := zw.Write(e.data); err != nil {
			return err
		}
		return pad(len(e.data))
	}
	for _, e := range entries {
		if err := put(e); err != nil {
			return fmt.Errorf("write initramfs: %w", err)
		}
	}
	if err := put(cpioEntry{name: "TRAILER!!!"}); err != nil {
		return fmt.Errorf("write initramfs: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write initramfs: %w", err)
	}
	return nil
}
