package freeze

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Devices returns the device numbers that belong to a protected disk at path: a block device and
// its partitions, or, for an image file, every loop device backed by it and their partitions.
func Devices(path string) ([]uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	var roots []uint64
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		roots = append(roots, st.Rdev)
	case unix.S_IFREG:
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		roots = loopsBackedBy(abs, st.Dev, st.Ino)
	default:
		return nil, fmt.Errorf("%s is neither a block device nor a regular file", path)
	}
	var out []uint64
	for _, r := range roots {
		out = append(out, r)
		out = append(out, partitions(r)...)
	}
	return out, nil
}

// loopsBackedBy lists the loop devices whose backing file is the given file.
func loopsBackedBy(path string, dev, ino uint64) []uint64 {
	var out []uint64
	ents, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, e := range ents {
		b, err := os.ReadFile(e)
		if err != nil {
			continue
		}
		backing := strings.TrimSpace(string(b))
		var st unix.Stat_t
		same := backing == path
		if !same && unix.Stat(backing, &st) == nil {
			same = st.Dev == dev && st.Ino == ino
		}
		if !same {
			continue
		}
		if d, ok := readDev(filepath.Join(filepath.Dir(filepath.Dir(e)), "dev")); ok {
			out = append(out, d)
		}
	}
	return out
}

// partitions lists the partitions of the block device dev.
func partitions(dev uint64) []uint64 {
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(dev), unix.Minor(dev))
	ents, _ := os.ReadDir(sys)
	var out []uint64
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(sys, e.Name(), "partition")); err != nil {
			continue
		}
		if d, ok := readDev(filepath.Join(sys, e.Name(), "dev")); ok {
			out = append(out, d)
		}
	}
	return out
}

func readDev(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	return parseDev(strings.TrimSpace(string(b)))
}

func parseDev(s string) (uint64, bool) {
	maj, min, ok := strings.Cut(s, ":")
	if !ok {
		return 0, false
	}
	a, err1 := strconv.ParseUint(maj, 10, 32)
	b, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return unix.Mkdev(uint32(a), uint32(b)), true
}

// Find returns the filesystems mounted on the protected disks (name → path), one mount point per
// filesystem (bind mounts of the same filesystem are frozen once).
func Find(disks map[string]string) ([]Mount, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	infos, err := ParseMountInfo(string(b))
	if err != nil {
		return nil, err
	}
	owner := map[uint64]string{}
	for name, path := range disks {
		devs, err := Devices(path)
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", name, err)
		}
		for _, d := range devs {
			owner[d] = name
		}
	}
	var out []Mount
	seen := map[uint64]bool{}
	for _, mi := range infos {
		name, ok := owner[mi.Dev]
		if !ok || seen[mi.Dev] {
			continue
		}
		seen[mi.Dev] = true
		out = append(out, Mount{Disk: name, Dev: mi.Dev, Point: mi.Point, FSType: mi.FSType})
	}
	return out, nil
}
