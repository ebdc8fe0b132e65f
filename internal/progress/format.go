package progress

import (
	"math"
	"strconv"
	"time"
)

var byteUnits = []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// FormatBytes formats n bytes in binary units: "512 B", "1.5 KiB", "420.0 MiB", "1.0 GiB".
// Counts of 1 KiB and more get one decimal.
func FormatBytes(n int64) string {
	sign := ""
	mag := uint64(n)
	if n < 0 {
		sign = "-"
		mag = uint64(-(n + 1)) + 1 // correct for math.MinInt64 too
	}
	if mag < 1024 {
		return sign + strconv.FormatUint(mag, 10) + " B"
	}
	v, unit := float64(mag), 0
	for v >= 1024 && unit < len(byteUnits)-1 {
		v /= 1024
		unit++
	}
	// 1023.96 KiB would print as "1024.0 KiB": show it as "1.0 MiB" instead.
	if math.Round(v*10) >= 1024*10 && unit < len(byteUnits)-1 {
		v /= 1024
		unit++
	}
	return sign + strconv.FormatFloat(v, 'f', 1, 64) + " " + byteUnits[unit]
}

// formatRate formats a throughput in bytes per second; a negative rate is unknown.
func formatRate(bytesPerSecond float64) string {
	if bytesPerSecond < 0 {
		return "--/s"
	}
	if bytesPerSecond >= math.MaxInt64 {
		return FormatBytes(math.MaxInt64) + "/s"
	}
	return FormatBytes(int64(bytesPerSecond)) + "/s"
}

// formatClock formats a duration, truncated to whole seconds, as "m:ss" or "h:mm:ss".
// Durations of 100 hours or more print as ">99h"; negative ones as "0:00".
func formatClock(d time.Duration) string {
	if d >= 100*time.Hour {
		return ">99h"
	}
	s := int64(max(d, 0) / time.Second)
	h, m, sec := s/3600, s/60%60, s%60
	if h > 0 {
		return strconv.FormatInt(h, 10) + ":" + twoDigits(m) + ":" + twoDigits(sec)
	}
	return strconv.FormatInt(m, 10) + ":" + twoDigits(sec)
}

func twoDigits(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}
