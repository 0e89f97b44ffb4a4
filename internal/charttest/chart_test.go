// Package charttest renders the Helm chart (deploy/helm/authz) and holds
// what it renders to the Kubernetes API types, strictly. It is a module of
// its own so that those types stay out of the binary's go.mod.
package charttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/testsupport"
)

// findHelm is the helm `make test-deps` builds from the Go module proxy
// into bin/ (the version the Makefile pins).
func findHelm(t *testing.T) string {
	t.Helper()
	bin := testsupport.RepoPath(t, "bin/helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatal("bin/helm is missing: run `make test` (its test-deps build it with go install helm.sh/helm/v3/cmd/helm)")
	}
	return bin
}

// helm runs helm on the chart and returns its standard output.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(findHelm(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// rendered is one `helm template` decoded with the Kubernetes API types.
type rendered struct {
	deployment     *appsv1.Deployment
	service        *corev1.Service
	configMaps     map[string]*corev1.ConfigMap
	pdb            *policyv1.PodDisruptionBudget
	hpa            *autoscalingv2.HorizontalPodAutoscaler
	serviceMonitor *monitoringv1.ServiceMonitor
	rule           *monitoringv1.PrometheusRule
	networkPolicy  *networkingv1.NetworkPolicy
	serviceAccount *corev1.ServiceAccount
}

// decodeManifests decodes every object strictly: a field the API types do
// not know (a typo, a wrong indentation) fails, as the API server would
// refuse it.
func decodeManifests(t *testing.T, text string) rendered {
	t.Helper()
	r := rendered{configMaps: map[string]*corev1.ConfigMap{}}
	for _, doc := range regexp.MustCompile(`(?m)^---$`).Split(text, -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		var head struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%v in:\n%s", err, doc)
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			r.deployment = &appsv1.Deployment{}
			obj = r.deployment
		case "v1 Service":
			r.service = &corev1.Service{}
			obj = r.service
		case "v1 ServiceAccount":
			r.serviceAccount = &corev1.ServiceAccount{}
			obj = r.serviceAccount
		case "v1 ConfigMap":
			cm := &corev1.ConfigMap{}
			obj = cm
			defer func() { r.configMaps[cm.Name] = cm }()
		case "policy/v1 PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			obj = r.pdb
		case "autoscaling/v2 HorizontalPodAutoscaler":
			r.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
			obj = r.hpa
		case "monitoring.coreos.com/v1 ServiceMonitor":
			r.serviceMonitor = &monitoringv1.ServiceMonitor{}
			obj = r.serviceMonitor
		case "networking.k8s.io/v1 NetworkPolicy":
			r.networkPolicy = &networkingv1.NetworkPolicy{}
			obj = r.networkPolicy
		case "monitoring.coreos.com/v1 PrometheusRule":
			r.rule = &monitoringv1.PrometheusRule{}
			obj = r.rule
		default:
			t.Fatalf("the chart renders a %s %s the test does not know", head.APIVersion, head.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s: %v", head.Kind, err)
		}
	}
	if r.deployment == nil || r.service == nil {
		t.Fatal("no Deployment or Service rendered")
	}
	return r
}

// validateRenderedConfig writes the ConfigMaps out as the pod mounts them
// and validates the config as authz validate -offline does.
func validateRenderedConfig(t *testing.T, r rendered) *config.Config {
	t.Helper()
	dir := t.TempDir()
	var main string
	for name, cm := range r.configMaps {
		sub := "config"
		if strings.HasSuffix(name, "-policies") {
			sub = "policies"
		}
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
		for file, text := range cm.Data {
			path := filepath.Join(dir, sub, file)
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			if file == "authz.yaml" {
				main = path
			}
		}
	}
	cfg, err := config.LoadOffline(main)
	if err != nil {
		t.Fatalf("the rendered config does not validate: %v", err)
	}
	return cfg
}

func TestHelmChart(t *testing.T) {
	t.Parallel()
	chart := testsupport.RepoPath(t, "deploy/helm/authz")
	values := func(name string) string {
		return testsupport.RepoPath(t, "testdata/helm/"+name+".yaml")
	}

	// The chart's defaults need one thing from the user, and say so.
	if _, err := helm(t, "template", "authz", chart); err == nil || !strings.Contains(err.Error(), "name at least one issuer") {
		t.Fatalf("default values: %v", err)
	}
	// values.schema.json refuses a misspelt key and a wrong type before anything renders.
	for set, want := range map[string]string{
		"replicas=3":                   "additional properties 'replicas' not allowed",
		"listeners.grpc.port=ninety":   "/listeners/grpc/port",
		"probes.readiness=tcp":         "/probes/readiness",
		"drain.delay=5":                "/drain/delay",
		"secretEnv[0].name=MISSING_IT": "missing propert",
	} {
		if _, err := helm(t, "template", "authz", chart, "-f", values("minimal"), "--set", set); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--set %s: %v, want an error naming %q", set, err, want)
		}
	}

	// A chart that lets the whole cluster reach /check must say so.
	if _, err := helm(t, "template", "authz", chart, "-f", values("minimal"), "--set", "networkPolicy.enabled=false"); err == nil || !strings.Contains(err.Error(), "exposeToCluster") {
		t.Errorf("networkPolicy.enabled=false alone: %v", err)
	}
	if _, err := helm(t, "template", "authz", chart, "-f", values("minimal"), "--set", "networkPolicy.enabled=false,networkPolicy.exposeToCluster=true"); err != nil {
		t.Errorf("networkPolicy off, said so: %v", err)
	}

	t.Run("defaults", func(t *testing.T) {
		if out, err := helm(t, "lint", "--strict", chart, "-f", values("minimal")); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		out, err := helm(t, "template", "authz", chart, "-n", "authz-system", "-f", values("minimal"))
		if err != nil {
			t.Fatal(err)
		}
		r := decodeManifests(t, out)
		cfg := validateRenderedConfig(t, r)
		if cfg.GRPC.Addr != ":9191" || cfg.HTTP.Addr != ":8181" || cfg.GRPC.ShutdownDelay.String() != "5s" || cfg.GRPC.ShutdownGrace.String() != "15s" {
			t.Errorf("listeners and drain in the config: %+v %+v", cfg.GRPC, cfg.HTTP)
		}
		pod := r.deployment.Spec.Template.Spec
		c := pod.Containers[0]
		if *r.deployment.Spec.Replicas != 3 || c.Image != "ghcr.io/authz-dev/authz:0.1.0" {
			t.Errorf("replicas %d image %s", *r.deployment.Spec.Replicas, c.Image)
		}
		if *pod.TerminationGracePeriodSeconds != 25 {
			t.Errorf("terminationGracePeriodSeconds %d, want delay + grace + 5 = 25", *pod.TerminationGracePeriodSeconds)
		}
		sc := c.SecurityContext
		if !*pod.SecurityContext.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" || *pod.AutomountServiceAccountToken {
			t.Errorf("security context: pod %+v container %+v", pod.SecurityContext, sc)
		}
		// kubelet verifies runAsNonRoot only for a numeric user: the
		// pod's is the image's, by number, and its fsGroup lets that
		// user read the Secret files.
		uid, gid := imageUser(t)
		if psc := pod.SecurityContext; psc.RunAsUser == nil || *psc.RunAsUser != uid || psc.RunAsGroup == nil || *psc.RunAsGroup != gid ||
			psc.FSGroup == nil || *psc.FSGroup != gid {
			t.Errorf("pod user %v group %v fsGroup %v, want the image's %d:%d", psc.RunAsUser, psc.RunAsGroup, psc.FSGroup, uid, gid)
		}
		// The NetworkPolicy is on by default: only labelled clients reach authz.
		if np := r.networkPolicy; np == nil || len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 ||
			np.Spec.Ingress[0].From[0].PodSelector.MatchLabels["authz.dev/client"] != "true" {
			t.Errorf("default network policy %+v", r.networkPolicy)
		}
		if sa := r.serviceAccount; sa == nil || sa.Name != "authz" || pod.ServiceAccountName != sa.Name || *sa.AutomountServiceAccountToken {
			t.Errorf("service account %+v, the pod's %q", sa, pod.ServiceAccountName)
		}
		if p := c.ReadinessProbe.GRPC; p == nil || p.Port != 9191 || *p.Service != "envoy.service.auth.v3.Authorization" {
			t.Errorf("readiness: %+v", c.ReadinessProbe)
		}
		if p := c.LivenessProbe.HTTPGet; p == nil || p.Path != "/healthz" || p.Port.String() != "http" {
			t.Errorf("liveness: %+v", c.LivenessProbe)
		}
		if c.Resources.Limits.Memory().String() != "256Mi" || c.Env[len(c.Env)-1].Name != "GOMEMLIMIT" {
			t.Errorf("resources %v env %v", c.Resources, c.Env)
		}
		ports := r.service.Spec.Ports
		if len(ports) != 2 || ports[0].Name != "grpc" || *ports[0].AppProtocol != "grpc" || ports[1].Port != 8181 {
			t.Errorf("service ports %+v", ports)
		}
		if r.pdb == nil || r.pdb.Spec.MinAvailable.IntValue() != 2 || r.hpa != nil || r.serviceMonitor != nil || r.rule != nil {
			t.Errorf("optional objects: pdb %v hpa %v sm %v rule %v", r.pdb, r.hpa, r.serviceMonitor, r.rule)
		}
	})

	t.Run("everything on", func(t *testing.T) {
		if out, err := helm(t, "lint", "--strict", chart, "-f", values("everything")); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		out, err := helm(t, "template", "edge", chart, "-f", values("everything"))
		if err != nil {
			t.Fatal(err)
		}
		r := decodeManifests(t, out)
		cfg := validateRenderedConfig(t, r)
		if cfg.GRPC.Addr != ":9000" || cfg.HTTP.Addr != ":8000" || len(cfg.Fragments) != 1 || cfg.Policies["team-a"].RequireScopes[0] != "team-a" {
			t.Errorf("config: grpc %s http %s fragments %v", cfg.GRPC.Addr, cfg.HTTP.Addr, cfg.Fragments)
		}
		pod := r.deployment.Spec.Template.Spec
		c := pod.Containers[0]
		if r.deployment.Spec.Replicas != nil {
			t.Error("replicas set beside an autoscaler")
		}
		if *pod.TerminationGracePeriodSeconds != 75 || c.Image != "registry.example.com/authz:v1.2.3" || pod.PriorityClassName != "system-cluster-critical" {
			t.Errorf("grace %d image %s", *pod.TerminationGracePeriodSeconds, c.Image)
		}
		if p := c.ReadinessProbe.HTTPGet; p == nil || p.Path != "/readyz" {
			t.Errorf("readiness: %+v", c.ReadinessProbe)
		}
		if sa := r.serviceAccount; sa == nil || sa.Name != "authz-edge" || pod.ServiceAccountName != sa.Name || sa.Annotations["example.com/owner"] != "platform" {
			t.Errorf("service account %+v, the pod's %q", sa, pod.ServiceAccountName)
		}
		var keys *corev1.Volume
		for i, v := range pod.Volumes {
			if v.Name == "signing-keys" {
				keys = &pod.Volumes[i]
			}
		}
		// Root-owned, group the fsGroup: readable by the group, no one else.
		if keys == nil || keys.Secret.SecretName != "authz-signing-keys" || *keys.Secret.DefaultMode != 0o440 || *pod.SecurityContext.FSGroup != 65532 {
			t.Errorf("the signing keys' volume: %+v", keys)
		}
		if r.hpa == nil || *r.hpa.Spec.MinReplicas != 2 || r.hpa.Spec.MaxReplicas != 6 || r.hpa.Spec.ScaleTargetRef.Name != r.deployment.Name {
			t.Errorf("hpa %+v", r.hpa)
		}
		if np := r.networkPolicy; np == nil || len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 2 || len(np.Spec.Ingress[0].Ports) != 2 ||
			np.Spec.Ingress[0].Ports[0].Port.String() != "grpc" || np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] != "authz" {
			t.Errorf("network policy %+v", r.networkPolicy)
		}
		if r.serviceMonitor == nil || r.serviceMonitor.Spec.Endpoints[0].Port != "http" || r.serviceMonitor.Labels["release"] != "prometheus" {
			t.Errorf("service monitor %+v", r.serviceMonitor)
		}
		// The PrometheusRule carries the shipped alert rules, every one.
		shipped := testsupport.ReadRepoFile(t, "deploy/prometheus/alerts.yaml")
		var want monitoringv1.PrometheusRuleSpec
		if err := yaml.UnmarshalStrict(shipped, &want); err != nil {
			t.Fatal(err)
		}
		if r.rule == nil || len(r.rule.Spec.Groups) != len(want.Groups) || len(r.rule.Spec.Groups[0].Rules) != len(want.Groups[0].Rules) ||
			r.rule.Spec.Groups[0].Rules[0].Expr.String() != want.Groups[0].Rules[0].Expr.String() {
			t.Errorf("the PrometheusRule does not carry deploy/prometheus/alerts.yaml")
		}
	})

	t.Run("forward auth only", func(t *testing.T) {
		out, err := helm(t, "template", "authz", chart, "-f", values("forward-auth-only"))
		if err != nil {
			t.Fatal(err)
		}
		r := decodeManifests(t, out)
		cfg := validateRenderedConfig(t, r)
		c := r.deployment.Spec.Template.Spec.Containers[0]
		if pod := r.deployment.Spec.Template.Spec; r.serviceAccount != nil || pod.ServiceAccountName != "mesh-workloads" {
			t.Errorf("an existing service account: rendered %+v, the pod's %q", r.serviceAccount, pod.ServiceAccountName)
		}
		if cfg.GRPC.Enabled() || len(c.Ports) != 1 || len(r.service.Spec.Ports) != 1 || c.ReadinessProbe.HTTPGet == nil || r.pdb != nil {
			t.Errorf("grpc off: config %s, ports %v, readiness %+v", cfg.GRPC.Addr, c.Ports, c.ReadinessProbe)
		}
	})
}

// The chart's copy of the alert rules is deploy/prometheus/alerts.yaml,
// and deploy/envoy/kubernetes.yaml is the chart rendered with
// deploy/helm/kubernetes-values.yaml (make manifests): one source each.
func TestChartAndPlainManifestsAgree(t *testing.T) {
	t.Parallel()
	a := testsupport.ReadRepoFile(t, "deploy/prometheus/alerts.yaml")
	b := testsupport.ReadRepoFile(t, "deploy/helm/authz/files/alerts.yaml")
	if !bytes.Equal(a, b) {
		t.Error("deploy/helm/authz/files/alerts.yaml differs from deploy/prometheus/alerts.yaml: run make manifests")
	}
	out, err := helm(t, "template", "authz", testsupport.RepoPath(t, "deploy/helm/authz"), "-n", "authz-system",
		"-f", testsupport.RepoPath(t, "deploy/helm/kubernetes-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	plain := testsupport.ReadRepoFile(t, "deploy/envoy/kubernetes.yaml")
	_, body, ok := strings.Cut(string(plain), "\n---\n")
	if !ok || "---\n"+body != out {
		t.Error("deploy/envoy/kubernetes.yaml is not the chart rendered with deploy/helm/kubernetes-values.yaml: run make manifests")
	}
}

// docs/helm.md's table names every value the chart has.
func TestHelmValuesDocumented(t *testing.T) {
	b := testsupport.ReadRepoFile(t, "deploy/helm/authz/values.yaml")
	var values map[string]any
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	doc := testsupport.ReadRepoFile(t, "docs/helm.md")
	var keys []string
	for k, v := range values {
		m, nested := v.(map[string]any)
		if !nested || k == "config" || k == "policyFragments" || k == "resources" || len(m) == 0 {
			keys = append(keys, k)
			continue
		}
		for sub, sv := range m {
			if inner, ok := sv.(map[string]any); ok && k == "listeners" {
				for leaf := range inner {
					keys = append(keys, k+"."+sub+"."+leaf)
				}
				continue
			}
			keys = append(keys, k+"."+sub)
		}
	}
	for _, k := range keys {
		parts := strings.Split(k, ".")
		last := parts[len(parts)-1]
		// A row names the key whole, or its parent whole and the leaf as ".leaf".
		if !strings.Contains(string(doc), "`"+k+"`") && !strings.Contains(string(doc), "`."+last+"`") && !strings.Contains(string(doc), "`"+strings.Join(parts[:len(parts)-1], ".")+"."+last) {
			t.Errorf("docs/helm.md does not document %s", k)
		}
	}
}

// imageUser is the numeric user and group the Dockerfile's USER names.
func imageUser(t *testing.T) (uid, gid int64) {
	t.Helper()
	for _, line := range strings.Split(string(testsupport.ReadRepoFile(t, "Dockerfile")), "\n") {
		if rest, ok := strings.CutPrefix(line, "USER "); ok {
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d:%d", &uid, &gid); err != nil {
				t.Fatalf("Dockerfile: USER %s is not numeric uid:gid (kubelet cannot verify runAsNonRoot for a name)", rest)
			}
			return uid, gid
		}
	}
	t.Fatal("Dockerfile: no USER")
	return 0, 0
}

// values.schema.json holds the config's schema as authz's config types
// make it (make manifests), so a misspelt key or a wrong type in `config`
// fails `helm template` instead of crash-looping the pod.
func TestChartSchemaKnowsTheConfig(t *testing.T) {
	b, err := os.ReadFile(testsupport.RepoPath(t, "deploy/helm/authz/values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(config.JSONSchema())
	var wantAny any
	json.Unmarshal(want, &wantAny)
	if !reflect.DeepEqual(schema.Properties["config"], wantAny) {
		t.Error("values.schema.json's config schema is not the config's: run make manifests")
	}
	for set, want := range map[string]string{
		"config.policys.x.token=none": "policys",
		"config.cache.ttl=true":       "ttl",
		"config.log.levle=debug":      "levle",
	} {
		_, err := helm(t, "template", "authz", testsupport.RepoPath(t, "deploy/helm/authz"), "-f", testsupport.RepoPath(t, "testdata/helm/minimal.yaml"), "--set", set)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--set %s: %v; want a schema error naming %s", set, err, want)
		}
	}
}

// The chart's appVersion is the release's version, and the image's tag
// follows it: never latest, which IfNotPresent would pin to whatever each
// node pulled first.
func TestChartImageIsTheRelease(t *testing.T) {
	b, err := os.ReadFile(testsupport.RepoPath(t, "deploy/helm/authz/Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct{ Version, AppVersion string }
	if err := yaml.Unmarshal(b, &chart); err != nil {
		t.Fatal(err)
	}
	if chart.AppVersion == "" || chart.AppVersion == "latest" || chart.AppVersion != chart.Version {
		t.Errorf("appVersion %q, chart version %q: the release's version in both", chart.AppVersion, chart.Version)
	}
	out, err := helm(t, "template", "authz", testsupport.RepoPath(t, "deploy/helm/authz"), "-f", testsupport.RepoPath(t, "testdata/helm/minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `image: "ghcr.io/authz-dev/authz:`+chart.AppVersion+`"`) {
		t.Error("the rendered image is not tagged with appVersion")
	}
}
