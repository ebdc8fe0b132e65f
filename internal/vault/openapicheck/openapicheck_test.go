package openapicheck

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		documented, enforced map[string]string
		want                 string
	}{
		{"same", map[string]string{"GET /a": "read"}, map[string]string{"GET /a": "read"}, ""},
		{"none", map[string]string{}, map[string]string{}, ""},
		{"all three", map[string]string{"GET /a": "read", "GET /c": "write", "DELETE /d": "read"}, map[string]string{"GET /a": "read", "POST /b": "write", "GET /c": "read"},
			"openapi.yaml and the failover routes differ:\nnot documented: [POST /b]\ndocumented, not registered: [DELETE /d]\nwrong permission: [GET /c: documented write, enforced read]"},
	} {
		err := Compare(tc.documented, tc.enforced, "failover routes")
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

const spec = `openapi: 3.1.0
paths:
  /vaults:
    get:
      x-osr-permission: read
      responses: {"200": {description: ok}}
  /vaults/{vault}/drills:
    parameters: []
    get:
      x-osr-permission: read
      x-osr-extra: drills
      responses: {"200": {description: ok}}
    post:
      x-osr-permission: write
      x-osr-extra: drills
      responses: {"201": {description: ok}}
`

func TestDocumented(t *testing.T) {
	p := filepath.Join(t.TempDir(), "openapi.yaml")
	if err := os.WriteFile(p, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		extra string
		want  map[string]string
	}{
		{"", map[string]string{"GET /vaults": "read"}},
		{"drills", map[string]string{"GET /vaults/{vault}/drills": "read", "POST /vaults/{vault}/drills": "write"}},
		{"failover", map[string]string{}},
	} {
		got, err := Check{Spec: p, Extra: tc.extra}.documented(t)
		if err != nil {
			t.Fatal(err)
		}
		if err := Compare(got, tc.want, "routes"); err != nil {
			t.Errorf("extra %q: %v", tc.extra, err)
		}
		Check{Spec: p, Extra: tc.extra, What: "routes"}.Run(t, tc.want)
	}
	bad := filepath.Join(t.TempDir(), "openapi.yaml")
	if err := os.WriteFile(bad, []byte("openapi: 2.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (Check{Spec: bad}).documented(t); err == nil || err.Error() != `openapi version "2.0"` {
		t.Fatalf("swagger 2 document: %v", err)
	}
}
