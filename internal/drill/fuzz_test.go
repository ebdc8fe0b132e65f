package drill

import (
	"testing"

	"github.com/opensiterecovery/osr/internal/vault/extraapi"
)

// FuzzDecodeCreateRequest: the API body decoder accepts one JSON object with known fields or
// gives an error; a decoded drill's schedule parses or gives an error; nothing panics.
func FuzzDecodeCreateRequest(f *testing.F) {
	f.Add([]byte(`{"plan":"shop","cron":"30 2 * * sun","verify_boot":true,"timezone":"UTC"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r CreateRequest
		if err := extraapi.DecodeJSON(b, &r); err != nil {
			return
		}
		schedule(r.Cron, "")
	})
}
