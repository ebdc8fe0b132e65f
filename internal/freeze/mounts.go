package freeze

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// Mount is a mounted filesystem that lives on a protected disk.
type Mount struct {
	Disk   string // the protected disk's name
	Dev    uint64 // device number of the filesystem's block device
	Point  string // mount point
	FSType string
}

// MountInfo is one line of /proc/self/mountinfo that matters here.
type MountInfo struct {
	Dev    uint64
	Point  string
	FSType string
}

// ParseMountInfo parses the content of /proc/self/mountinfo.
func ParseMountInfo(content string) ([]MountInfo, error) {
	var out []MountInfo
	sc := bufio.NewScanner(strings.NewReader(content))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			return nil, fmt.Errorf("mountinfo line %d: %d fields", n, len(f))
		}
		dev, ok := parseDev(f[2])
		if !ok {
			return nil, fmt.Errorf("mountinfo line %d: bad device %q", n, f[2])
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(f) {
			return nil, fmt.Errorf("mountinfo line %d: no separator", n)
		}
		out = append(out, MountInfo{Dev: dev, Point: unescape(f[4]), FSType: f[sep+1]})
	}
	return out, sc.Err()
}

// unescape decodes the octal escapes (\040 for a space) of mountinfo paths.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
