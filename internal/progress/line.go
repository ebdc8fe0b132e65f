package progress

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// line returns the text of the bar at now, without the terminal control sequences: label,
// percent, bytes done and total, average throughput since the start, and the ETA (or, when
// final, the elapsed time). Without a known total only the bytes done and throughput are shown.
func (b *Bar) line(now time.Time, final bool) string {
	done, total := b.done.Load(), b.total.Load()
	elapsed := now.Sub(b.start)

	rate := -1.0 // unknown
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}

	var stats string
	if total > 0 {
		pct := math.Floor(float64(done)/float64(total)*1000) / 10 // never 100.0% before done
		pct = min(max(pct, 0), 100)
		pctStr := strconv.FormatFloat(pct, 'f', 1, 64) + "%"
		for len(pctStr) < len("100.0%") {
			pctStr = " " + pctStr
		}
		stats = pctStr + " " + FormatBytes(done) + " / " + FormatBytes(total)
	} else {
		stats = FormatBytes(done)
	}
	stats += "  " + formatRate(rate)

	switch {
	case final:
		stats += "  in " + formatClock(elapsed)
	case total > 0:
		stats += "  ETA " + eta(total-done, rate)
	}
	return fit(b.label, stats, b.width)
}

// eta formats the time left for remaining bytes at rate bytes per second.
func eta(remaining int64, rate float64) string {
	switch {
	case remaining <= 0:
		return formatClock(0)
	case rate <= 0:
		return "--:--"
	}
	secs := math.Ceil(float64(remaining) / rate)
	if secs >= float64(100*time.Hour/time.Second) {
		return formatClock(100 * time.Hour)
	}
	return formatClock(time.Duration(secs) * time.Second)
}

// fit joins label and stats into a line narrower than width columns (when width > 0), leaving
// the last column free so the terminal does not wrap. The label is shortened first, with "...";
// a terminal too narrow even for the stats gets their beginning.
func fit(label, stats string, width int) string {
	line := stats
	if label != "" {
		line = label + " " + stats
	}
	limit := width - 1
	if width <= 0 || utf8.RuneCountInString(line) <= limit {
		return line
	}
	room := limit - len(stats) - 1 // columns left for the label and its space
	if label != "" && room >= len("x...") {
		short := strings.TrimRight(string([]rune(label)[:room-len("...")]), " ")
		return short + "... " + stats
	}
	if limit <= 0 {
		return ""
	}
	return stats[:min(limit, len(stats))]
}
