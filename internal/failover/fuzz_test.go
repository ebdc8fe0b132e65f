package failover

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/vault"
)

// FuzzRequestBodies: the strict decoder of every failover request body either fills the request
// or returns a client error (4xx); it never panics or fails otherwise.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{`{}`, `{"point":"latest","network":"test-net","target":"t1"}`, `{"shutdown_source":true}`,
		`{"point":1}`, `{"pointt":"x"}`, `{"point":"a"} {}`, `[]`, `{"ip_mode":"static","address":"10.0.0.1/24"}`,
		`{"name":"t","provider":"local","settings":{"dir":"/x"},"secret":"k"}`, ``, `{"remove_agent":"yes"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		targets := []any{&TestRequest{}, &FailoverRequest{}, &ChangePointRequest{}, &CompleteMigrationRequest{}, &AddMappingRequest{}, &AddTargetRequest{}, &SetNICRequest{}}
		for _, v := range targets {
			r := httptest.NewRequest("POST", "/", strings.NewReader(body))
			err := decode(r, v, true)
			if err == nil {
				continue
			}
			var e *vault.Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status >= 500 || e.Status == http.StatusInternalServerError {
				t.Fatalf("body %q into %T: error %v is not a client error", body, v, err)
			}
		}
	})
}

// FuzzPointRef: a reference is accepted only in one of its documented forms.
func FuzzPointRef(f *testing.F) {
	for _, s := range []string{"latest", "latest-processed", "latest-app-consistent", "deadbeef", "0123456789abcdef0123", "2026-12-01T10:00:00Z", "2026-12-01T10:00:00.5+01:00", "LATEST", "", "abc", "zzzzzzzz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		if err := checkPointRef(ref); err != nil {
			if StatusOf(err) != http.StatusBadRequest {
				t.Fatalf("%q: %v", ref, err)
			}
			return
		}
		switch {
		case ref == PointLatest, ref == PointLatestProcessed, ref == PointLatestApp:
		case len(ref) >= 8 && strings.Trim(ref, "0123456789abcdef") == "":
		case strings.Contains(ref, "T") && len(ref) >= 20:
		default:
			t.Fatalf("accepted %q", ref)
		}
	})
}

// StatusOf is vault.StatusOf (kept short in the fuzz targets).
func StatusOf(err error) int { return vault.StatusOf(err) }
