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

// newTraces starts the span exporter the config asks for (or none).
func newTraces(tc config.Tracing, m *telemetry.Metrics, log *slog.Logger) (*tracing.Provider, error) {
	opts := tracing.Options{
		Endpoint: tc.OTLPEndpoint, Insecure: tc.Insecure, Ratio: *tc.Ratio, FollowParent: tc.Parent == "follow",
		ServiceName: tc.ServiceName, Attributes: tc.ResourceAttributes,
		BatchTimeout: tc.BatchTimeout, MaxQueue: tc.MaxQueue, ExportTimeout: tc.ExportTimeout,
		OnDrop: m.ObserveSpansDropped, Logger: log,
	}
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
