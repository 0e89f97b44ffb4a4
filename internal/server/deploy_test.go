package server

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/testsupport"
)

func findPromtool(t *testing.T) string {
	t.Helper()
	needsProcess(t, "promtool")
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: run `make test` (it installs Debian's prometheus as root) or apt-get install prometheus")
	}
	return p
}

// TestAlertRules: the shipped rules parse, and each fires on the series
// of its test file and stays quiet beside them.
func TestAlertRules(t *testing.T) {
	t.Parallel() // waits on IdPs, processes and clocks, not the CPU
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

// TestDashboardAndRulesNameExportedMetrics: every authz_* metric the
// Grafana dashboard and the alert rules query is one a running authz
// exports, scraped from its /metrics.
func TestDashboardAndRulesNameExportedMetrics(t *testing.T) {
	t.Parallel()
	idp := newIdP(t)
	h := startWith(t, idp, introspectConfig(idp))
	h.waitServing()
	// A JWT, an opaque token and a refused DPoP-bound token: the series
	// that exist only once something happened.
	h.expect(h.check(withToken(h.mint("rsa-1", h.validClaims()))), "allow", 200)
	h.expect(h.check(withToken(idp.IssueOpaque(idp.Claims("alice", time.Hour, "orders:read", "orders-api")))), "allow", 200)
	bound := h.validClaims()
	bound["cnf"] = map[string]any{"jkt": "some-thumbprint"}
	h.expect(h.check(withToken(h.mint("rsa-1", bound))), "invalid", 401)

	resp, err := http.Get("http://" + h.srv.httpLn.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	exported := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		exported[name] = true
	}
	metricName := regexp.MustCompile(`\bauthz_[a-z_]+`)
	for _, file := range []string{testsupport.RepoPath(t, "deploy/grafana/authz.json"), testsupport.RepoPath(t, "deploy/prometheus/alerts.yaml")} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, n := range metricName.FindAllString(string(b), -1) {
			names[n] = true
		}
		if len(names) < 5 {
			t.Fatalf("%s names only %d metrics", file, len(names))
		}
		var missing []string
		for n := range names {
			if !exported[n] {
				missing = append(missing, n)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s names metrics authz does not export: %v", file, missing)
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
