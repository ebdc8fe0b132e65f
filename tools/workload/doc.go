// Command workload writes files into mounted file systems the way a busy server does, and
// checks an image of them (a recovery point, mounted read-only) against what it wrote.
//
//	workload run --root a=/mnt/a [--root b=/mnt/b] --manifest M [--seed S] [--ops N]
//	             [--duration D] [--pause P] [--min-size 1024] [--max-size 4194304]
//	             [--max-bytes B] [--max-files N]
//	workload verify --manifest M --root a=/mnt/point-a [--root b=...] --at T [--slack D]
//
// run performs one operation at a time, chosen at random: create (a new file of 1 KiB-4 MiB,
// sizes uniform in their logarithm), overwrite (up to four ranges in place), append, rename
// (within a root, possibly to another directory) and delete. Each file is fsynced, and its
// directory too where entries changed. Before an operation starts a begin record is appended to
// the manifest, and after its fsyncs returned a done record with the SHA-256 and size of the
// file it left; times are monotonic (the start's wall time plus the monotonic clock's progress),
// in unix nanoseconds. With several roots, one sequence numbers the operations on all of them:
// it is the cross-disk order. SIGTERM ends a run after the operation in flight.
//
// verify reads the files under each given root and finds the cuts of the sequence (see
// verify.go) that they fit. The capture time T admits a window of cuts: every operation done
// before T is complete, none begun at or after T+slack has begun. Verify passes when every path
// fits the window and all paths of all roots given fit one common cut in it: files fsynced
// before T are present and byte-exact (a later completed rewrite supersedes), nothing newer
// shows, and several disks show one instant. Exit 0: ok; 1: problems, one a line on stderr;
// 2: bad usage or an unreadable manifest.
//
// The manifest format is in docs/formats/workload-manifest.md.
package main
