//go:build linux

package processserver

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSpoolAppend: appending 1 MiB frames to a cache file on the test's temporary directory
// (direct I/O where the file system allows it), with a final fsync. Reports the CPU seconds spent
// per GiB written.
func BenchmarkSpoolAppend(b *testing.B) {
	frame := make([]byte, 1<<20+64)
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	const perFile = 256
	dir := b.TempDir()
	b.SetBytes(int64(len(frame)) * perFile)
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		sp, err := createSpool(filepath.Join(dir, "x.part"), nil)
		if err != nil {
			b.Fatal(err)
		}
		c0 := cpuTime()
		for k := 0; k < perFile; k++ {
			if _, err := sp.Append(frame); err != nil {
				b.Fatal(err)
			}
		}
		if err := sp.Finish(); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - c0
		b.StopTimer()
		if i == 0 {
			b.Logf("direct I/O: %v", sp.direct)
		}
		sp.Close()
		syscall.Unlink(filepath.Join(dir, "x.part"))
		b.StartTimer()
	}
	gib := float64(b.N) * float64(len(frame)) * perFile / (1 << 30)
	b.ReportMetric(cpu.Seconds()/gib, "cpu-s/GiB")
}
