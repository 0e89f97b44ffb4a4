package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/testsupport"
)

// yamlKeys lists every key of the config file, as docs/configuration.md
// writes them (lists as key[], a policy as policies.NAME).
func yamlKeys(tp reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < tp.NumField(); i++ {
		f := tp.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")
		if tag[0] == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if len(tag) > 1 && tag[1] == "inline" {
			out = append(out, yamlKeys(ft, prefix)...)
			continue
		}
		key := prefix + tag[0]
		switch {
		case ft == reflect.TypeOf(time.Duration(0)):
			out = append(out, key)
		case ft.Kind() == reflect.Struct:
			out = append(out, yamlKeys(ft, key+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(append(out, key), yamlKeys(ft.Elem(), key+"[].")...)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			out = append(append(out, key), yamlKeys(ft.Elem(), key+".NAME.")...)
		default:
			out = append(out, key)
		}
	}
	return out
}

// Every key the decoder accepts has its row in the reference, and every
// row names a key the decoder accepts.
func TestReferenceTableListsEveryKey(t *testing.T) {
	b := testsupport.ReadRepoFile(t, "docs/configuration.md")
	doc := string(b)
	keys := yamlKeys(reflect.TypeOf(Config{}), "")
	known := map[string]bool{}
	for _, k := range keys {
		known[k] = true
		if !strings.Contains(doc, "| `"+k+"` |") {
			t.Errorf("docs/configuration.md has no row for %s", k)
		}
	}
	for _, line := range strings.Split(doc, "\n") {
		if k, ok := strings.CutPrefix(line, "| `"); ok {
			k, _, _ = strings.Cut(k, "`")
			if !known[k] {
				t.Errorf("docs/configuration.md documents %s, which the decoder does not know", k)
			}
		}
	}
}

// One truth on statuses behind nginx: keep the defaults (the shipped
// recipe carries the challenges and answers JSON). The old advice —
// invalid as 403, error as 401 — dropped the challenge and sent clients
// to log in whenever the IdP was down; no page may give it again except
// to say it was wrong.
func TestDocsDoNotAdviseTheOldNginxStatuses(t *testing.T) {
	files, err := filepath.Glob(testsupport.RepoPath(t, "docs/*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("docs: %v", err)
	}
	files = append(files, testsupport.RepoPath(t, "README.md"))
	examples, _ := filepath.Glob(testsupport.RepoPath(t, "examples/*.yaml"))
	files = append(files, examples...)
	old := regexp.MustCompile(`(?i)(\(40[13] behind nginx\)|invalid:\s*\{\s*status:\s*403|error:\s*\{\s*status:\s*401)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if old.MatchString(line) && !strings.Contains(line, "older advice") {
				t.Errorf("%s:%d gives the old nginx status advice: %s", filepath.Base(f), i+1, strings.TrimSpace(line))
			}
		}
	}
}
