package extraapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/opensiterecovery/osr/internal/vault"
)

type body struct {
	Name string `json:"name"`
}

func TestReadBody(t *testing.T) {
	for _, tc := range []struct {
		in         string
		allowEmpty bool
		status     int
		want       string
		name       string
	}{
		{`{"name":"shop"}`, false, 0, "", "shop"},
		{"", true, 0, "", "kept"},
		{" \n", false, 400, "request body is empty", "kept"},
		{`{"name":"shop","colour":"red"}`, false, 400, `request body is not valid: json: unknown field "colour"`, "shop"},
		{`{"name":"a"} {"name":"b"}`, false, 400, "request body has data after the JSON object", "a"},
		{`[1]`, false, 400, "request body is not valid: json: cannot unmarshal array into Go value of type extraapi.body", "kept"},
		{strings.Repeat(" ", vault.MaxBodyBytes+1), false, 413, "request body is larger than " + strconv.Itoa(vault.MaxBodyBytes) + " bytes", "kept"},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tc.in))
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, vault.MaxBodyBytes)
		v := body{Name: "kept"}
		err := ReadBody(r, &v, tc.allowEmpty)
		got, status := "", 0
		if err != nil {
			got, status = err.Error(), vault.StatusOf(err)
		}
		if got != tc.want || status != tc.status || v.Name != tc.name {
			t.Errorf("ReadBody(%.40q) = %d %q, name %q; want %d %q, name %q", tc.in, status, got, v.Name, tc.status, tc.want, tc.name)
		}
	}
}

type svc struct{ name string }

func TestBoundWrap(t *testing.T) {
	var b Bound[svc]
	h := b.Wrap("things are not ready yet", func(ctx context.Context, s *svc, r *http.Request) (int, any, error) {
		if r.URL.Path == "/fail" {
			return http.StatusCreated, "partial", errors.New("it failed")
		}
		return http.StatusCreated, s.name, nil
	})
	r := httptest.NewRequest("GET", "/", nil)
	status, out, err := h(context.Background(), r)
	if err == nil || err.Error() != "things are not ready yet" || vault.StatusOf(err) != 503 || status != 0 || out != nil {
		t.Fatalf("unbound: %d %v %v", status, out, err)
	}
	b.Bind(&svc{name: "shop"})
	if status, out, err := h(context.Background(), r); err != nil || status != http.StatusCreated || out != "shop" {
		t.Fatalf("bound: %d %v %v", status, out, err)
	}
	status, out, err = h(context.Background(), httptest.NewRequest("GET", "/fail", nil))
	if err == nil || err.Error() != "it failed" || status != 0 || out != nil {
		t.Fatalf("failing handler: %d %v %v", status, out, err)
	}
}

// FuzzDecodeJSON: the decoder gives a value or a 400, never panics.
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"name":"shop"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v body
		if err := DecodeJSON(b, &v); err != nil && vault.StatusOf(err) != http.StatusBadRequest {
			t.Fatalf("DecodeJSON(%q): status %d: %v", b, vault.StatusOf(err), err)
		}
	})
}
