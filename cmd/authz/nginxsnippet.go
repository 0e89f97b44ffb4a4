package main

import (
	"fmt"
	"io"
	"net/textproto"
	"strings"

	"github.com/authz-dev/authz/internal/config"
)

// cmdNginxSnippet prints the auth_request_set and proxy_set_header lines
// that carry every header the config writes to nginx's backend: nginx
// cannot pass "every header authz answered" by itself.
func cmdNginxSnippet(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("nginx-snippet", "print the nginx lines that pass every header the config writes to the backend", stderr)
	path := fs.String("config", "", "config file (YAML)")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if *path == "" {
		fmt.Fprintln(stderr, "authz nginx-snippet: -config is required")
		return 2
	}
	cfg, err := config.LoadOffline(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprint(stdout, nginxSnippet(cfg.WrittenHeaders()))
	return 0
}

// nginxSnippet is the lines for headers, in the shipped snippet's naming:
// $authz_<name without x->, from $upstream_http_<name>.
func nginxSnippet(headers []string) string {
	var b strings.Builder
	fmt.Fprintln(&b, "# Claims from authz's answer to the backend: in each location with auth_request.")
	for _, h := range headers {
		v := nginxVar(h)
		fmt.Fprintf(&b, "auth_request_set $authz_%s $upstream_http_%s;\n", v, strings.ReplaceAll(h, "-", "_"))
	}
	for _, h := range headers {
		fmt.Fprintf(&b, "proxy_set_header %s $authz_%s;\n", textproto.CanonicalMIMEHeaderKey(h), nginxVar(h))
	}
	return b.String()
}

func nginxVar(header string) string {
	return strings.ReplaceAll(strings.TrimPrefix(header, "x-"), "-", "_")
}
