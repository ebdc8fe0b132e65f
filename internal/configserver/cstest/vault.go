package cstest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opensiterecovery/osr/internal/pki"
	"github.com/opensiterecovery/osr/internal/regkey"
)

// Vault speaks the vault side of docs/control-plane.md (registration, heartbeat, inventory, desired
// state) for the configuration server's tests, until they run against internal/vault itself.
type Vault struct {
	URL  string
	Root *CA

	t    testing.TB
	priv ed25519.PrivateKey
	srv  *httptest.Server

	mu         sync.Mutex
	used       map[string]bool
	names      map[string]bool
	Heartbeats []json.RawMessage
	Inventory  json.RawMessage
	Desired    map[string]any // served at GET /api/v1/cs/desired-state
	DesiredVer int64
	Skew       time.Duration // added to the Date header
}

// StartVault starts a vault on localhost.
func StartVault(t testing.TB) *Vault {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	v := &Vault{t: t, Root: NewRoot(t, "osr vault root"), priv: priv, used: map[string]bool{}, names: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/registrations", v.register)
	mux.HandleFunc("POST /api/v1/cs/heartbeat", v.mtls(func(w http.ResponseWriter, r *http.Request, body []byte) {
		v.mu.Lock()
		v.Heartbeats = append(v.Heartbeats, body)
		ver := v.DesiredVer
		v.mu.Unlock()
		writeJSON(w, 200, map[string]any{"server_time": time.Now().UTC(), "desired_state_version": ver})
	}))
	mux.HandleFunc("PUT /api/v1/cs/inventory", v.mtls(func(w http.ResponseWriter, r *http.Request, body []byte) {
		v.mu.Lock()
		v.Inventory = body
		v.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /api/v1/cs/desired-state", v.mtls(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		v.mu.Lock()
		d := v.Desired
		v.mu.Unlock()
		writeJSON(w, 200, d)
	}))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		skew := v.Skew
		v.mu.Unlock()
		w.Header().Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
		if r.URL.Path == "/api/v1/" {
			writeJSON(w, 404, map[string]string{"error": "not found"})
			return
		}
		mux.ServeHTTP(w, r)
	})
	v.srv = httptest.NewUnstartedServer(handler)
	pool := x509.NewCertPool()
	pool.AddCert(v.Root.Cert)
	v.srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{v.Root.ServerCert(t)},
		ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	v.srv.StartTLS()
	t.Cleanup(v.srv.Close)
	v.URL = strings.Replace(v.srv.URL, "127.0.0.1", "localhost", 1)
	return v
}

// Key returns a signed registration key valid from issued for validity.
func (v *Vault) Key(issued time.Time, validity time.Duration) string {
	k := &regkey.Key{Version: 1, ID: fmt.Sprintf("k-%d", issued.UnixNano()), VaultID: "v-test", VaultName: "lab",
		VaultURLs: []string{v.URL}, CASHA256: v.Root.SHA256(), Signer: "s1", Issued: issued, Expires: issued.Add(validity)}
	s, err := regkey.Sign(k, v.priv)
	if err != nil {
		v.t.Fatal(err)
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (v *Vault) register(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RegistrationKey string    `json:"registration_key"`
		Name            string    `json:"name"`
		Hostname        string    `json:"hostname"`
		CSRPEM          string    `json:"csr_pem"`
		ClientTime      time.Time `json:"client_time"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, 400, map[string]string{"error": err.Error()})
		return
	}
	k, err := regkey.Parse(req.RegistrationKey)
	if err != nil {
		writeJSON(w, 400, map[string]string{"error": err.Error()})
		return
	}
	if err := k.Verify(func(string) ed25519.PublicKey { return v.priv.Public().(ed25519.PublicKey) }, time.Now()); err != nil {
		status := 401
		if strings.Contains(err.Error(), "expired") {
			status = 410
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.used[k.ID] {
		writeJSON(w, 409, map[string]string{"error": "registration key has already been used"})
		return
	}
	if v.names[req.Name] {
		writeJSON(w, 409, map[string]string{"error": "configuration server " + req.Name + " is already registered"})
		return
	}
	id := fmt.Sprintf("cs-%d", len(v.names)+1)
	ca, err := pki.SignIntermediateCA(v.Root.Cert, v.Root.Key, pki.IntermediateRequest{CSRPEM: []byte(req.CSRPEM), Name: req.Name, ID: id, Now: time.Now()})
	if err != nil {
		writeJSON(w, 400, map[string]string{"error": err.Error()})
		return
	}
	v.used[k.ID], v.names[req.Name] = true, true
	writeJSON(w, 201, map[string]any{"config_server_id": id, "vault_id": "v-test", "vault_name": "lab",
		"root_ca_pem": string(v.Root.PEM()), "ca_cert_pem": string(ca), "vault_urls": []string{v.URL}, "server_time": time.Now().UTC()})
}

// mtls admits callers with a client certificate chained to the root.
func (v *Vault) mtls(h func(http.ResponseWriter, *http.Request, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			writeJSON(w, 401, map[string]string{"error": "client certificate required"})
			return
		}
		var body json.RawMessage
		if r.Body != nil && r.Method != http.MethodGet {
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				writeJSON(w, 400, map[string]string{"error": err.Error()})
				return
			}
		}
		h(w, r, body)
	}
}

// SetDesired replaces the desired state and bumps its version.
func (v *Vault) SetDesired(d map[string]any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.DesiredVer++
	d["version"] = v.DesiredVer
	v.Desired = d
}

// LastHeartbeat returns the newest heartbeat body.
func (v *Vault) LastHeartbeat() json.RawMessage {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.Heartbeats) == 0 {
		return nil
	}
	return v.Heartbeats[len(v.Heartbeats)-1]
}
