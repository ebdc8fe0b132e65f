// Package progress shows the progress of long CLI work, such as a backup or a restore, on one
// terminal line that is rewritten in place.
//
// A Bar renders only when its writer is a terminal (or when Options.Force is set) and is silent
// otherwise, so output redirected to a file or a pipe stays clean. Add only counts, atomically;
// a goroutine redraws the line a few times per second, and Finish draws the final line and ends
// it with a newline:
//
//	restore vm-01  25.0% 256.0 MiB / 1.0 GiB  16.0 MiB/s  ETA 0:48
//	restore vm-01 100.0% 1.0 GiB / 1.0 GiB  16.0 MiB/s  in 1:04
//
// FormatBytes formats byte counts the same way for other CLI output.
package progress
