package configserver

import "testing"

// FuzzDecodeFiles: the decoders of the data directory's registration and state files and of the
// link file never panic and accept only what they check.
func FuzzDecodeFiles(f *testing.F) {
	f.Add([]byte(`{"version":1,"name":"cs1","config_server_id":"cs-1","vault_urls":["https://v:8443"],"api_address":":443"}`))
	f.Add([]byte(`{"version":1,"config_version":3,"process_servers":[{"name":"ps1","address":"10.0.0.5:9443"}],"agents":[{"machine":"web01","process_server":"ps1"}]}`))
	f.Add([]byte("address: cs1:443\nrole: agent\nname: web01\nca: ca.pem\ncert: tls.pem\nkey: tls.key\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeRegistration(b); err == nil && (r.Version != 1 || r.Name == "" || len(r.VaultURLs) == 0) {
			t.Fatalf("accepted registration %+v", r)
		}
		if st, err := decodeState(b); err == nil && st.Version != 1 {
			t.Fatalf("accepted state version %d", st.Version)
		}
		if l, err := ParseLink(b); err == nil && (l.Name == "" || l.CA == "") {
			t.Fatalf("accepted link %+v", l)
		}
	})
}
