package vhd

import (
	"fmt"
	"io"
)

// ReadFixed reads and checks the footer at the end of a fixed VHD of fileSize bytes: the footer
// must parse and its current size must account for every byte before it.
func ReadFixed(r io.ReaderAt, fileSize int64) (Footer, error) {
	if fileSize < FooterSize+SectorSize {
		return Footer{}, fmt.Errorf("vhd: file of %d bytes is too small for a fixed vhd", fileSize)
	}
	b := make([]byte, FooterSize)
	if _, err := r.ReadAt(b, fileSize-FooterSize); err != nil {
		return Footer{}, fmt.Errorf("vhd: read footer: %w", err)
	}
	f, err := ParseFooter(b)
	if err != nil {
		return Footer{}, err
	}
	if int64(f.CurrentSize) != fileSize-FooterSize {
		return Footer{}, fmt.Errorf("vhd: footer size %d, but the file holds %d bytes of data", f.CurrentSize, fileSize-FooterSize)
	}
	return f, nil
}
