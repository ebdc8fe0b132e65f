// Package freeze briefly freezes the filesystems mounted on a machine's protected disks
// (FIFREEZE), so that a point captured meanwhile is crash-consistent across every disk, and thaws
// them (FITHAW) always: on success, on error, and by itself when a freeze outlasts its bound.
//
// Filesystems are found in /proc/self/mountinfo by device number: the protected disk itself, its
// partitions (from /sys/dev/block), and, for an image file, the loop devices backed by it.
package freeze
