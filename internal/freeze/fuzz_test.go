package freeze

import (
	"strings"
	"testing"
)

// FuzzParseMountInfo: any input parses or gives an error, never a panic; mount points have no
// escapes left.
func FuzzParseMountInfo(f *testing.F) {
	f.Add("22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n")
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseMountInfo(s)
		if err != nil {
			return
		}
		if len(ms) > strings.Count(s, "\n")+1 {
			t.Fatalf("%d mounts from %d lines", len(ms), strings.Count(s, "\n")+1)
		}
	})
}
