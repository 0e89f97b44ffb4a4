package server

import (
	"fmt"
	"net/http"

	"github.com/authz-dev/authz/authz/jwt"
	"github.com/authz-dev/authz/internal/config"
)

// kubernetesClient asks a cluster's API server with the cluster's CA and
// the pod's own service-account token (jwt.KubernetesClient).
func kubernetesClient(k *config.Kubernetes) (*http.Client, error) {
	tlsCfg, err := ClientTLS(k.CAFile, "", "")
	if err != nil {
		return nil, fmt.Errorf("kubernetes ca_file: %w", err)
	}
	return jwt.KubernetesClient(tlsCfg, k.TokenFile), nil
}
