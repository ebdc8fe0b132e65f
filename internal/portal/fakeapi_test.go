package portal

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// fakeAPI follows the API contract for the paths the portal uses, until the vault service lands.
type fakeAPI struct {
	mu     sync.Mutex
	users  map[string][2]string // name → password, role
	tokens map[string]string    // token → user
	vaults []Vault
	pols   map[string][]Policy
	items  map[string][]Item
	css    map[string][]ConfigServer
	now    time.Time
}

func newFakeAPI(now time.Time) *fakeAPI {
	return &fakeAPI{users: map[string][2]string{}, tokens: map[string]string{}, pols: map[string][]Policy{},
		items: map[string][]Item{}, css: map[string][]ConfigServer{}, now: now}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func apiErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, apiPrefix)
	if r.Method == http.MethodPost && path == "/login" {
		var req loginRequest
		json.NewDecoder(r.Body).Decode(&req)
		u, ok := f.users[req.User]
		if !ok || u[0] != req.Password {
			apiErr(w, 401, "user name or password is wrong")
			return
		}
		tok := randomToken()
		f.tokens[tok] = req.User
		writeJSON(w, 201, loginAnswer{Token: tok})
		return
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	user, ok := f.tokens[tok]
	if !ok {
		apiErr(w, 401, "token is missing, expired or revoked")
		return
	}
	role := f.users[user][1]
	if r.Method != http.MethodGet && path != "/tokens/current" && role != "owner" && role != "contributor" {
		apiErr(w, 403, "role "+role+" may not do this")
		return
	}
	seg := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case path == "/me":
		writeJSON(w, 200, Me{Name: user, Role: role})
	case path == "/tokens/current" && r.Method == http.MethodDelete:
		delete(f.tokens, tok)
		w.WriteHeader(204)
	case path == "/vaults" && r.Method == http.MethodGet:
		writeJSON(w, 200, append([]Vault{}, f.vaults...))
	case path == "/vaults" && r.Method == http.MethodPost:
		var req vaultCreateRequest
		json.NewDecoder(r.Body).Decode(&req)
		if req.StorageURL == "" {
			apiErr(w, 400, "storage_url is required")
			return
		}
		for _, v := range f.vaults {
			if v.Name == req.Name {
				apiErr(w, 409, "vault "+req.Name+" already exists")
				return
			}
		}
		v := Vault{ID: "v-" + req.Name, Name: req.Name, StorageURL: req.StorageURL, Created: f.now}
		f.vaults = append(f.vaults, v)
		writeJSON(w, 201, v)
	case len(seg) >= 2 && seg[0] == "vaults":
		f.vault(w, r, role, seg[1], seg[2:])
	default:
		apiErr(w, 404, "no such endpoint")
	}
}

func (f *fakeAPI) vault(w http.ResponseWriter, r *http.Request, role, id string, rest []string) {
	var v *Vault
	for i := range f.vaults {
		if f.vaults[i].ID == id || f.vaults[i].Name == id {
			v = &f.vaults[i]
		}
	}
	if v == nil {
		apiErr(w, 404, "vault "+id+" does not exist")
		return
	}
	sub := strings.Join(rest, "/")
	switch {
	case sub == "" && r.Method == http.MethodGet:
		writeJSON(w, 200, v)
	case sub == "target" && r.Method == http.MethodPut:
		var t Target
		json.NewDecoder(r.Body).Decode(&t)
		if t.Provider != "local" && t.Provider != "azure" {
			apiErr(w, 400, "target provider must be local or azure")
			return
		}
		v.Target = t
		w.WriteHeader(204)
	case sub == "registration-keys" && r.Method == http.MethodPost:
		writeJSON(w, 201, map[string]string{"registration_key": "osr-regkey-1.fake-key-for-" + v.Name})
	case sub == "config-servers":
		writeJSON(w, 200, append([]ConfigServer{}, f.css[v.ID]...))
	case sub == "machines":
		writeJSON(w, 200, []Machine{{Name: "web01", Hostname: "web01.example.net"}, {Name: "db01"}})
	case sub == "policies" && r.Method == http.MethodGet:
		writeJSON(w, 200, append([]Policy{}, f.pols[v.ID]...))
	case sub == "policies" && r.Method == http.MethodPost:
		var req policyRequest
		json.NewDecoder(r.Body).Decode(&req)
		if req.RPOThresholdSeconds < 60 {
			apiErr(w, 400, "rpo_threshold_seconds must be between 60 and 86400")
			return
		}
		p := Policy{ID: "p-" + req.Name, Name: req.Name, RPOThresholdSeconds: req.RPOThresholdSeconds,
			RetentionSeconds: req.RetentionSeconds, AppConsistentSeconds: req.AppConsistentSeconds}
		fb := p
		fb.Name, fb.FailbackOf = p.Name+"-failback", p.Name
		f.pols[v.ID] = append(f.pols[v.ID], p, fb)
		writeJSON(w, 201, p)
	case sub == "items" && r.Method == http.MethodGet:
		writeJSON(w, 200, append([]Item{}, f.items[v.ID]...))
	case sub == "items" && r.Method == http.MethodPost:
		var req enableRequest
		json.NewDecoder(r.Body).Decode(&req)
		if req.Policy == "" {
			apiErr(w, 400, "policy is required")
			return
		}
		f.items[v.ID] = append(f.items[v.ID], Item{Machine: req.Machine, Policy: req.Policy, State: "enabling"})
		w.WriteHeader(201)
	case len(rest) == 2 && rest[0] == "items" && r.Method == http.MethodDelete:
		its := f.items[v.ID]
		for i, it := range its {
			if it.Machine == rest[1] {
				f.items[v.ID] = append(its[:i:i], its[i+1:]...)
				w.WriteHeader(204)
				return
			}
		}
		apiErr(w, 404, "machine "+rest[1]+" is not protected")
	case len(rest) == 3 && rest[0] == "items" && rest[2] == "recovery-points":
		writeJSON(w, 200, []RecoveryPoint{{ID: "pt-1", Time: f.now.Add(-time.Minute), AppConsistent: true, Disks: []string{"sda"}}})
	case sub == "jobs":
		writeJSON(w, 200, []Job{{ID: "job-1", Kind: "create-vault", Target: v.Name, State: "succeeded", Progress: 100, Started: f.now}})
	case len(rest) == 2 && rest[0] == "jobs":
		writeJSON(w, 200, Job{ID: rest[1], Kind: "enable-replication", Target: "web01", State: "running", Progress: 42, Started: f.now})
	case sub == "alerts":
		writeJSON(w, 200, []Alert{{ID: "a-1", Kind: "rpo", Subject: "web01", Severity: "critical", Message: "rpo threshold exceeded", Raised: f.now}})
	case sub == "events":
		writeJSON(w, 200, []Event{{ID: "e-1", Kind: "vault-created", Subject: v.Name, Severity: "info", Message: "vault created", Time: f.now}})
	default:
		apiErr(w, 404, "no such endpoint")
	}
}
