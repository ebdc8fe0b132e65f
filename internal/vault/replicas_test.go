package vault

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opensiterecovery/osr/internal/clock"
	"github.com/opensiterecovery/osr/internal/store"
	"github.com/opensiterecovery/osr/internal/vault/db"
)

// TestReplicasShareOnePostgres: several vault service replicas started at once on one PostgreSQL
// database agree on the root CA and signing key; a key issued by one is single-use across all.
func TestReplicasShareOnePostgres(t *testing.T) {
	ctx := context.Background()
	dsn, err := pg.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mk := filepath.Join(dir, "master.key")
	// Every replica has the same master key file; all start at once on an empty database.
	if _, err := loadMasterKey(mk); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	replicas := make([]*env, 4)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replicas[i] = e0(t, dsn, mk)
		}()
	}
	wg.Wait()
	first := replicas[0]
	if first == nil {
		t.Fatal("replica 0 did not start")
	}
	for i, r := range replicas {
		if r == nil {
			t.Fatalf("replica %d did not start", i)
		}
		if r.svc.RootCAFingerprint() != first.svc.RootCAFingerprint() || r.svc.ca.signID != first.svc.ca.signID {
			t.Fatalf("replica %d has another root CA or signing key", i)
		}
	}
	token, err := first.svc.Bootstrap(ctx)
	if err != nil || token == "" {
		t.Fatalf("bootstrap: %v", err)
	}
	first.tokens[RoleOwner] = token
	first.createVault("lab")
	key := first.regKey("lab")
	statuses := make(chan int, len(replicas))
	for i, r := range replicas {
		_, csr := newCSR(t)
		req := RegisterRequest{RegistrationKey: key, Name: "cs" + string(rune('a'+i)), CSRPEM: csr}
		go func() {
			st, _ := r.do("POST", "/registrations", "", req)
			statuses <- st
		}()
	}
	count := map[int]int{}
	for range replicas {
		count[<-statuses]++
	}
	if count[http.StatusCreated] != 1 || count[http.StatusConflict] != len(replicas)-1 {
		t.Fatalf("statuses across replicas: %v", count)
	}
}

// e0 starts a vault service on dsn without bootstrapping users.
func e0(t *testing.T, dsn, masterKey string) *env {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Error(err)
		return nil
	}
	svc, err := New(Config{DB: dsn, MasterKeyFile: masterKey, URLs: []string{"https://" + ln.Addr().String()}, Hosts: []string{"127.0.0.1"},
		StoreOptions: store.Options{KDF: cheapKDF}}, Deps{Clock: clock.Real{}})
	if err != nil {
		t.Error(err)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; svc.Close() })
	e := &env{t: t, svc: svc, base: "https://" + ln.Addr().String() + APIPrefix, dir: t.TempDir(), tokens: map[Role]string{}}
	e.roots = poolOf(svc.RootCAPEM())
	e.client = httpsClient(e.roots)
	return e
}

var _ = db.Postgres
