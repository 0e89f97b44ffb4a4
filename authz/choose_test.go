package authz

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// pathRouter routes by path prefix, in order.
type pathRouter [][3]string // prefix, route, policy

func (r pathRouter) Route(req *Request) (string, string, bool) {
	for _, e := range r {
		if strings.HasPrefix(req.NormalizedPath(), e[0]) {
			return e[1], e[2], true
		}
	}
	return "", "", false
}

// ruleFunc is Rules from a function.
type ruleFunc func(in *RuleInput) (string, error)

func (f ruleFunc) Eval(_ context.Context, in *RuleInput) (string, error) { return f(in) }

func newRoutedAuthorizer(t *testing.T, unmatched string, rules Rules) (*Authorizer, *countingValidator) {
	t.Helper()
	v := &countingValidator{results: map[string]*Result{
		"good": {Validator: "corp", Claims: map[string]any{"sub": "alice", "tenant": "t1"}, Expiry: time.Now().Add(time.Hour)},
	}}
	bearer := []TokenSource{{Header: "authorization", Scheme: "Bearer"}}
	headers := []ClaimHeader{{Claim: "sub", Header: "x-user-id"}}
	a, err := New(Options{
		Policies: []*Policy{
			{Name: "default", TokenSources: bearer, Validators: []string{"corp"}, Headers: headers},
			{Name: "public", TokenSources: bearer, Validators: []string{"corp"}, Headers: headers, Token: TokenNone},
			{Name: "optional", TokenSources: bearer, Validators: []string{"corp"}, Headers: headers, Token: TokenOptional},
			{Name: "ruled", TokenSources: bearer, Validators: []string{"corp"}, Headers: headers, Rules: rules},
		},
		NamedValidators: map[string]Validator{"corp": v},
		CacheMaxBytes:   1 << 20, TTL: time.Minute, NegativeTTL: time.Minute,
		Router:    pathRouter{{"/public/", "public-route", "public"}, {"/maybe/", "optional-route", "optional"}, {"/ruled/", "ruled-route", "ruled"}, {"/default/", "default-route", "default"}},
		Unmatched: unmatched,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a, v
}

func at(path, token string, hdr ...string) *Request {
	h := MapHeader{}
	if token != "" {
		h["authorization"] = []string{"Bearer " + token}
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		h[hdr[i]] = append(h[hdr[i]], hdr[i+1])
	}
	return &Request{Method: "GET", Host: "shop", Path: path, Header: h}
}

func TestPolicyPrecedence(t *testing.T) {
	a, _ := newRoutedAuthorizer(t, "", nil)
	ctx := context.Background()
	// The operator's explicit name beats the route.
	r := at("/public/x", "")
	r.Policy = "default"
	if d := a.Authorize(ctx, r); d.Outcome != Missing || d.Policy != "default" || d.Route != "" {
		t.Errorf("explicit: %v %s %s", d.Outcome, d.Policy, d.Route)
	}
	if d := a.Authorize(ctx, at("/public/x", "")); d.Outcome != Allow || d.Policy != "public" || d.Route != "public-route" {
		t.Errorf("route: %v %s %s", d.Outcome, d.Policy, d.Route)
	}
	if d := a.Authorize(ctx, at("/elsewhere", "")); d.Outcome != Missing || d.Policy != "default" || d.Route != "" {
		t.Errorf("unmatched → default: %v %s %s", d.Outcome, d.Policy, d.Route)
	}
	// Routes see the path as the upstream will.
	if d := a.Authorize(ctx, at("/public/../default/x", "")); d.Route != "default-route" {
		t.Errorf("/public/../default/x took route %q", d.Route)
	}

	deny, _ := newRoutedAuthorizer(t, UnmatchedDeny, nil)
	if d := deny.Authorize(ctx, at("/elsewhere", "good")); d.Outcome != Forbidden || d.Reason != "no route" {
		t.Errorf("unmatched → deny: %v %s", d.Outcome, d.Reason)
	}
	if d := deny.Authorize(ctx, at("/public/..%2Fdefault", "")); d.Outcome != Forbidden || !strings.Contains(d.Reason, "encoded slash") {
		t.Errorf("encoded slash: %v %s", d.Outcome, d.Reason)
	}
}

func TestTokenModes(t *testing.T) {
	a, v := newRoutedAuthorizer(t, "", nil)
	ctx := context.Background()
	spoof := []string{"x-user-id", "mallory", "x_user_id", "mallory"}
	cases := []struct {
		name, path, token string
		want              Outcome
	}{
		{"none: no token passes", "/public/x", "", Allow},
		{"none: a bad token is not even looked at", "/public/x", "junk", Allow},
		{"optional: no token passes", "/maybe/x", "", Allow},
		{"optional: a good token passes", "/maybe/x", "good", Allow},
		{"optional: a bad token is invalid", "/maybe/x", "junk", Invalid},
		{"required: no token is missing", "/default/x", "", Missing},
	}
	for _, c := range cases {
		before := v.calls.Load()
		d := a.Authorize(ctx, at(c.path, c.token, spoof...))
		if d.Outcome != c.want {
			t.Errorf("%s: %v (%s)", c.name, d.Outcome, d.Reason)
			continue
		}
		if c.path == "/public/x" && v.calls.Load() != before {
			t.Errorf("%s: the token was validated", c.name)
		}
		if d.Outcome != Allow {
			continue
		}
		anonymous := c.token == "" || c.path == "/public/x"
		for _, h := range d.Headers {
			if h.Name == "x-user-id" && (anonymous || h.Value != "alice") {
				t.Errorf("%s: x-user-id = %q", c.name, h.Value)
			}
		}
		removed := strings.Join(d.RemoveHeaders, ",")
		if anonymous && (!strings.Contains(removed, "x-user-id") || !strings.Contains(removed, "x_user_id")) {
			t.Errorf("%s: client copies of claim headers not removed: %q", c.name, removed)
		}
	}
}

func TestRulesDecideAfterTheToken(t *testing.T) {
	var seen *RuleInput
	rules := ruleFunc(func(in *RuleInput) (string, error) {
		seen = in
		switch in.Request.Header.Values("x-tenant")[0] {
		case "t1":
			return "", nil
		case "boom":
			return "tenant-matches", errors.New("no such key: tenant")
		}
		return "tenant-matches", nil
	})
	a, _ := newRoutedAuthorizer(t, "", rules)
	ctx := context.Background()
	if d := a.Authorize(ctx, at("/ruled/x", "good", "x-tenant", "t1")); d.Outcome != Allow || seen.Claims["sub"] != "alice" || seen.Validator != "corp" {
		t.Errorf("rule true: %v %s", d.Outcome, d.Reason)
	}
	if d := a.Authorize(ctx, at("/ruled/x", "good", "x-tenant", "t2")); d.Outcome != Forbidden || d.Rule != "tenant-matches" || !strings.Contains(d.Reason, "does not hold") {
		t.Errorf("rule false: %v %s %s", d.Outcome, d.Rule, d.Reason)
	}
	if d := a.Authorize(ctx, at("/ruled/x", "good", "x-tenant", "boom")); d.Outcome != Forbidden || d.Rule != "tenant-matches" || !strings.Contains(d.Reason, "could not be evaluated") {
		t.Errorf("rule error: %v %s %s", d.Outcome, d.Rule, d.Reason)
	}
	if d := a.Authorize(ctx, at("/ruled/x", "", "x-tenant", "t1")); d.Outcome != Missing {
		t.Errorf("rules never run before the token: %v", d.Outcome)
	}
}

// A path whose ";params" change the route — cut, as servlet containers
// do, or kept, as nginx, WHATWG parsers and Go do — is refused; params that
// do not change it pass.
func TestPathParametersThatChangeTheRouteAreRefused(t *testing.T) {
	a, _ := newRoutedAuthorizer(t, "", nil)
	for target, refused := range map[string]bool{
		"/public;/":              true,
		"/public;x/y":            true,
		"/public/x;jsessionid=1": false,
		"/public/x":              false,
		"/orders;x=1":            false, // unrouted either way
	} {
		d := a.Authorize(context.Background(), at(target, ""))
		if got := d.Outcome == Forbidden && d.Reason == "path parameters change the route"; got != refused {
			t.Errorf("%s: %s (%s), want refused=%v", target, d.Outcome, d.Reason, refused)
		}
	}
}

func TestPathVariantsThatChangeTheRouteAreRefused(t *testing.T) {
	router := pathRouter{{"/admin/", "admin-route", "default"}, {"/public/", "public-route", "public"}}
	exact := exactRouter{"/orders/export": {"export-route", "default"}}
	for _, c := range []struct {
		router  Router
		strict  bool
		target  string
		refused string
	}{
		{router, false, "/ADMIN/users", "path routes differently in another letter case"},
		{router, false, "/Admin/users/", "path routes differently in another letter case"},
		{router, true, "/ADMIN/users", ""}, // strict upstreams: as written only
		{router, false, "/public/Shoes", ""},
		{router, false, "/public", "path routes differently with or without its trailing slash"}, // /public/ is routed, /public is not
		{router, false, "/admin/x/", ""},                                                         // both ways the admin route
		{exact, false, "/orders/export/", "path routes differently with or without its trailing slash"},
		{exact, false, "/Orders/Export", "path routes differently in another letter case"},
		{exact, true, "/orders/export/", ""},
		{exact, false, "/orders/export", ""},
	} {
		a, err := New(Options{
			Policies: []*Policy{
				{Name: "default", TokenSources: []TokenSource{{Header: "authorization", Scheme: "Bearer"}}},
				{Name: "public", Token: TokenNone},
			},
			CacheMaxBytes: 1 << 20, TTL: time.Minute, NegativeTTL: time.Minute,
			Router: c.router, StrictUpstreamPaths: c.strict,
		})
		if err != nil {
			t.Fatal(err)
		}
		d := a.Authorize(context.Background(), at(c.target, ""))
		a.Close()
		if c.refused != "" && (d.Outcome != Forbidden || d.Reason != c.refused) {
			t.Errorf("%s (strict %v): %s (%s), want refused: %s", c.target, c.strict, d.Outcome, d.Reason, c.refused)
		}
		if c.refused == "" && strings.HasPrefix(d.Reason, "path routes differently") {
			t.Errorf("%s (strict %v): refused (%s)", c.target, c.strict, d.Reason)
		}
	}
}

// exactRouter routes exact paths.
type exactRouter map[string][2]string

func (r exactRouter) Route(req *Request) (string, string, bool) {
	e, ok := r[req.NormalizedPath()]
	return e[0], e[1], ok
}

func TestLowerCaseMethodsAreRefused(t *testing.T) {
	a, _ := newRoutedAuthorizer(t, "", nil)
	for method, refused := range map[string]bool{"get": true, "Get": true, "GET": false, "VERSION-CONTROL": false, "G ET": true} {
		r := at("/public/x", "")
		r.Method = method
		d := a.Authorize(context.Background(), r)
		if got := d.Reason == "method is not an upper-case token"; got != refused {
			t.Errorf("%q: %s (%s), want refused=%v", method, d.Outcome, d.Reason, refused)
		}
	}
}

func TestEncodedSlashesAreRefusedWhateverNamesThePolicy(t *testing.T) {
	a, _ := newRoutedAuthorizer(t, "", nil)
	r := at("/admin%2Fusers", "good")
	r.Policy = "ruled" // named by the proxy: rules still read the path
	if d := a.Authorize(context.Background(), r); d.Outcome != Forbidden || d.Reason != "encoded slash or backslash in path" {
		t.Errorf("%s (%s)", d.Outcome, d.Reason)
	}
}
