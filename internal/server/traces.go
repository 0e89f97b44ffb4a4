package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/telemetry"
	"github.com/authz-dev/authz/internal/tracing"
)

// newTraces starts the span exporter the config asks for (or none): its
// settings whole, with the TLS their files make.
func newTraces(tc config.Tracing, m *telemetry.Metrics, log *slog.Logger) (*tracing.Provider, error) {
	opts := tracing.Options{Settings: tc, OnDrop: m.ObserveSpansDropped, Logger: log}
	if tc.OTLPEndpoint != "" && !tc.Insecure {
		tlsCfg, err := ClientTLS(tc.CAFile, tc.CertFile, tc.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tracing: %w", err)
		}
		if tlsCfg == nil {
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12} // the system's roots
		}
		opts.TLS = tlsCfg
	}
	return tracing.New(context.Background(), opts)
}
