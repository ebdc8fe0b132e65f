package vault

import (
	"os"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestOpenAPIMatchesRoutes: docs/api/openapi.yaml documents exactly the registered routes, each
// with the permission the router enforces.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	b, err := os.ReadFile("../../docs/api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                          `yaml:"openapi"`
		Paths   map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]string{}
	for path, ops := range doc.Paths {
		for method, node := range ops {
			if method == "parameters" {
				continue
			}
			var op struct {
				Perm      string               `yaml:"x-osr-permission"`
				Extra     string               `yaml:"x-osr-extra"` // served through ExtraRoutes, checked by that package
				Responses map[string]yaml.Node `yaml:"responses"`
			}
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			if len(op.Responses) == 0 {
				t.Errorf("%s %s has no responses", method, path)
			}
			if op.Extra != "" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = op.Perm
		}
	}
	svc := &Service{}
	registered := map[string]string{}
	for _, rt := range svc.Routes() {
		registered[rt.Method+" "+rt.Path] = rt.Permission()
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
