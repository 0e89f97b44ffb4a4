package layers

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/authz-dev/authz/"

// layer of each package, top down; a package imports only packages of a
// higher number. A new package gets a line here: the test fails until it
// has one.
var layer = map[string]int{
	"cmd/authz":           0,
	"tools/authz-load":    0,
	"tools/chartschema":   0,
	"internal/policytest": 1,
	"internal/server":     2,
	// The doors, and the process's concerns beside them.
	"envoy":                3,
	"internal/forwardauth": 3,
	"internal/leanhttp":    3,
	"internal/config":      3,
	"internal/telemetry":   3,
	// A real core for the tests around it (imported by external test
	// packages only, which may import above).
	"internal/coretest": 3,
	// What a policy names and the core consumes through its interfaces,
	// the validators, and the shared tier.
	"internal/route":         4,
	"internal/rules":         4,
	"internal/sender":        4,
	"internal/tracing":       4,
	"internal/upstreamtoken": 4,
	"internal/proxyprofile":  4,
	"authz/jwt":              4,
	"authz/introspect":       4,
	"authz/apikey":           4,
	"internal/rediscache":    4,
	"internal/resourcemeta":  4,
	"internal/tokenexchange": 4,
	// The core.
	"authz": 5,
	// What the core and the rest stand on.
	"internal/cache":       6,
	"internal/jws":         6,
	"internal/rfc3986":     6,
	"internal/keyfile":     6,
	"internal/buildinfo":   6,
	"internal/dpopproof":   6,
	"internal/testsupport": 6,
	"internal/redistest":   6,
	"internal/otlptest":    6,
	"internal/checktest":   6,
	"internal/testlog":     6,
	"internal/yamlhint":    6,
	"internal/testidp":     7,
	"internal/layers":      7,
}

// No package imports one of its own layer or one above it, in product
// code or tests (an external test package, pkg_test, may import above:
// it is a client of the package).
func TestNoUpwardImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .TestImports \" \"}}", module+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.Split(line, "|")
		pkg := strings.TrimPrefix(parts[0], module)
		from, ok := layer[pkg]
		if !ok {
			t.Errorf("%s has no layer: add it to the table in %s", pkg, "internal/layers/layers_test.go")
			continue
		}
		for _, imp := range strings.Fields(parts[1] + " " + parts[2]) {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours || dep == pkg {
				continue
			}
			to, ok := layer[dep]
			if ok && to <= from {
				t.Errorf("%s (layer %d) imports %s (layer %d): a package imports only lower layers", pkg, from, dep, to)
			}
		}
	}
}
