package config

import (
	"strings"
	"testing"
)

func TestTemplatedIssuerConfig(t *testing.T) {
	issuer := func(body string) string {
		return "issuers:\n  - name: entra\n" + body + "policies:\n  default: {}\n"
	}
	for name, c := range map[string]struct{ yaml, want string }{
		"no tenants":           {issuer("    issuer: https://login.example.com/{tenant}/v2.0\n    jwks_url: https://login.example.com/keys\n"), "list its tenants"},
		"discovery":            {issuer("    issuer: https://login.example.com/{tenant}/v2.0\n    discovery: true\n    tenants: [contoso]\n"), "issuers.0.discovery: a templated issuer"},
		"tenants, no template": {issuer("    issuer: https://login.example.com/contoso/v2.0\n    jwks_url: https://login.example.com/keys\n    tenants: [contoso]\n"), "issuers.0.tenants"},
		"part of a segment":    {issuer("    issuer: https://login.example.com/t-{tenant}/v2.0\n    jwks_url: https://login.example.com/keys\n    tenants: [contoso]\n"), "whole path segment"},
	} {
		if _, err := Parse([]byte(c.yaml)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want %q", name, err, c.want)
		}
	}
	cfg, err := Parse([]byte(issuer("    issuer: https://login.example.com/{tenant}/v2.0\n    jwks_url: https://login.example.com/keys\n    tenants: [\"*\"]\n")))
	if err != nil || !strings.Contains(strings.Join(cfg.Warnings, "\n"), "admits every tenant") {
		t.Errorf("any tenant: %v, warnings %v", err, cfg.Warnings)
	}
}
