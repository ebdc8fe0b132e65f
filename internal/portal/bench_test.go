package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkItemsTable measures the self-refreshing replicated-items table of a vault with 1,000
// items, over HTTPS through the real vault service (portal → in-process API → SQLite), and reports
// p50/p99 latency and the fragment's size.
//
//	go test -run XXX -bench ItemsTable -benchtime 200x ./internal/portal/
func BenchmarkItemsTable(b *testing.B) {
	e := newEnv(b)
	c := newWebClient(b, e.url, e.tls)
	c.login("reader1", password("reader"))
	owner := newWebClient(b, e.url, e.tls)
	otok := owner.login("owner1", password("owner"))
	vid := e.vault(b, "lab")
	if a := owner.post("/vaults/"+vid+"/policies", url.Values{"csrf": {otok}, "name": {"gold"}, "rpo_minutes": {"15"}, "retention_hours": {"24"}, "app_consistent_minutes": {"60"}}); a.Status != http.StatusSeeOther {
		b.Fatalf("policy: %d", a.Status)
	}
	e.seedItems(b, vid, "gold", 1000)
	path := "/vaults/" + vid + "/items/table"
	a := c.get(path, "HX-Request", "true")
	if a.Status != http.StatusOK || strings.Count(a.Body, "<tr>") != 1001 {
		b.Fatalf("items table: %d, %d rows", a.Status, strings.Count(a.Body, "<tr>"))
	}
	size := len(a.Body)
	gz := len(c.get(path, "HX-Request", "true", "Accept-Encoding", "gzip").Body)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if a := c.get(path, "HX-Request", "true", "Accept-Encoding", "gzip"); a.Status != http.StatusOK {
			b.Fatalf("status %d", a.Status)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(size)/1024, "KiB/table")
	b.ReportMetric(float64(gz)/1024, "KiB/table-gzip")
}
