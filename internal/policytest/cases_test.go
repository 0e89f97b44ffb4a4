package policytest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A case file's mistakes are a bad file, named by line, with the key or
// value to write: not Go's type names, not a failing case.
func TestCaseFileMistakes(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ file, want string }{
		"a misspelt key":       {"cases:\n  - name: a\n    request: { method: GET }\n    expekt: { outcome: allow }\n", `line 4: unknown key "expekt"; did you mean "expect"?`},
		"a misspelt inner key": {"cases:\n  - name: a\n    request: { methd: GET }\n    expect: { outcome: allow }\n", `unknown key "methd"; did you mean "method"?`},
		"an unknown outcome":   {"cases:\n  - name: a\n    request: { method: GET }\n    expect: { outcome: allowed }\n", `line 4: case "a": expect.outcome "allowed": use allow, missing, invalid, forbidden, error; did you mean "allow"?`},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		os.WriteFile(path, []byte(c.file), 0o600)
		_, err := ReadFile(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "policytest.") {
			t.Errorf("%s: %v; want %q", name, err, c.want)
		}
	}
}
