package recoveryplan

import (
	"testing"

	"github.com/opensiterecovery/osr/internal/vault/extraapi"
)

// FuzzParseFile: a plan file parses or gives an error, never panics; what parses validates or
// gives an error.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte("name: shop\ngroups:\n  - name: db\n    machines: [db01]\n    after: /srv/check-db.sh\n    pause_after: check the database\n  - machines: [web01, web02]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseFile(b)
		if err != nil {
			return
		}
		r.validate()
	})
}

// FuzzDecodeCreateRequest: the API body decoder accepts exactly one JSON object with known fields.
func FuzzDecodeCreateRequest(f *testing.F) {
	f.Add([]byte(`{"name":"shop","groups":[{"machines":["db01"],"before":"/srv/a.sh"},{"machines":["web01"]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r CreateRequest
		if err := extraapi.DecodeJSON(b, &r); err != nil {
			return
		}
		if err := r.validate(); err == nil && (len(r.Groups) == 0 || r.Name == "") {
			t.Fatalf("validated a plan without groups or name: %+v", r)
		}
	})
}

func TestParseFile(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"name: shop\ngroups:\n  - machines: [db01]\n", ""},
		{`{"name": "shop", "groups": [{"machines": ["db01"]}]}`, ""},
		{"name: shop\ncolour: red\n", "plan file: yaml: unmarshal errors:\n  line 2: field colour not found in type recoveryplan.CreateRequest"},
		{"name: a\n---\nname: b\n", "plan file: more than one document"},
		{"", "plan file: EOF"},
	} {
		_, err := ParseFile([]byte(tc.in))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("ParseFile(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
