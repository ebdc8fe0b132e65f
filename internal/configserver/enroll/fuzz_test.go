package enroll

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzDecode: the decoders of enrollment requests, CSRs and certificate answers never panic, and a
// CSR they accept has a verified signature.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"challenge_id":"x","role":"agent","name":"web01","csr_pem":"","proof":"AAAA"}`))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var req Request
		r := httptest.NewRequest(http.MethodPost, "/v1/enroll", bytes.NewReader(b))
		_ = DecodeJSON(httptest.NewRecorder(), r, &req)
		if csr, err := ParseCSR(b); err == nil {
			if csr.CheckSignature() != nil {
				t.Fatal("accepted a CSR whose signature does not verify")
			}
		}
		_, _ = ParseCerts(b)
	})
}
