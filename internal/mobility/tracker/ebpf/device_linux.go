package ebpf

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// device is a protected path resolved to the whole disk the kernel reports its bios on.
type device struct {
	path       string
	dev        uint32 // whole disk, kernel encoding (major<<20 | minor)
	wholeName  string // e.g. loop3
	wholeBytes int64  // size of the whole disk
	start      int64  // first sector of the partition on the whole disk (0 for a whole disk)
}

// kdev encodes a device number as the kernel does internally (MKDEV), which is what bd_dev holds.
func kdev(major, minor uint32) uint32 { return major<<20 | minor }

// resolve finds the whole disk of a block device path through sysfs (sysfs is normally
// /sys; tests pass the same).
func resolve(sysfs, path string) (device, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return device{}, fmt.Errorf("%s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return device{}, fmt.Errorf("%s is not a block device (the ebpf tracker follows block devices; image files need the scan tracker)", path)
	}
	maj, mnr := unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev))
	dir := filepath.Join(sysfs, "dev", "block", fmt.Sprintf("%d:%d", maj, mnr))
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return device{}, fmt.Errorf("%s: sysfs entry of %d:%d: %w", path, maj, mnr, err)
	}
	d := device{path: path}
	whole := real
	if _, err := os.Stat(filepath.Join(real, "partition")); err == nil {
		if d.start, err = readInt(filepath.Join(real, "start")); err != nil {
			return device{}, fmt.Errorf("%s: partition start: %w", path, err)
		}
		whole = filepath.Dir(real)
	}
	if _, err := os.Stat(filepath.Join(whole, "mq")); err != nil {
		return device{}, fmt.Errorf("%s: %s is not a blk-mq disk (device-mapper, md and other stacked devices are not seen by block_bio_queue; use the scan tracker)", path, filepath.Base(whole))
	}
	devs, err := os.ReadFile(filepath.Join(whole, "dev"))
	if err != nil {
		return device{}, fmt.Errorf("%s: %w", path, err)
	}
	wmaj, wmin, ok := strings.Cut(strings.TrimSpace(string(devs)), ":")
	ma, err1 := strconv.ParseUint(wmaj, 10, 32)
	mi, err2 := strconv.ParseUint(wmin, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return device{}, fmt.Errorf("%s: bad device number %q in sysfs", path, devs)
	}
	sectors, err := readInt(filepath.Join(whole, "size"))
	if err != nil {
		return device{}, fmt.Errorf("%s: disk size: %w", path, err)
	}
	d.dev, d.wholeName, d.wholeBytes = kdev(uint32(ma), uint32(mi)), filepath.Base(whole), sectors*512
	return d, nil
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// CheckPaths reports why the ebpf tracker cannot follow these disks, or nil if it can.
func CheckPaths(paths []string) error {
	for _, p := range paths {
		if _, err := resolve("/sys", p); err != nil {
			return err
		}
	}
	return nil
}
