package enroll

import (
	"context"
	"testing"
)

// BenchmarkEnroll measures one enrollment over real TLS on loopback: a new TLS connection, the
// challenge, the CSR and the issued certificate (go test -bench Enroll ./internal/configserver/enroll).
func BenchmarkEnroll(b *testing.B) {
	r := newRig(b)
	k := key(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Enroll(context.Background(), ClientRequest{Address: r.addr, Passphrase: r.pass, Role: RoleAgent, Name: "web01", Key: k}); err != nil {
			b.Fatal(err)
		}
	}
}
