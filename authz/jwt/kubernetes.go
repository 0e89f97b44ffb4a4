package jwt

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Kubernetes service-account tokens carry who they are for under
// "kubernetes.io": the namespace, the service account, and for a token
// bound to a pod, the pod and its node. The key has a dot, which claim
// paths in rules and headers read as nesting, so a Kubernetes issuer's
// results carry them again under plain names.
const (
	ClaimNamespace         = "k8s_namespace"
	ClaimServiceAccount    = "k8s_service_account"
	ClaimServiceAccountUID = "k8s_service_account_uid"
	ClaimPod               = "k8s_pod"
	ClaimPodUID            = "k8s_pod_uid"
	ClaimNode              = "k8s_node"
)

// flattenKubernetes copies the kubernetes.io claims to their plain names;
// false when the token is not a service-account token (no namespace or
// service account).
func flattenKubernetes(claims map[string]any) bool {
	k, ok := claims["kubernetes.io"].(map[string]any)
	if !ok {
		return false
	}
	str := func(m any, key string) string {
		mm, _ := m.(map[string]any)
		s, _ := mm[key].(string)
		return s
	}
	ns, _ := k["namespace"].(string)
	sa := str(k["serviceaccount"], "name")
	if ns == "" || sa == "" {
		return false
	}
	for name, v := range map[string]string{
		ClaimNamespace: ns, ClaimServiceAccount: sa, ClaimServiceAccountUID: str(k["serviceaccount"], "uid"),
		ClaimPod: str(k["pod"], "name"), ClaimPodUID: str(k["pod"], "uid"), ClaimNode: str(k["node"], "name"),
	} {
		if v != "" {
			claims[name] = v
		}
	}
	return true
}

// KubernetesClient asks a cluster's API server for its service-account
// keys: TLS as tlsCfg says (the cluster's CA), and the pod's own
// service-account token from tokenFile as bearer, read again for every
// request (projected tokens rotate).
func KubernetesClient(tlsCfg *tls.Config, tokenFile string) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tlsCfg
	return &http.Client{Transport: &bearerFromFile{next: t, file: tokenFile}}
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
