package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
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
