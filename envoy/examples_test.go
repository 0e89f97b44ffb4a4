package envoy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authz-dev/authz/envoy"
	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testsupport"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	// The typed_config types envoy.yaml uses must be registered to decode.
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// The shipped Envoy example decodes strictly into a Bootstrap and passes
// Envoy's own validation rules, so it cannot rot silently.
func TestEnvoyExamplesAreValidBootstraps(t *testing.T) {
	for file, mustHave := range map[string][]string{
		"envoy.yaml":      {`"context_extensions":{"policy":"orders-write"}`, `"envoy_grpc":`},
		"envoy-http.yaml": {`"path_prefix":"/check"`, `"allowed_upstream_headers":`},
	} {
		t.Run(file, func(t *testing.T) {
			docs := yamlDocs(t, shipped(t, file))
			if len(docs) != 1 {
				t.Fatalf("want one document, got %d", len(docs))
			}
			js, err := json.Marshal(docs[0])
			if err != nil {
				t.Fatal(err)
			}
			var bs bootstrapv3.Bootstrap
			if err := protojson.Unmarshal(js, &bs); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if err := validateDeep(&bs); err != nil {
				t.Fatalf("validate: %v", err)
			}
			// The ext_authz timeout must exceed authz's default IdP timeout (2s).
			if !bytes.Contains(js, []byte(`"timeout":"3s"`)) {
				t.Error("the ext_authz timeout must be set above authz's IdP timeout")
			}
			for _, m := range mustHave {
				if !bytes.Contains(js, []byte(m)) {
					t.Errorf("example lacks %s", m)
				}
			}
		})
	}
}

func TestIstioExampleNamesOneProviderAndRoutesByPrincipal(t *testing.T) {
	docs := yamlDocs(t, shipped(t, "istio.yaml"))
	if len(docs) != 3 {
		t.Fatalf("want 3 documents, got %d", len(docs))
	}
	var mesh struct {
		Spec struct {
			MeshConfig struct {
				ExtensionProviders []struct {
					Name              string
					EnvoyExtAuthzGrpc struct {
						Service string
						Port    int
					} `json:"envoyExtAuthzGrpc"`
				} `json:"extensionProviders"`
			} `json:"meshConfig"`
		}
	}
	var policy struct {
		Kind string
		Spec struct {
			Action   string
			Provider struct{ Name string }
		}
	}
	reencode(t, docs[0], &mesh)
	reencode(t, docs[1], &policy)
	providers := mesh.Spec.MeshConfig.ExtensionProviders
	if len(providers) != 1 || providers[0].EnvoyExtAuthzGrpc.Port != 9191 || providers[0].EnvoyExtAuthzGrpc.Service == "" {
		t.Fatalf("extension provider: %+v", providers)
	}
	if policy.Kind != "AuthorizationPolicy" || policy.Spec.Action != "CUSTOM" || policy.Spec.Provider.Name != providers[0].Name {
		t.Errorf("AuthorizationPolicy must be CUSTOM with provider %q: %+v", providers[0].Name, policy)
	}
	cfg, err := config.Parse([]byte(istioConfig(t)))
	if err != nil {
		t.Fatalf("the ConfigMap's authz config: %v", err)
	}
	if len(cfg.Routes) < 3 || cfg.Routing.Unmatched != "deny" || len(cfg.Routes[0].Match.DestinationPrincipals) == 0 {
		t.Errorf("routes %+v", cfg.Routes)
	}
}

// istioConfig is the authz config istio.yaml's ConfigMap ships.
func istioConfig(t *testing.T) string {
	t.Helper()
	var cm struct {
		Kind string
		Data map[string]string
	}
	reencode(t, yamlDocs(t, shipped(t, "istio.yaml"))[2], &cm)
	if cm.Kind != "ConfigMap" || cm.Data["config.yaml"] == "" {
		t.Fatalf("istio.yaml's third document: %+v", cm)
	}
	return cm.Data["config.yaml"]
}

func TestEnvoyGatewayExample(t *testing.T) {
	docs := yamlDocs(t, shipped(t, "envoy-gateway.yaml"))
	if len(docs) != 4 {
		t.Fatalf("want 4 documents, got %d", len(docs))
	}
	var sp struct {
		Kind     string
		Metadata struct{ Namespace string }
		Spec     struct {
			TargetRefs []struct{ Kind, Name string } `json:"targetRefs"`
			ExtAuth    struct {
				GRPC struct {
					BackendRefs []struct {
						Name, Namespace string
						Port            int
					} `json:"backendRefs"`
				} `json:"grpc"`
				HeadersToExtAuth  []string `json:"headersToExtAuth"`
				FailOpen          *bool    `json:"failOpen"`
				ContextExtensions []struct {
					Name, Type, Value string
				} `json:"contextExtensions"`
			} `json:"extAuth"`
		}
	}
	var route struct {
		Kind     string
		Metadata struct{ Name, Namespace string }
	}
	var grant struct {
		Kind string
		Spec struct {
			From []struct{ Kind, Namespace string }
			To   []struct{ Kind, Name string }
		}
	}
	reencode(t, docs[0], &sp)
	reencode(t, docs[2], &route)
	reencode(t, docs[3], &grant)
	if sp.Kind != "SecurityPolicy" || len(sp.Spec.TargetRefs) != 1 || sp.Spec.TargetRefs[0].Kind != "HTTPRoute" || sp.Spec.TargetRefs[0].Name != route.Metadata.Name || route.Metadata.Namespace != sp.Metadata.Namespace {
		t.Errorf("the SecurityPolicy must target the HTTPRoute beside it: %+v %+v", sp, route)
	}
	refs := sp.Spec.ExtAuth.GRPC.BackendRefs
	if len(refs) != 1 || refs[0].Port != 9191 || refs[0].Name != "authz" {
		t.Errorf("backendRefs %+v", refs)
	}
	for _, h := range []string{"authorization", "dpop", "x-forwarded-proto", "x-request-id"} {
		if !slices.Contains(sp.Spec.ExtAuth.HeadersToExtAuth, h) {
			t.Errorf("headersToExtAuth lacks %s (the token, a DPoP proof and its scheme, the request id)", h)
		}
	}
	if sp.Spec.ExtAuth.FailOpen == nil || *sp.Spec.ExtAuth.FailOpen {
		t.Error("failOpen must be set false")
	}
	ce := sp.Spec.ExtAuth.ContextExtensions
	if len(ce) != 1 || ce[0].Name != envoy.PolicyKey || ce[0].Type != "Value" || ce[0].Value == "" {
		t.Errorf("contextExtensions must name the policy under %q: %+v", envoy.PolicyKey, ce)
	}
	if grant.Kind != "ReferenceGrant" || len(grant.Spec.From) != 1 || grant.Spec.From[0].Namespace != sp.Metadata.Namespace || grant.Spec.To[0].Name != refs[0].Name {
		t.Errorf("ReferenceGrant %+v", grant)
	}
}

// Every shipped Envoy config routes on the path the upstream will serve:
// Envoy's defaults match routes on the raw :path, so "//orders" or
// "/%6Frders" would miss a route's context_extensions.
func TestShippedEnvoyConfigsNormalise(t *testing.T) {
	files, err := filepath.Glob(shipped(t, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, file := range files {
		for i, doc := range yamlDocs(t, file) {
			js, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(js, []byte("HttpConnectionManager")) || !bytes.Contains(js, []byte(`"static_resources"`)) {
				continue
			}
			seen++
			var bs bootstrapv3.Bootstrap
			if err := protojson.Unmarshal(js, &bs); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			for _, l := range bs.GetStaticResources().GetListeners() {
				for _, fc := range l.GetFilterChains() {
					for _, f := range fc.GetFilters() {
						var hcm hcmv3.HttpConnectionManager
						if err := f.GetTypedConfig().UnmarshalTo(&hcm); err != nil {
							continue
						}
						where := fmt.Sprintf("%s document %d listener %s", file, i, l.GetName())
						if !hcm.GetNormalizePath().GetValue() {
							t.Errorf("%s: normalize_path is not true", where)
						}
						if !hcm.GetMergeSlashes() {
							t.Errorf("%s: merge_slashes is not true", where)
						}
						if a := hcm.GetPathWithEscapedSlashesAction(); a != hcmv3.HttpConnectionManager_REJECT_REQUEST && a != hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT {
							t.Errorf("%s: path_with_escaped_slashes_action is %v", where, a)
						}
						if !hcm.GetStripTrailingHostDot() {
							t.Errorf("%s: strip_trailing_host_dot is not true", where)
						}
						if a := hcm.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction(); a != corev3.HttpProtocolOptions_REJECT_REQUEST {
							t.Errorf("%s: headers_with_underscores_action is %v", where, a)
						}
					}
				}
			}
		}
	}
	if seen < 2 {
		t.Errorf("found %d Envoy bootstraps among %v, want envoy.yaml and envoy-http.yaml", seen, files)
	}

	var ctp struct {
		Kind string
		Spec struct {
			Path struct {
				DisableMergeSlashes  *bool  `json:"disableMergeSlashes"`
				EscapedSlashesAction string `json:"escapedSlashesAction"`
			}
			Headers struct {
				WithUnderscoresAction string `json:"withUnderscoresAction"`
			}
		}
	}
	reencode(t, yamlDocs(t, shipped(t, "envoy-gateway.yaml"))[1], &ctp)
	if ctp.Kind != "ClientTrafficPolicy" || ctp.Spec.Path.DisableMergeSlashes == nil || *ctp.Spec.Path.DisableMergeSlashes ||
		ctp.Spec.Path.EscapedSlashesAction != "RejectRequest" || ctp.Spec.Headers.WithUnderscoresAction != "RejectRequest" {
		t.Errorf("envoy-gateway.yaml's ClientTrafficPolicy: %+v", ctp)
	}

	var mesh struct {
		Spec struct {
			MeshConfig struct {
				PathNormalization struct{ Normalization string } `json:"pathNormalization"`
			} `json:"meshConfig"`
		}
	}
	reencode(t, yamlDocs(t, shipped(t, "istio.yaml"))[0], &mesh)
	if n := mesh.Spec.MeshConfig.PathNormalization.Normalization; n != "MERGE_SLASHES" && n != "DECODE_AND_MERGE_SLASHES" {
		t.Errorf("istio.yaml: meshConfig.pathNormalization.normalization is %q", n)
	}
}

// shippedPolicyHeaders lists every header a shipped authz config's
// policies write (claim headers and payload headers): examples/, the
// ConfigMaps beside the Envoy examples, and the demo's.
func shippedPolicyHeaders(t *testing.T) map[string]string {
	t.Helper()
	type policies struct {
		Policies map[string]struct {
			Headers       map[string]string `yaml:"headers"`
			PayloadHeader string            `yaml:"payload_header"`
		} `yaml:"policies"`
	}
	texts := map[string]string{"istio.yaml ConfigMap": istioConfig(t)}
	files, err := filepath.Glob(testsupport.RepoPath(t, "examples/*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("examples: %v", err)
	}
	files = append(files, testsupport.RepoPath(t, "cmd/authz/demo.go"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".go") {
			// The demo's config is the raw string constant demoConfig, a
			// Sprintf template (its %s are addresses).
			_, rest, ok := bytes.Cut(b, []byte("const demoConfig = `"))
			text, _, closed := bytes.Cut(rest, []byte("`"))
			if !ok || !closed {
				t.Fatalf("%s: no demoConfig", f)
			}
			b = bytes.ReplaceAll(text, []byte("%s"), []byte("x"))
		}
		texts[f] = string(b)
	}
	for _, d := range yamlDocs(t, shipped(t, "kubernetes.yaml")) {
		if m, ok := d.(map[string]any); ok && m["kind"] == "ConfigMap" {
			texts["kubernetes.yaml ConfigMap"] = m["data"].(map[string]any)["authz.yaml"].(string)
		}
	}
	out := map[string]string{}
	for where, text := range texts {
		var p policies
		if err := yaml.Unmarshal([]byte(text), &p); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		for name, pol := range p.Policies {
			for _, h := range pol.Headers {
				out[strings.ToLower(h)] = where + " policy " + name
			}
			if pol.PayloadHeader != "" {
				out[strings.ToLower(pol.PayloadHeader)] = where + " policy " + name
			}
		}
	}
	if len(out) < 3 {
		t.Fatalf("found only %v", out)
	}
	return out
}

// Envoy's HTTP mode passes upstream only the answer's headers that
// allowed_upstream_headers names, and drops the rest while the client's
// copy goes on: the shipped HTTP-mode config must name every header a
// shipped policy writes, and pass what DPoP needs both ways.
func TestEnvoyHTTPModePassesEveryPolicyHeader(t *testing.T) {
	js, err := json.Marshal(yamlDocs(t, shipped(t, "envoy-http.yaml"))[0])
	if err != nil {
		t.Fatal(err)
	}
	var bs bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(js, &bs); err != nil {
		t.Fatal(err)
	}
	var ea *extauthzv3.ExtAuthz
	for _, f := range bs.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters() {
		var hcm hcmv3.HttpConnectionManager
		if f.GetTypedConfig().UnmarshalTo(&hcm) != nil {
			continue
		}
		for _, hf := range hcm.GetHttpFilters() {
			var c extauthzv3.ExtAuthz
			if hf.GetTypedConfig().UnmarshalTo(&c) == nil {
				ea = &c
			}
		}
	}
	if ea == nil {
		t.Fatal("no ext_authz filter in envoy-http.yaml")
	}
	matches := func(ms []*matcherv3.StringMatcher, name string) bool {
		for _, m := range ms {
			switch {
			case m.GetExact() != "" && strings.EqualFold(m.GetExact(), name),
				m.GetPrefix() != "" && strings.HasPrefix(name, strings.ToLower(m.GetPrefix())):
				return true
			}
		}
		return false
	}
	resp := ea.GetHttpService().GetAuthorizationResponse()
	for h, where := range shippedPolicyHeaders(t) {
		if !matches(resp.GetAllowedUpstreamHeaders().GetPatterns(), h) {
			t.Errorf("%s writes %s, which allowed_upstream_headers does not pass", where, h)
		}
	}
	for _, h := range []string{"dpop", "x-forwarded-proto", "x-request-id"} {
		if !matches(ea.GetAllowedHeaders().GetPatterns(), h) {
			t.Errorf("allowed_headers does not send %s to authz", h)
		}
	}
	for _, h := range []string{"www-authenticate", "dpop-nonce", "retry-after"} {
		if !matches(resp.GetAllowedClientHeaders().GetPatterns(), h) {
			t.Errorf("allowed_client_headers does not pass %s to the client", h)
		}
	}
}

// validateDeep runs Envoy's validation rules on m and, since ValidateAll
// does not look inside Any fields, on every typed_config packed within.
func validateDeep(m proto.Message) error {
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			return err
		}
	}
	var err error
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len() && err == nil; i++ {
				err = validateValue(v.List().Get(i).Message().Interface())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				err = validateValue(mv.Message().Interface())
				return err == nil
			})
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			err = validateValue(v.Message().Interface())
		}
		return err == nil
	})
	return err
}

func validateValue(m proto.Message) error {
	if a, ok := m.(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("unpack %s: %w", a.GetTypeUrl(), err)
		}
		return validateDeep(inner)
	}
	return validateDeep(m)
}

// shipped is the path of a shipped Envoy or Istio config (deploy/envoy/).
func shipped(t *testing.T, name string) string {
	return testsupport.RepoPath(t, "deploy/envoy/"+name)
}

func yamlDocs(t *testing.T, path string) []any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []any
	for {
		var d any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
}

func reencode(t *testing.T, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(out); err != nil {
		t.Fatal(err)
	}
}

// The Kubernetes manifests must agree with the config they ship and keep
// the hardening they promise.
func TestKubernetesManifests(t *testing.T) {
	docs := yamlDocs(t, shipped(t, "kubernetes.yaml"))
	byKind := map[string]map[string]any{}
	for _, d := range docs {
		m := d.(map[string]any)
		byKind[m["kind"].(string)] = m
	}
	for _, k := range []string{"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"} {
		if byKind[k] == nil {
			t.Fatalf("no %s", k)
		}
	}
	t.Setenv("INTROSPECT_CLIENT_SECRET", "from-the-secret")
	cfgText := byKind["ConfigMap"]["data"].(map[string]any)["authz.yaml"].(string)
	cfg, err := config.Parse([]byte(cfgText))
	if err != nil {
		t.Fatalf("the ConfigMap's authz.yaml: %v", err)
	}

	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					SecurityContext struct {
						RunAsNonRoot bool `json:"runAsNonRoot"`
					} `json:"securityContext"`
					TerminationGracePeriodSeconds int `json:"terminationGracePeriodSeconds"`
					Containers                    []struct {
						Args  []string
						Ports []struct {
							Name          string
							ContainerPort int `json:"containerPort"`
						}
						ReadinessProbe struct {
							GRPC struct {
								Port    int
								Service string
							} `json:"grpc"`
						} `json:"readinessProbe"`
						LivenessProbe struct {
							HTTPGet struct{ Path, Port string } `json:"httpGet"`
						} `json:"livenessProbe"`
						Resources struct {
							Limits struct{ Memory string }
						}
						SecurityContext struct {
							AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
							ReadOnlyRootFilesystem   bool  `json:"readOnlyRootFilesystem"`
						} `json:"securityContext"`
					}
				}
			}
		}
	}
	reencode(t, byKind["Deployment"], &dep)
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if fmt.Sprintf(":%d", ports["grpc"]) != cfg.GRPC.Addr || fmt.Sprintf(":%d", ports["http"]) != cfg.HTTP.Addr {
		t.Errorf("container ports %v do not match grpc.addr %s / http.addr %s", ports, cfg.GRPC.Addr, cfg.HTTP.Addr)
	}
	if c.ReadinessProbe.GRPC.Port != ports["grpc"] || c.ReadinessProbe.GRPC.Service != "envoy.service.auth.v3.Authorization" {
		t.Errorf("readiness must be gRPC health of the Authorization service: %+v", c.ReadinessProbe)
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.LivenessProbe.HTTPGet.Port != "http" {
		t.Errorf("liveness must be /healthz on the http port: %+v", c.LivenessProbe)
	}
	if !pod.SecurityContext.RunAsNonRoot || !c.SecurityContext.ReadOnlyRootFilesystem || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Error("the pod must run as non-root, read-only, without privilege escalation")
	}
	if cfg.GRPC.ShutdownDelay <= 0 {
		t.Error("grpc.shutdown_delay must keep the pod answering while its endpoint is removed")
	}
	if grace := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second; grace <= cfg.GRPC.ShutdownDelay+cfg.GRPC.ShutdownGrace {
		t.Errorf("terminationGracePeriodSeconds %v must exceed grpc.shutdown_delay + shutdown_grace %v", grace, cfg.GRPC.ShutdownDelay+cfg.GRPC.ShutdownGrace)
	}
	limit, ok := strings.CutSuffix(c.Resources.Limits.Memory, "Mi")
	mi, _ := strconv.Atoi(limit)
	if !ok || int64(mi)<<20 < cfg.Cache.MaxBytes+cfg.Cache.MaxBytes/8+64<<20 {
		t.Errorf("memory limit %s leaves no room above cache.max_bytes %d (+ negative cache + 64 MiB)", c.Resources.Limits.Memory, cfg.Cache.MaxBytes)
	}
	if !slices.Contains(c.Args, "-watch") {
		t.Error("a mounted ConfigMap changes in place: serve needs -watch")
	}
}
