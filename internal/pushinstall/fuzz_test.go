package pushinstall

import (
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParseAnswers: an answer file that parses re-encodes to one that parses the same.
func FuzzParseAnswers(f *testing.F) {
	f.Add([]byte("config_server: cs.example.com:443\npassphrase_file: /root/pass\ndisks: [sda=/dev/sda]\n"))
	f.Add([]byte("config_server: cs\npassphrase_file: p\nmachine: web01\ndisks: [sda=/dev/sda, sdb=/dev/sdb]\nroot: /\nservice: none\n"))
	f.Add([]byte("config_server: cs\nunknown: 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAnswers(b)
		if err != nil {
			return
		}
		out, err := yaml.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseAnswers(out)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(a, again) {
			t.Fatalf("not stable: %+v %+v", a, again)
		}
	})
}
