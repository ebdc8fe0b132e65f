//go:build linux

package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// settle bounds how long DetachLoop and Unmount wait for the kernel (and udev's probes) to let go.
const settle = 15 * time.Second

// DetachLoop detaches loop device dev and waits until the kernel has released its backing file:
// losetup -d only marks a device that something still holds (a process, a udev probe, a mount
// namespace that kept a copy of its mount), and the file system holding the backing file stays
// busy until the release.
func DetachLoop(dev string) error {
	out, err := exec.Command("losetup", "-d", dev).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "No such device") {
		return fmt.Errorf("losetup -d %s: %v: %s", dev, err, out)
	}
	backing := filepath.Join("/sys/block", filepath.Base(dev), "loop", "backing_file")
	deadline := time.Now().Add(settle)
	for {
		if _, err := os.Stat(backing); os.IsNotExist(err) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("loop device %s still holds its backing file %v after losetup -d; %s", dev, settle, holdersOf(dev))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Unmount unmounts mnt. A busy mount is retried until settle has passed, detaching (losetup -d) on
// each try the loop devices whose backing files lie under mnt; the final error names what still
// holds it.
func Unmount(mnt string) error {
	deadline := time.Now().Add(settle)
	for {
		out, err := exec.Command("umount", mnt).CombinedOutput()
		if err == nil {
			return nil
		}
		if !strings.Contains(string(out), "busy") || time.Now().After(deadline) {
			return fmt.Errorf("umount %s: %v: %s\n%s", mnt, err, strings.TrimSpace(string(out)), holders(mnt))
		}
		for _, dev := range loopsUnder(mnt) {
			_ = exec.Command("losetup", "-d", dev).Run() // the next try sees whether it let go
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loopsUnder lists the loop devices whose backing file lies under dir.
func loopsUnder(dir string) []string {
	paths, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var devs []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if under(strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)"), dir) {
			devs = append(devs, "/dev/"+filepath.Base(filepath.Dir(filepath.Dir(p))))
		}
	}
	return devs
}

// holders says what keeps dir busy: loop devices backed by files under it, and processes whose
// working directory, root or open files lie under it.
func holders(dir string) string {
	var lines []string
	for _, dev := range loopsUnder(dir) {
		b, _ := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "loop", "backing_file"))
		lines = append(lines, fmt.Sprintf("loop device %s backed by %s", dev, strings.TrimSpace(string(b))))
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		var held []string
		for _, link := range []string{"cwd", "root"} {
			if t, err := os.Readlink(filepath.Join(p, link)); err == nil && under(t, dir) {
				held = append(held, link+" "+t)
			}
		}
		held = append(held, openFiles(p, func(t string) bool { return under(t, dir) })...)
		if len(held) > 0 {
			lines = append(lines, fmt.Sprintf("process %s (%s): %s", filepath.Base(p), cmdline(p), strings.Join(held, ", ")))
		}
	}
	if len(lines) == 0 {
		return "no loop device or process found holding " + dir
	}
	return "held by:\n  " + strings.Join(lines, "\n  ")
}

// holdersOf names what holds dev: the mount namespaces (one process of each) where it is still
// mounted, since a mount namespace copied while dev was mounted keeps it after the umount in this
// one, and the processes that have it open.
func holdersOf(dev string) string {
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "dev"))
	if err != nil {
		return "its number is unknown: " + err.Error()
	}
	num := " " + strings.TrimSpace(string(b)) + " "
	seen := map[string]bool{}
	var lines []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		ns, err := os.Readlink(filepath.Join(p, "ns", "mnt"))
		if err != nil || seen[ns] {
			continue
		}
		info, err := os.ReadFile(filepath.Join(p, "mountinfo"))
		if err != nil || !strings.Contains(string(info), num) {
			continue
		}
		seen[ns] = true
		lines = append(lines, fmt.Sprintf("mounted in %s of process %s (%s)", ns, filepath.Base(p), cmdline(p)))
	}
	for _, p := range procs {
		if fds := openFiles(p, func(t string) bool { return t == dev }); len(fds) > 0 {
			lines = append(lines, fmt.Sprintf("open by process %s (%s): %s", filepath.Base(p), cmdline(p), strings.Join(fds, ", ")))
		}
	}
	if len(lines) == 0 {
		return "no mount and no process holds it"
	}
	return strings.Join(lines, "; ")
}

// openFiles lists, as "fd N PATH", the open files of process directory p (/proc/PID) whose
// paths match.
func openFiles(p string, match func(path string) bool) []string {
	var held []string
	fds, _ := filepath.Glob(filepath.Join(p, "fd", "*"))
	for _, fd := range fds {
		if t, err := os.Readlink(fd); err == nil && match(t) {
			held = append(held, "fd "+filepath.Base(fd)+" "+t)
		}
	}
	return held
}

// cmdline is the command line of process directory p (/proc/PID), arguments separated by spaces.
func cmdline(p string) string {
	b, _ := os.ReadFile(filepath.Join(p, "cmdline"))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

func under(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }
