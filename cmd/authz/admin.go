package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// purger is what the admin listener needs from the core.
type purger interface {
	Purge(ctx context.Context, token string) error
}

// adminHandler serves POST /admin/purge: token=… in a form body. The token
// is forgotten on this replica at once and, with Redis, on every replica
// within a second (pub/sub), for a global logout that must not wait out the
// cache TTL.
func adminHandler(p purger, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/purge", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		token := r.PostFormValue("token")
		w.Header().Set("Content-Type", "application/json")
		if token == "" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_request","error_description":"form field token is required"}`)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := p.Purge(ctx, token); err != nil {
			log.Warn("purge reached this replica only", "err", err)
			w.WriteHeader(http.StatusBadGateway)
			json.NewEncoder(w).Encode(map[string]string{"error": "partial", "error_description": "purged on this replica; the shared cache could not be told: " + err.Error()})
			return
		}
		io.WriteString(w, `{"purged":true}`)
	})
	return mux
}

// cmdPurge asks a replica's admin listener to purge a token.
func cmdPurge(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9292", "admin listener address")
	token := fs.String("token", "", "the token to purge")
	caFile := fs.String("ca", "", "use TLS, trusting this CA file")
	certFile := fs.String("cert", "", "client certificate (mTLS)")
	keyFile := fs.String("key", "", "client key (mTLS)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *token == "" {
		fmt.Fprintln(stderr, "authz purge: -token is required")
		return 2
	}
	scheme := "http"
	client := &http.Client{Timeout: 5 * time.Second}
	if *caFile != "" || *certFile != "" {
		tlsCfg, err := clientTLS(*caFile, *certFile, *keyFile)
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
	fmt.Fprintf(stdout, "%d %s\n", resp.StatusCode, strings.TrimSpace(string(body)))
	if resp.StatusCode/100 != 2 {
		return 1
	}
	return 0
}
