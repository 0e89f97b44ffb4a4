package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/authz-dev/authz/authz"
)

// purger is what the admin listener needs from the core.
type purger interface {
	Purge(ctx context.Context, token string) (authz.PurgeReport, error)
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
		sum := sha256.Sum256([]byte(token))
		rep, err := p.Purge(ctx, token)
		// An admin action: who asked, and which token (its hash prefix, as
		// the decision log names tokens).
		log.Info("purge", "token", hex.EncodeToString(sum[:4]), "remote", r.RemoteAddr, "cached_here", rep.CachedHere, "shared", rep.Shared, "subscribers", rep.Subscribers, "err", err)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			json.NewEncoder(w).Encode(map[string]any{"error": "partial", "error_description": "purged on this replica; the shared cache could not be told: " + err.Error(), "cached_here": rep.CachedHere})
			return
		}
		json.NewEncoder(w).Encode(struct {
			Purged bool `json:"purged"`
			authz.PurgeReport
		}{true, rep})
	})
	return mux
}
