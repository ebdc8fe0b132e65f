// Package bootcheck proves that a failed-over machine boots: it starts the machine's disks (raw,
// fixed VHD or qcow2, as the machine definition names them) in qemu-system-x86_64 under TCG, with
// no network and a throwaway overlay (the disks are never written), and watches the serial console
// for a login prompt or a configured marker within a timeout. It returns the wall time and the
// console's last lines; qemu is killed when the check ends, whatever the outcome.
//
// The sub-package bootdisk builds a small bootable test disk from Debian packages (syslinux MBR and
// extlinux, a distribution kernel, a busybox initramfs that prints a marker and powers off).
// docs/boot-check.md describes both.
package bootcheck
