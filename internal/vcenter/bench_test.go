package vcenter

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"strconv"
	"testing"

	"github.com/vmware/govmomi/simulator"
)

// BenchmarkInventory reads a simulated vCenter of 2 clusters × 4 hosts and 500 VMs over TLS, as one
// sync does (login, one property-collector pass, logout). Run with go test -bench Inventory.
func BenchmarkInventory(b *testing.B) {
	m := simulator.VPX()
	m.Cluster, m.ClusterHost, m.Host, m.Pool, m.Machine = 2, 4, 0, 0, 250
	if err := m.Create(); err != nil {
		b.Fatal(err)
	}
	defer m.Remove()
	m.Service.TLS = new(tls.Config)
	m.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword("u", "p")}
	s := m.Service.NewServer()
	defer s.Close()
	host, port, _ := net.SplitHostPort(s.URL.Host)
	p, _ := strconv.Atoi(port)
	ep := Endpoint{Address: host, Port: p, User: "u", Password: "p", Thumbprint: Thumbprint(s.Certificate())}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		sess, err := Connect(ctx, ep)
		if err != nil {
			b.Fatal(err)
		}
		vms, err := sess.VMs(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(vms) != 500 {
			b.Fatalf("%d VMs", len(vms))
		}
		_ = sess.Close(ctx)
	}
}
