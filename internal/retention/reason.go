package retention

import (
	"strings"
	"time"
)

// bucketReason explains why the newest point of the bucket starting at start was kept, such as
// "newest in hour 2026-11-28T13:00Z" or "newest in day 2026-11-28".
func bucketReason(interval time.Duration, start time.Time) string {
	start = start.UTC()
	switch interval {
	case time.Hour:
		return "newest in hour " + start.Format("2006-01-02T15:04Z")
	case 24 * time.Hour:
		return "newest in day " + start.Format("2006-01-02")
	}
	layout := "2006-01-02T15:04Z"
	if interval%time.Minute != 0 {
		layout = "2006-01-02T15:04:05.999999999Z"
	}
	return "newest in " + formatDuration(interval) + " bucket " + start.Format(layout)
}

// formatDuration is time.Duration.String without trailing zero units: "2h", "1h30m", "45s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
