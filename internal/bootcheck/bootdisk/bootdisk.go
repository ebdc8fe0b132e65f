// Package bootdisk builds a small bootable disk image from Debian packages, for boot-check tests
// and drills: an MBR (syslinux's mbr.bin) with one active ext4 partition holding extlinux, a
// distribution kernel (linux-image-amd64) and an initramfs of busybox-static whose /init prints a
// marker on the serial console and powers off. Nothing is downloaded. Building needs root (a loop
// device and a mount). docs/boot-check.md describes the layout.
package bootdisk

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DefaultMarker is what the test disk's /init prints.
const DefaultMarker = "OSR-BOOT-OK"

// Options say what to build. Zero values take the defaults.
type Options struct {
	// Marker is printed on its own line by /init (default DefaultMarker).
	Marker string
	// SizeMB is the image's size in MiB (default 32).
	SizeMB int
	// Kernel is the kernel image (default: the newest /boot/vmlinuz-*).
	Kernel string
	// Busybox is a statically linked busybox (default /bin/busybox from busybox-static).
	Busybox string
	// MBR is syslinux's boot code (default /usr/lib/syslinux/mbr/mbr.bin).
	MBR string
	// Extlinux is the extlinux installer (default: found in PATH).
	Extlinux string
	// Init replaces /init (a busybox sh script); the default prints Marker and powers off. An
	// init that exits makes the kernel panic, and qemu with -no-reboot exit.
	Init string
}

// InstallCommand installs every package Build needs.
const InstallCommand = "apt-get install qemu-system-x86 syslinux syslinux-common extlinux busybox-static linux-image-amd64 e2fsprogs mount"

func (o *Options) fill() error {
	if o.Marker == "" {
		o.Marker = DefaultMarker
	}
	if strings.ContainsAny(o.Marker, "\n\r'\\") {
		return fmt.Errorf("marker %q may not hold newlines, quotes or backslashes", o.Marker)
	}
	if o.SizeMB == 0 {
		o.SizeMB = 32
	}
	if o.SizeMB < 16 {
		return fmt.Errorf("image size %d MiB is too small (at least 16)", o.SizeMB)
	}
	var missing []string
	if o.Kernel == "" {
		ks, _ := filepath.Glob("/boot/vmlinuz-*")
		sort.Strings(ks)
		if len(ks) == 0 {
			missing = append(missing, "a kernel in /boot/vmlinuz-* (linux-image-amd64)")
		} else {
			o.Kernel = ks[len(ks)-1]
		}
	}
	if o.Busybox == "" {
		o.Busybox = "/bin/busybox"
	}
	if err := checkStatic(o.Busybox); err != nil {
		missing = append(missing, err.Error()+" (busybox-static)")
	}
	if o.MBR == "" {
		o.MBR = "/usr/lib/syslinux/mbr/mbr.bin"
	}
	if _, err := os.Stat(o.MBR); err != nil {
		missing = append(missing, o.MBR+" (syslinux-common)")
	}
	if o.Extlinux == "" {
		if p, err := exec.LookPath("extlinux"); err == nil {
			o.Extlinux = p
		} else {
			missing = append(missing, "extlinux (extlinux)")
		}
	}
	for _, tool := range []string{"mkfs.ext4", "losetup", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cannot build the boot disk, missing: %s; install with: %s", strings.Join(missing, ", "), InstallCommand)
	}
	return nil
}

// checkStatic fails unless path is a statically linked ELF executable.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not a readable executable", path)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked", path)
		}
	}
	return nil
}

// Check reports whether everything Build needs is installed (the error names what is missing and
// the install command).
func Check() error {
	var o Options
	return o.fill()
}

const partStart = 2048 // sectors: the partition starts at 1 MiB

// Build writes a bootable raw disk image to out (replacing it). It needs root.
func Build(ctx context.Context, out string, opts Options) (err error) {
	if err := opts.fill(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("building the boot disk needs root (a loop device and a mount)")
	}
	work, err := os.MkdirTemp("", "osr-bootdisk-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	kernel, err := os.ReadFile(opts.Kernel)
	if err != nil {
		return fmt.Errorf("read kernel: %w", err)
	}
	bb, err := os.ReadFile(opts.Busybox)
	if err != nil {
		return fmt.Errorf("read busybox: %w", err)
	}
	code, err := os.ReadFile(opts.MBR)
	if err != nil {
		return fmt.Errorf("read mbr: %w", err)
	}
	var initrd bytes.Buffer
	if err := writeInitramfs(&initrd, initramfsEntries(bb, opts.Marker, opts.Init)); err != nil {
		return err
	}

	size := int64(opts.SizeMB) << 20
	sectors := uint32(size/512) - partStart
	mbr, err := mbrSector(code, 0x05a1b007, 0x83, partStart, sectors)
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := writeImage(tmp, size, mbr); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	loop, err := run(ctx, "losetup", "--find", "--show", "--offset", strconv.Itoa(partStart*512),
		"--sizelimit", strconv.FormatInt(int64(sectors)*512, 10), tmp)
	if err != nil {
		return err
	}
	defer func() {
		if _, derr := run(context.WithoutCancel(ctx), "losetup", "-d", loop); derr != nil && err == nil {
			err = derr
		}
	}()
	// extlinux reads ext4 without the 64bit and metadata_csum features.
	if _, err := run(ctx, "mkfs.ext4", "-q", "-F", "-L", "osrboot", "-O", "^64bit,^metadata_csum", loop); err != nil {
		return err
	}
	mnt := filepath.Join(work, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return err
	}
	if _, err := run(ctx, "mount", "-t", "ext4", loop, mnt); err != nil {
		return err
	}
	mounted := true
	defer func() {
		if mounted {
			run(context.WithoutCancel(ctx), "umount", mnt)
		}
	}()
	files := map[string][]byte{
		"vmlinuz":       kernel,
		"initrd.gz":     initrd.Bytes(),
		"extlinux.conf": []byte(extlinuxConf),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(mnt, name), b, 0o644); err != nil {
			return err
		}
	}
	if _, err := run(ctx, opts.Extlinux, "--install", mnt); err != nil {
		return err
	}
	if _, err := run(ctx, "umount", mnt); err != nil {
		return err
	}
	mounted = false
	return os.Rename(tmp, out)
}

// extlinuxConf boots the kernel at once with the console on the first serial port; a panic
// reboots at once, which qemu's -no-reboot turns into an exit.
const extlinuxConf = `DEFAULT osr
PROMPT 0
TIMEOUT 0
LABEL osr
  LINUX /vmlinuz
  INITRD /initrd.gz
  APPEND console=ttyS0,115200 panic=-1 loglevel=4
`

func initramfsEntries(busybox []byte, marker, initScript string) []cpioEntry {
	if initScript == "" {
		initScript = "#!/bin/busybox sh\n" +
			"/bin/busybox mount -t proc proc /proc\n" +
			"/bin/busybox mount -t sysfs sys /sys\n" +
			"echo\n" +
			"echo '" + marker + "'\n" +
			"/bin/busybox poweroff -f\n"
	}
	return []cpioEntry{
		{name: "bin", mode: sIFDIR | 0o755},
		{name: "bin/busybox", mode: sIFREG | 0o755, data: busybox},
		{name: "bin/sh", mode: sIFLNK | 0o777, data: []byte("busybox")},
		{name: "dev", mode: sIFDIR | 0o755},
		{name: "dev/console", mode: sIFCHR | 0o600, major: 5, minor: 1},
		{name: "proc", mode: sIFDIR | 0o755},
		{name: "sys", mode: sIFDIR | 0o755},
		{name: "init", mode: sIFREG | 0o755, data: []byte(initScript)},
	}
}

func writeImage(path string, size int64, mbr []byte) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteAt(mbr, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}
