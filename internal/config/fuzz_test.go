package config

import "testing"

// FuzzParse: any bytes are either a config error or a config whose
// defaults are filled; nothing panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("grpc: { addr: \":1\" }\ncache: { ttl: -1s }\n"))
	f.Add([]byte("issuers: [{name: a, issuer: 'https://a/', jwks_file: /x, algorithms: [none]}]"))
	f.Add([]byte("policies: {default: {headers: {sub: host}}}\n&a [*a]"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		if cfg.Cache.NegativeTTL == nil || len(cfg.Issuers) > 0 && cfg.Issuers[0].Leeway == nil {
			t.Fatal("a config passed validation without its defaults")
		}
		if _, ok := cfg.Policies[DefaultPolicy]; !ok {
			t.Fatal("no default policy")
		}
	})
}
