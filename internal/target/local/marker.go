package local

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// marker records that one disk file of a run is complete (docs/formats/machine-definition.md,
// "Done markers"). Create skips a disk whose marker matches what it would write.
type marker struct {
	Version      int    `json:"version"` // 1
	Disk         string `json:"disk"`
	Format       string `json:"format"`
	PointID      string `json:"point_id"`
	SizeBytes    int64  `json:"size_bytes"`
	FileSize     int64  `json:"file_size"`
	BytesWritten int64  `json:"bytes_written"`
	BytesSkipped int64  `json:"bytes_skipped"`
}

const maxMarker = 4096

func (m marker) encode() []byte {
	b, _ := json.Marshal(m)
	return append(b, '\n')
}

// parseMarker decodes a done marker strictly.
func parseMarker(b []byte) (marker, error) {
	if len(b) > maxMarker {
		return marker{}, fmt.Errorf("done marker: %d bytes, at most %d", len(b), maxMarker)
	}
	var m marker
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return marker{}, fmt.Errorf("done marker: %w", err)
	}
	if dec.More() {
		return marker{}, fmt.Errorf("done marker: data after the JSON object")
	}
	if m.Version != 1 {
		return marker{}, fmt.Errorf("done marker: version %d is not supported (1)", m.Version)
	}
	if m.Disk == "" || !validFormat(m.Format) {
		return marker{}, fmt.Errorf("done marker: disk %q, format %q", m.Disk, m.Format)
	}
	if m.SizeBytes <= 0 || m.FileSize <= 0 || m.BytesWritten < 0 || m.BytesSkipped < 0 ||
		m.BytesWritten+m.BytesSkipped != m.SizeBytes || (m.Format != FormatQcow2 && m.FileSize < m.SizeBytes) {
		return marker{}, fmt.Errorf("done marker: sizes do not add up (size %d, file %d, written %d, skipped %d)", m.SizeBytes, m.FileSize, m.BytesWritten, m.BytesSkipped)
	}
	return m, nil
}
