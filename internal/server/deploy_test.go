package server

import (
	"bufio"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/internal/testsupport"
)

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
