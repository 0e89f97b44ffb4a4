package config

import "strings"

// Kubernetes makes an issuer a cluster's service-account issuer: its keys
// come from the API server (/openid/v1/jwks), over TLS with the cluster's
// CA and the pod's own token as bearer (the API server asks for one by
// default). issuer is the cluster's --service-account-issuer.
type Kubernetes struct {
	// APIServer (default https://kubernetes.default.svc).
	APIServer string `yaml:"api_server"`
	// CAFile (default the pod's service-account CA).
	CAFile string `yaml:"ca_file"`
	// TokenFile is read on every fetch: projected tokens rotate (default
	// the pod's service-account token).
	TokenFile string `yaml:"token_file"`
}

// In-cluster defaults.
const (
	DefaultAPIServer  = "https://kubernetes.default.svc"
	serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount/"
)

func (k *Kubernetes) setDefaults(is *Issuer) {
	if k.APIServer == "" {
		k.APIServer = DefaultAPIServer
	}
	if k.CAFile == "" {
		k.CAFile = serviceAccountDir + "ca.crt"
	}
	if k.TokenFile == "" {
		k.TokenFile = serviceAccountDir + "token"
	}
	if is.JWKSURL == "" && is.JWKSFile == "" {
		is.JWKSURL = strings.TrimSuffix(k.APIServer, "/") + "/openid/v1/jwks"
	}
}

func (k *Kubernetes) validate(is Issuer, path string, p *problems) {
	if !strings.HasPrefix(k.APIServer, "https://") {
		p.add(path+".api_server", "%q: the API server is asked over https", k.APIServer)
	}
	if is.Discovery {
		p.add(path+".discovery", "the API server's discovery names the issuer's public URL, which a pod may not reach: keys come from api_server's /openid/v1/jwks")
	}
	p.file(k.CAFile, path+".ca_file")
	p.file(k.TokenFile, path+".token_file")
}
