package recoveryplan

import (
	"os"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestOpenAPIMatchesRoutes: docs/api/openapi.yaml documents exactly these routes (the operations
// marked x-osr-extra: recovery-plans), each with the permission the router enforces.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	b, err := os.ReadFile("../../docs/api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for path, ops := range doc.Paths {
		for method, node := range ops {
			if method == "parameters" {
				continue
			}
			var op struct {
				Perm      string               `yaml:"x-osr-permission"`
				Extra     string               `yaml:"x-osr-extra"`
				Responses map[string]yaml.Node `yaml:"responses"`
			}
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			if op.Extra != "recovery-plans" {
				continue
			}
			if len(op.Responses) == 0 {
				t.Errorf("%s %s has no responses", method, path)
			}
			documented[strings.ToUpper(method)+" "+path] = op.Perm
		}
	}
	registered := map[string]string{}
	for _, rt := range (&API{}).Routes() {
		registered[rt.Method+" "+rt.Path] = rt.Permission
	}
	var missing, extra, wrong []string
	for k, p := range registered {
		dp, ok := documented[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case dp != p:
			wrong = append(wrong, k+": documented "+dp+", enforced "+p)
		}
	}
	for k := range documented {
		if _, ok := registered[k]; !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	sort.Strings(wrong)
	if len(missing)+len(extra)+len(wrong) > 0 {
		t.Fatalf("openapi.yaml and the routes differ:\nnot documented: %v\ndocumented, not registered: %v\nwrong permission: %v", missing, extra, wrong)
	}
}
