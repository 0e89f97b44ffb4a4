package server

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/authz-dev/authz/internal/config"
)

// kubernetesClient asks a cluster's API server: TLS with the cluster's CA,
// and the pod's own service-account token as bearer, read again for every
// request (projected tokens rotate).
func kubernetesClient(k *config.Kubernetes) (*http.Client, error) {
	tlsCfg, err := ClientTLS(k.CAFile, "", "")
	if err != nil {
		return nil, fmt.Errorf("kubernetes ca_file: %w", err)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tlsCfg
	return &http.Client{Transport: &bearerFromFile{next: t, file: k.TokenFile}}, nil
}

// bearerFromFile adds Authorization: Bearer <the file's content>.
type bearerFromFile struct {
	next http.RoundTripper
	file string
}

func (b *bearerFromFile) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := os.ReadFile(b.file)
	if err != nil {
		return nil, fmt.Errorf("service-account token: %w", err)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	return b.next.RoundTrip(r)
}
