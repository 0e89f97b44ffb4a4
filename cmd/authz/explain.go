package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/proxyprofile"
	"github.com/authz-dev/authz/internal/server"
)

// explainRoutes prints the route table in the order it is tried: which
// route catches what, and what its policy demands.
func explainRoutes(w io.Writer, cfg *config.Config) {
	fmt.Fprintln(w, "Policy choice, first that applies:")
	fmt.Fprintln(w, "  1. Envoy's context_extensions[\"policy\"] (or the HTTP door's http.policy_from:", orNone(cfg.HTTP.PolicyFrom, proxyprofile.PolicyFromHeader)+")")
	if len(cfg.Routes) == 0 {
		fmt.Fprintln(w, "  2. no routes: every other request gets the default policy")
		return
	}
	fmt.Fprintln(w, "  2. the first route whose match holds:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fragments := len(cfg.Fragments) > 0
	header := "     #\troute\tmatch\tpolicy\ttoken\trules"
	if fragments {
		header += "\twritten in"
	}
	fmt.Fprintln(tw, header)
	for i, r := range cfg.Routes {
		p := cfg.Policies[r.Policy]
		row := fmt.Sprintf("     %d\t%s\t%s\t%s\t%s\t%s", i+1, r.Name, describeMatch(r.Match), r.Policy, p.Token, ruleNames(p.Rules))
		if fragments {
			row += "\t" + cfg.RouteOrigin(i)
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()
	unmatched := orNone(cfg.Routing.Unmatched, config.DefaultPolicy)
	if unmatched == authz.UnmatchedDeny {
		// The status the forbidden outcome is answered with, as the
		// server's answers have it.
		status := server.AnswersFrom(cfg).Status(authz.Forbidden)
		fmt.Fprintf(w, "  3. no route matched: deny (%d, reason \"no route\")\n", status)
	} else {
		fmt.Fprintf(w, "  3. no route matched: policy %s (token %s)\n", unmatched, cfg.Policies[unmatched].Token)
	}
	if cfg.Routing.EncodedSlashes != "keep" {
		fmt.Fprintln(w, "  A path holding %2F or %5C is denied (routes_encoded_slashes: reject).")
	}
}

func describeMatch(m config.RouteMatch) string {
	var parts []string
	add := func(k string, vs ...string) {
		if len(vs) > 0 && !(len(vs) == 1 && vs[0] == "") {
			parts = append(parts, k+"="+strings.Join(vs, ","))
		}
	}
	add("hosts", m.Hosts...)
	add("path", m.Path)
	add("path_prefix", m.PathPrefix)
	add("path_regex", m.PathRegex)
	if m.PathIgnoreCase {
		parts = append(parts, "path_ignore_case")
	}
	add("methods", m.Methods...)
	add("source", m.SourcePrincipals...)
	add("destination", m.DestinationPrincipals...)
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		parts = append(parts, "header "+k+"="+m.Headers[k])
	}
	return strings.Join(parts, " ")
}

// ruleNames lists rules, each inherited one with the policy it was
// written on.
func ruleNames(rs []config.Rule) string {
	if len(rs) == 0 {
		return "-"
	}
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Name
		if r.From != "" {
			names[i] += " (from " + r.From + ")"
		}
	}
	return strings.Join(names, ",")
}

// explainPolicies prints every policy: what it extends, its token mode,
// scopes and rules, each rule with where it was written.
func explainPolicies(w io.Writer, cfg *config.Config) {
	fmt.Fprintln(w, "Policies (fields left out come from the policy extended):")
	names := slices.Sorted(maps.Keys(cfg.Policies))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fragments := len(cfg.Fragments) > 0
	header := "  policy\textends\ttoken\tscopes\trules\tupstream token"
	if fragments {
		header += "\twritten in"
	}
	fmt.Fprintln(tw, header)
	for _, name := range names {
		p := cfg.Policies[name]
		ext := orNone(p.Extends, config.DefaultPolicy)
		if name == config.DefaultPolicy {
			ext = "-"
		}
		row := fmt.Sprintf("  %s\t%s\t%s\t%s\t%s\t%s", name, ext, p.Token, orNone(strings.Join(p.RequireScopes, ","), "-"), ruleNames(p.Rules), upstreamToken(p.UpstreamToken))
		if fragments {
			row += "\t" + orNone(cfg.PolicyOrigin(name), "(built in)")
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()
}

// upstreamToken says what a policy hands its upstream besides headers.
func upstreamToken(t *config.UpstreamToken) string {
	switch {
	case !t.Mints():
		return "-"
	case t.Source == config.SourceIdP:
		return "IdP's signed answer in " + t.Header
	}
	return "minted for " + t.Audience + " in " + t.Header
}

func orNone(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
