package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/authz-dev/authz/authz"
)

func TestDecisionLog(t *testing.T) {
	allow := &authz.Decision{Outcome: authz.Allow, Policy: "default", TokenID: "abcd1234", Claims: map[string]any{"email": "a@example.com"}}
	deny := &authz.Decision{Outcome: authz.Invalid, Policy: "default", Reason: "invalid token: token expired", TokenID: "abcd1234"}
	cases := []struct {
		name      string
		opts      LogOptions
		d         *authz.Decision
		lines     int
		wantClaim bool
	}{
		{"non-allow always logged", LogOptions{}, deny, 1, false},
		{"allow not logged by default", LogOptions{}, allow, 0, false},
		{"allow logged when asked", LogOptions{Allow: true, AllowSample: 1}, allow, 1, false},
		{"allow_sample 0 logs no allow", LogOptions{Allow: true, AllowSample: 0}, allow, 0, false},
		{"claims only when asked", LogOptions{Allow: true, AllowSample: 1, Claims: true}, allow, 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			o := NewObserver(slog.New(slog.NewJSONHandler(&buf, nil)), NewMetrics([]string{"default"}, testDoors), c.opts, nil, nil, testDoors)
			o.CheckStarted(context.Background(), "grpc", authz.MapHeader{})
			o.CheckDone(context.Background(), c.d, "grpc", strings.Repeat("r", 500), 0)
			if got := strings.Count(buf.String(), "\n"); got != c.lines {
				t.Fatalf("%d lines, want %d: %s", got, c.lines, buf.String())
			}
			if got := strings.Contains(buf.String(), "a@example.com"); got != c.wantClaim {
				t.Errorf("claims in log = %v, want %v", got, c.wantClaim)
			}
			if c.lines == 1 && (!strings.Contains(buf.String(), `"token":"abcd1234"`) || !strings.Contains(buf.String(), `"latency_ms":0`) || strings.Contains(buf.String(), strings.Repeat("r", 129))) {
				t.Errorf("line: %s", buf.String())
			}
		})
	}
	t.Run("allow sampled", func(t *testing.T) {
		var buf bytes.Buffer
		o := NewObserver(slog.New(slog.NewJSONHandler(&buf, nil)), nil, LogOptions{Allow: true, AllowSample: 0.1}, nil, nil, testDoors)
		for range 2000 {
			o.CheckDone(context.Background(), allow, "grpc", "", 0)
		}
		if n := strings.Count(buf.String(), "\n"); n < 100 || n > 300 {
			t.Errorf("%d of 2000 allows logged at a 0.1 sample", n)
		}
	})
}

var testDoors = []Door{{Name: "grpc", Span: "authz.Check"}, {Name: "http", Span: "authz.forward_auth"}}
