package telemetry

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/authz-dev/authz/internal/testsupport"
)

// The shipped alert rules and dashboard read the metrics this package
// exports. (That every series they name is one a running authz exports is
// the server's suite: it scrapes one.)

func findPromtool(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: this test runs promtool")
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: run `make test` (it installs Debian's prometheus as root) or apt-get install prometheus")
	}
	return p
}

// TestAlertRules: the shipped rules parse, and each fires on the series
// of its test file and stays quiet beside them.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	promtool := findPromtool(t)
	dir := testsupport.RepoPath(t, "deploy/prometheus")
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// Each dashboard panel plots one kind of quantity on its axis: bytes,
// seconds, a rate, a ratio or a count, never two of them.
func TestDashboardPanelsKeepOneUnit(t *testing.T) {
	b := testsupport.ReadRepoFile(t, "deploy/grafana/authz.json")
	var dash struct {
		Panels []struct {
			Title       string
			FieldConfig struct{ Defaults struct{ Unit string } }
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	kind := func(expr string) string {
		switch {
		case strings.Contains(expr, "_bytes"):
			return "bytes"
		case strings.HasPrefix(expr, "histogram_quantile") || strings.HasPrefix(expr, "time() -"):
			return "seconds"
		case strings.Contains(expr, ") / sum(rate("):
			return "ratio"
		case strings.Contains(expr, "rate("):
			return "rate"
		}
		return "count"
	}
	want := map[string]string{"bytes": "bytes", "seconds": "s", "ratio": "percentunit", "rate": "ops|reqps", "count": "short"}
	for _, p := range dash.Panels {
		kinds := map[string]bool{}
		for _, tg := range p.Targets {
			kinds[kind(tg.Expr)] = true
		}
		if len(kinds) != 1 {
			t.Errorf("panel %q mixes %v", p.Title, kinds)
			continue
		}
		for k := range kinds {
			if !strings.Contains("|"+want[k]+"|", "|"+p.FieldConfig.Defaults.Unit+"|") {
				t.Errorf("panel %q plots %s with unit %q", p.Title, k, p.FieldConfig.Defaults.Unit)
			}
		}
	}
}
