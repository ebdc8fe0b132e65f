package ebpf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// meta is what the stopped agent left beside its pins: which program, which layout, and the
// drops + misses at the stop. It is JSON, zero-padded, in the one value of the "meta" array map.
type meta struct {
	Program string       `json:"program"` // sha256 of the BPF object
	Layout  []layoutDisk `json:"layout"`
	Words   int64        `json:"words"`
	Lost    uint64       `json:"lost"`
}

type layoutDisk struct {
	Name       string `json:"name"`
	Dev        uint32 `json:"dev"`
	Start      int64  `json:"start"`
	Blocks     int64  `json:"blocks"`
	SummaryOff int64  `json:"summary_off"`
	WordsOff   int64  `json:"words_off"`
	WholeBlock int64  `json:"whole_blocks"`
}

// metaSize is the size of the meta map's one value.
const metaSize = 4096

// decodeMeta reads the meta map's value: JSON, zero-padded to metaSize (docs/formats/ebpf-pins.md).
func decodeMeta(b []byte) (meta, error) {
	var m meta
	if len(b) != metaSize {
		return m, fmt.Errorf("ebpf tracker: pinned meta of %d bytes, want %d", len(b), metaSize)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		if len(bytes.Trim(b[i:], "\x00")) != 0 {
			return m, errors.New("ebpf tracker: pinned meta has bytes after its padding")
		}
		b = b[:i]
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return meta{}, fmt.Errorf("ebpf tracker: pinned meta: %w", err)
	}
	if len(m.Program) != 64 || m.Words < 1 || len(m.Layout) == 0 {
		return meta{}, errors.New("ebpf tracker: pinned meta without a program hash, words or disks")
	}
	return m, nil
}
