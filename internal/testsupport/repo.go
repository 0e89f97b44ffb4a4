package testsupport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rootModule is the first line of the repository root's go.mod; a nested
// module (internal/charttest) has a go.mod of its own.
const rootModule = "module github.com/authz-dev/authz\n"

// RepoPath is a path in the repository (given from its root, slash
// separated), found from the test's working directory: tests read the
// shipped examples, recipes and docs wherever their package sits.
func RepoPath(tb testing.TB, rel string) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if mod, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(mod), rootModule) {
			return filepath.Join(dir, filepath.FromSlash(rel))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("no go.mod of github.com/authz-dev/authz above the test's directory to find %s from", rel)
		}
		dir = parent
	}
}

// ReadRepoFile reads a file of the repository (RepoPath), failing the
// test when it cannot.
func ReadRepoFile(tb testing.TB, rel string) []byte {
	tb.Helper()
	b, err := os.ReadFile(RepoPath(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
