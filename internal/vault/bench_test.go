package vault

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/vault/db"
)

// BenchmarkControlPlane measures, on each engine, the latency of "enable replication" (1,000
// machines enabled by 200 concurrent clients) and of "list replicated items" (1,000 items, 200
// concurrent clients, 10 requests each), over real HTTPS. Run once:
//
//	go test -run XXX -bench ControlPlane -benchtime 1x ./internal/vault/
//
// It reports p50/p99 in milliseconds and the process's peak RSS (service and clients together).
func BenchmarkControlPlane(b *testing.B) {
	for _, eng := range []db.Engine{db.SQLite, db.Postgres} {
		b.Run(string(eng), func(b *testing.B) {
			for range b.N {
				benchOnce(b, eng)
			}
		})
	}
}

const benchClients = 200

func benchOnce(b *testing.B, eng db.Engine) {
	e := newEnv(b, eng)
	protectedSetup(b, e)
	own := e.tokens[RoleOwner]
	cs := e.register("lab", "cs-bench")
	var machines []Machine
	for i := range 1000 {
		machines = append(machines, Machine{Name: fmt.Sprintf("m%04d", i), Source: "agent", Disks: []MachineDisk{{Name: "sda", SizeBytes: 100 << 30}}})
	}
	mustDoWith(e, cs.client, "PUT", "/cs/inventory", Inventory{Machines: machines}, 204)
	e.mustDo("POST", "/vaults/lab/policies/gold/associations", own, AssociateRequest{ConfigServer: "cs-bench"}, 200)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.roots}, MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}

	run := func(perClient int, req func(client, i int) (string, string, any, int)) []time.Duration {
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		for c := range benchClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perClient {
					method, path, body, want := req(c, i)
					t0 := time.Now()
					st, out := e.doWith(client, method, path, own, body)
					d := time.Since(t0)
					if st != want {
						b.Errorf("%s %s: %d %s", method, path, st, out)
						return
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return lat
	}
	b.ResetTimer()
	enable := run(5, func(c, i int) (string, string, any, int) {
		return "POST", "/vaults/lab/protected-items", EnableRequest{Machine: fmt.Sprintf("m%04d", c*5+i), Policy: "gold"}, 201
	})
	list := run(10, func(c, i int) (string, string, any, int) { return "GET", "/vaults/lab/protected-items", nil, 200 })
	b.StopTimer()
	var items []ProtectedItem
	e.decodeInto(e.mustDo("GET", "/vaults/lab/protected-items", own, nil, 200), &items)
	if len(items) != 1000 {
		b.Fatalf("%d items", len(items))
	}
	pct := func(l []time.Duration, p float64) float64 {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		return float64(l[int(float64(len(l)-1)*p)]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(enable, 0.50), "enable-p50-ms")
	b.ReportMetric(pct(enable, 0.99), "enable-p99-ms")
	b.ReportMetric(pct(list, 0.50), "list1000-p50-ms")
	b.ReportMetric(pct(list, 0.99), "list1000-p99-ms")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-rss-MiB")
	tr.CloseIdleConnections()
}

// peakRSS is the process's VmHWM in bytes.
func peakRSS() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}
