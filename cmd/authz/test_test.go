package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every shipped example with a case file passes its cases: the examples'
// documentation is checked against the code that would serve it.
func TestExamplesPassTheirPolicyTests(t *testing.T) {
	examples, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	for _, e := range examples {
		if _, err := os.Stat(filepath.Join("..", "..", "examples", "tests", filepath.Base(e))); err != nil {
			t.Errorf("%s has no policy cases in examples/tests", filepath.Base(e))
		}
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "tests", "*.yaml"))
	if err != nil || len(files) != len(examples) {
		t.Fatalf("case files %v (%v)", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg := filepath.Join("..", "..", "examples", filepath.Base(f))
			var out, errOut bytes.Buffer
			if code := run([]string{"test", "-config", cfg, f}, &out, &errOut); code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
			}
		})
	}
}

// A case that comes out otherwise fails the run, says what differed, and
// shows in the JUnit report; routes and rules no case reached are named.
func TestPolicyTestSaysWhatDiffered(t *testing.T) {
	dir := t.TempDir()
	cases := filepath.Join(dir, "cases.yaml")
	os.WriteFile(cases, []byte(`cases:
  - name: the catalog is public
    request: { method: GET, path: /catalog/shoes }
    expect: { outcome: allow, route: catalog }
  - name: a wrong expectation
    request: { method: GET, path: /orders/1, destination_principal: "spiffe://cluster.local/ns/shop/sa/orders" }
    expect: { outcome: allow, headers: { x-user-id: rita } }
`), 0o600)
	junit := filepath.Join(dir, "junit.xml")
	var out, errOut bytes.Buffer
	code := run([]string{"test", "-config", filepath.Join("..", "..", "examples", "mesh-routes.yaml"), "-junit", junit, cases}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"FAIL", `outcome missing, want allow; header x-user-id "", want "rita"`, "2 cases, 1 failed",
		"rules no case reached: orders/admin-role, orders/writes-need-scope"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	x, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`tests="2"`, `failures="1"`, `<failure message="outcome missing, want allow`} {
		if !strings.Contains(string(x), want) {
			t.Errorf("JUnit report lacks %q:\n%s", want, x)
		}
	}

	if code := run([]string{"test", "-config", filepath.Join("..", "..", "examples", "mesh-routes.yaml"), filepath.Join(dir, "missing.yaml")}, &out, &errOut); code != 2 {
		t.Errorf("a missing case file: exit %d, want 2", code)
	}
}
