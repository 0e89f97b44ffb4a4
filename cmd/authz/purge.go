package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authz-dev/authz/internal/server"
)

// cmdPurge asks a replica's admin listener to purge a token.
func cmdPurge(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("purge", "forget a token on every replica, through a replica's admin listener", stderr)
	addr := fs.String("addr", "127.0.0.1:9292", "admin listener address")
	token := fs.String("token", "", "the token to purge")
	caFile := fs.String("ca", "", "use TLS, trusting this CA file")
	certFile := fs.String("cert", "", "client certificate (mTLS)")
	keyFile := fs.String("key", "", "client key (mTLS)")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if *token == "" {
		fmt.Fprintln(stderr, "authz purge: -token is required")
		return 2
	}
	scheme := "http"
	client := &http.Client{Timeout: 5 * time.Second}
	if *caFile != "" || *certFile != "" {
		tlsCfg, err := server.ClientTLS(*caFile, *certFile, *keyFile)
		if err != nil {
			fmt.Fprintf(stderr, "authz purge: %v\n", err)
			return 2
		}
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: tlsCfg}
	}
	resp, err := client.Post(scheme+"://"+*addr+"/admin/purge", "application/x-www-form-urlencoded", strings.NewReader(url.Values{"token": {*token}}.Encode()))
	if err != nil {
		fmt.Fprintf(stderr, "authz purge: %v\n", err)
		return 2
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var rep struct {
		Purged      bool   `json:"purged"`
		CachedHere  bool   `json:"cached_here"`
		Shared      bool   `json:"shared"`
		Subscribers int64  `json:"subscribers"`
		Description string `json:"error_description"`
	}
	if resp.StatusCode/100 != 2 || json.Unmarshal(body, &rep) != nil || !rep.Purged {
		fmt.Fprintf(stderr, "authz purge: %d %s\n", resp.StatusCode, strings.TrimSpace(string(body)))
		return 1
	}
	cached := "it held no result for the token"
	if rep.CachedHere {
		cached = "it held a result for the token"
	}
	if rep.Shared {
		fmt.Fprintf(stdout, "purged on this replica (%s) and in Redis; published to %d subscriber(s)\n", cached, rep.Subscribers)
	} else {
		fmt.Fprintf(stdout, "purged on this replica only (%s): no shared cache is configured\n", cached)
	}
	return 0
}
