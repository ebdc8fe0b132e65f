package openapicheck

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/opensiterecovery/osr/internal/vault"
)

// Check is one package's share of the document.
type Check struct {
	// Spec is the path of the OpenAPI document.
	Spec string
	// Extra selects the operations marked x-osr-extra with this value; "" selects the vault's
	// own operations (those without the mark), and then every operation of the document must
	// have responses, as the document's owner checks it whole.
	Extra string
	// What names the routes in the failure message ("routes", "failover routes").
	What string
}

// Run fails t unless the document is OpenAPI 3 and documents exactly the registered routes
// ("METHOD /path" to the permission the router enforces), each with its permission and with
// responses.
func (c Check) Run(t testing.TB, registered map[string]string) {
	t.Helper()
	documented, err := c.documented(t)
	if err != nil {
		t.Fatal(err)
	}
	if err := Compare(documented, registered, c.What); err != nil {
		t.Fatal(err)
	}
}

// RunExtra is Run for the routes a package serves through vault.Config.ExtraRoutes.
func (c Check) RunExtra(t testing.TB, routes []vault.ExtraRoute) {
	t.Helper()
	registered := map[string]string{}
	for _, rt := range routes {
		registered[rt.Method+" "+rt.Path] = rt.Permission
	}
	c.Run(t, registered)
}

func (c Check) documented(t testing.TB) (map[string]string, error) {
	t.Helper()
	b, err := os.ReadFile(c.Spec)
	if err != nil {
		return nil, err
	}
	var doc struct {
		OpenAPI string                          `yaml:"openapi"`
		Paths   map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		return nil, fmt.Errorf("openapi version %q", doc.OpenAPI)
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
				return nil, fmt.Errorf("%s %s: %v", method, path, err)
			}
			if op.Extra != c.Extra && c.Extra != "" {
				continue
			}
			if len(op.Responses) == 0 {
				t.Errorf("%s %s has no responses", method, path)
			}
			if op.Extra != c.Extra {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = op.Perm
		}
	}
	return documented, nil
}

// Compare says how documented and registered routes differ ("METHOD /path" to permission), or
// returns nil when they are the same; what names the routes in the message.
func Compare(documented, registered map[string]string, what string) error {
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
	if len(missing)+len(extra)+len(wrong) == 0 {
		return nil
	}
	sort.Strings(missing)
	sort.Strings(extra)
	sort.Strings(wrong)
	return fmt.Errorf("openapi.yaml and the %s differ:\nnot documented: %v\ndocumented, not registered: %v\nwrong permission: %v", what, missing, extra, wrong)
}
