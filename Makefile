GO ?= go
BIN := bin/authz
space := $(subst ,, )
# Builds, vet and staticcheck keyed by content, not by the clone's path: a
# fresh clone on a machine that has built authz before reuses the cache
# (and the binary is reproducible).
export GOFLAGS := -trimpath $(GOFLAGS)

# The version and commit stamped into the binary (authz version, the first
# log line, authz_build_info): git's, or what the caller says
# (make build VERSION=v1.2.3). Outside a git checkout: (devel), unknown.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo "(devel)")
COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
LDFLAGS := -X github.com/authz-dev/authz/internal/buildinfo.version=$(VERSION) -X github.com/authz-dev/authz/internal/buildinfo.commit=$(COMMIT)

# Test dependencies from Debian, as command:package. `make test` installs the
# missing ones when it runs as root (CI does), and says what to install otherwise.
# node and caddy are readers the differential test holds authz against;
# npm installs the independent JOSE/DPoP clients of the interop test.
# njs hashes the token for nginx's proxy cache of authz's answers
# (deploy/nginx/snippets/authz-cache.conf).
TEST_DEPS := nginx:nginx-light redis-server:redis-server redis-cli:redis-tools promtool:prometheus node:nodejs npm:npm caddy:caddy \
	/usr/lib/nginx/modules/ngx_http_js_module.so:libnginx-mod-http-js
INTEROP := testdata/interop
# The official MCP SDK's server and client (testdata/mcp/, pinned by its lock file).
MCP_E2E := testdata/mcp

# Fuzz targets are every Fuzz function `go test -list` finds, as
# package:Target: a new one runs in make fuzz without an edit here.
# FUZZTIME is a count of executions, not a duration: a duration races the
# fuzz coordinator's own deadline in Go 1.26 (golang/go#75804) and fails
# with "context deadline exceeded" on no input.
FUZZTIME ?= 1000000x
# FuzzDifferential sends every input through nginx, Caddy, Node and three
# authz doors (~500 inputs a second): it may run fewer.
FUZZTIME_DIFFERENTIAL ?= $(FUZZTIME)

.PHONY: chart-validate manifests all build run test test-unit test-stress test-deps lint vulncheck bench bench-load bench-fleet bench-nginx fuzz soak vet clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/authz

# The demo: an in-process IdP and authz on 127.0.0.1:9191 (gRPC) and :8181 (HTTP).
# A first build downloads the modules and compiles them: a few minutes on
# two cores, seconds after that; say so rather than sit silent.
run:
	@[ -x $(BIN) ] || echo "make run: building bin/authz (a first build downloads and compiles the Go modules: 2-5 minutes on a small machine; later builds take seconds)"
	@$(MAKE) -s --no-print-directory build
	@echo "make run: starting the demo (an IdP and authz on loopback; Ctrl-C stops it)"
	./$(BIN) demo

# make test runs in phases, each named as it starts and timed as it ends
# (tools/testphase): the gates (make lint), the unit tests (every package
# but the end-to-end ones; the shared tier's against a real redis-server),
# the integration tests (real servers, nginx, Caddy, Node, Redis:
# internal/server, the CLI, authz test) and the Helm
# chart's (a module of its own, internal/charttest, so the Kubernetes API
# types stay out of the binary's go.mod). A failed phase prints the
# command that reruns just its failed tests.
# Most end-to-end tests wait on IdPs, outside processes and clocks rather
# than the CPU: they run eight at a time.
# GORACE: the race detector waits a second as each test binary exits, for
# goroutines that outlive every test; a race in a test is reported by that
# test, so the wait bought nothing but twenty seconds of the suite.
INTEGRATION_PKGS := ./internal/server ./cmd/authz ./internal/policytest
GOTEST := env GORACE=atexit_sleep_ms=0 $(GO) test -race -count=1 -parallel 8
test: test-deps
	@tools/testphase gates "make lint" $(MAKE) -s --no-print-directory lint
	@tools/testphase unit "make test-unit" sh -c '$(GOTEST) $$($(GO) list ./... | grep -v -x -e "$(subst ./,github.com/authz-dev/authz/,$(subst $(space),\|,$(INTEGRATION_PKGS)))")'
	@tools/testphase integration "$(GOTEST) $(INTEGRATION_PKGS)" $(GOTEST) $(INTEGRATION_PKGS)
	@PHASE_DIR=internal/charttest tools/testphase chart "cd internal/charttest && go test -count=1 ." sh -c 'cd internal/charttest && $(GO) mod tidy -diff && $(GO) vet . && $(GO) test -count=1 .'

# The tests that start no outside program (nginx, Caddy, Node, redis-server,
# promtool) and wait on no real TTL: seconds, for the edit-test loop.
# make test runs everything.
test-unit:
	$(GO) test -short -count=1 -parallel 8 ./...

# Gates, run by make test: formatting, vet, a tidy go.mod, staticcheck
# (its default checks; a deliberate exception is a //lint:ignore with its
# reason), pinned and fetched from the Go module proxy by go run.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	$(GO) run $(STATICCHECK) ./...
	@# The test IdP enters the binary through the demo alone: a -tags nodemo build has none of it.
	@if $(GO) list -deps -tags nodemo ./cmd/authz | grep -q internal/testidp; then echo "internal/testidp is linked into a nodemo build"; exit 1; fi
	@$(GO) vet -tags nodemo ./cmd/authz

# govulncheck needs its online vulnerability database (not reachable from
# every machine), so it is not part of make test.
vulncheck:
	$(GO) run golang.org/x/vuln/cmd/govulncheck@latest ./...

# The tests that wait on clocks, deadlines and real processes, three times
# with every core kept busy by a CPU hog: CI's machines are shared, and a
# test that races a wall clock must hold there. Run it before a change lands.
STRESS_PKGS := ./internal/rules/ ./authz/... ./internal/cache/ ./internal/sender/ ./internal/tracing/
STRESS_SERVER := Fleet|Slow|Changing|Revoked|Refresh|Reload|Sentinel|Failover|Shutdown|TLSCertificateRotation|UnknownKid|Differential|Finding|Nginx|DPoP
test-stress: test-deps
	@hogs=""; for i in $$(seq $$(nproc)); do yes >/dev/null & hogs="$$hogs $$!"; done; \
	trap 'kill $$hogs 2>/dev/null' EXIT; \
	GORACE=atexit_sleep_ms=0 $(GO) test -race -count=3 $(STRESS_PKGS) && \
	GORACE=atexit_sleep_ms=0 $(GO) test -race -count=3 -parallel 8 -run '$(STRESS_SERVER)' ./internal/server/

test-deps:
	@missing=""; \
	for dep in $(TEST_DEPS); do \
	  cmd=$${dep%%:*}; pkg=$${dep#*:}; \
	  command -v $$cmd >/dev/null 2>&1 || [ -x /usr/sbin/$$cmd ] || [ -x /usr/bin/$$cmd ] || [ -e $$cmd ] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make test: installing$$missing (Debian packages the tests run for real)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$$missing >/dev/null || exit 1; \
	  else \
	    echo "make test: the tests need$$missing; install with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi
	@# panva's jose and dpop, pinned by package-lock.json, from the npm registry.
	@[ -d $(INTEROP)/node_modules/jose ] && [ -d $(INTEROP)/node_modules/dpop ] || \
	  (cd $(INTEROP) && npm ci --no-audit --no-fund --loglevel=error)
	@[ -d $(MCP_E2E)/node_modules/@modelcontextprotocol/sdk ] && [ -d $(MCP_E2E)/node_modules/zod ] || \
	  (cd $(MCP_E2E) && npm ci --no-audit --no-fund --loglevel=error)
	@$(MAKE) -s --no-print-directory $(HELM_STAMP)

# helm, for the chart's tests and make manifests: built from the Go module
# proxy at a pinned version (a minute or two on a new machine, once).
HELM_VERSION := v3.22.0
HELM := bin/helm
HELM_STAMP := bin/.helm-$(HELM_VERSION)
$(HELM_STAMP):
	@echo "building helm $(HELM_VERSION) into bin/ (go install)"
	@mkdir -p bin && GOBIN=$(CURDIR)/bin $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION) && touch $@

# The chart's values.schema.json holds the config's schema (generated from
# authz's config types: a misspelt key fails helm template);
# deploy/envoy/kubernetes.yaml is the chart rendered with
# deploy/helm/kubernetes-values.yaml, and the chart carries the alert rules
# of deploy/prometheus/alerts.yaml; a test holds both to this.
manifests: $(HELM_STAMP)
	$(GO) run ./tools/chartschema deploy/helm/authz/values.schema.json
	cp deploy/prometheus/alerts.yaml deploy/helm/authz/files/alerts.yaml
	{ echo "# authz on Kubernetes: generated by \`make manifests\` from the Helm chart (deploy/helm/authz) with"; \
	  echo "# deploy/helm/kubernetes-values.yaml; edit those, not this file. The introspection client secret"; \
	  echo "# comes from a Secret you create:"; \
	  echo "#   kubectl -n authz-system create secret generic authz-introspect --from-literal=client-secret=..."; \
	  $(HELM) template authz deploy/helm/authz -n authz-system -f deploy/helm/kubernetes-values.yaml; } > deploy/envoy/kubernetes.yaml

# Render the chart with CHART_VALUES (a values file) and validate the
# config its pod would mount, as authz validate -offline does: the
# one-liner docs/helm.md gives, for your own values.
CHART_VALUES ?= testdata/helm/everything.yaml
chart-validate: build $(HELM_STAMP)
	$(HELM) template authz deploy/helm/authz -f $(CHART_VALUES) | ./$(BIN) validate -offline -rendered -

bench: test-deps
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...

# authz against a no-op Check server, same load, one run, A/B rounds:
# make bench-load LOAD_ARGS="-duration 5s -rounds 3"
bench-load: build
	$(GO) build -o bin/authz-load ./tools/authz-load
	./bin/authz-load -authz $(BIN) $(LOAD_ARGS)

# Eight replicas on one Redis, 100 hot opaque tokens on a 2 s TTL, 30 s:
# IdP calls per token per TTL, against one replica and without leases.
bench-fleet: build
	@command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || $(MAKE) test-deps
	$(GO) build -o bin/authz-load ./tools/authz-load
	./bin/authz-load fleet -authz $(BIN) $(FLEET_ARGS)

# Behind nginx (bench/nginx): a zero-work door, the seed's nginx+njs design
# and authz's /check door (TCP and Unix socket), same nginx shape, same
# load: closed-loop throughput, then open-loop tails at fixed rates.
BENCH_NGINX_DEPS := nginx:nginx-light wrk:wrk /usr/lib/nginx/modules/ngx_http_js_module.so:libnginx-mod-http-js
bench-nginx: build
	@missing=""; \
	for dep in $(BENCH_NGINX_DEPS); do \
	  what=$${dep%%:*}; pkg=$${dep#*:}; \
	  command -v $$what >/dev/null 2>&1 || [ -e $$what ] || [ -x /usr/sbin/$$what ] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$$missing >/dev/null || exit 1; \
	  else \
	    echo "make bench-nginx: needs$$missing; install with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi
	$(GO) build -o bin/authz-load ./tools/authz-load
	./bin/authz-load nginx -authz $(BIN) $(NGINX_ARGS)

# ~1,000,000 Checks of mixed tokens, then leak and bound checks (make test
# runs a 3-second version).
soak: test-deps
	$(GO) test -run='^TestSoak$$' -count=1 -v -timeout=30m ./internal/server -args -soak-checks=1000000

fuzz: test-deps
	@targets=$$($(GO) test -list '^Fuzz' ./... | awk '/^Fuzz/ { names = names " " $$1; next } /^ok/ { n = split(names, a, " "); for (i = 1; i <= n; i++) print $$2 ":" a[i]; names = "" }'); \
	[ -n "$$targets" ] || { echo "make fuzz: go test -list found no fuzz target"; exit 1; }; \
	for t in $$targets; do \
	  pkg=$${t%%:*}; name=$${t#*:}; \
	  n=$(FUZZTIME); [ $$name = FuzzDifferential ] && n=$(FUZZTIME_DIFFERENTIAL); \
	  echo "fuzz $$name ($$pkg) for $$n"; \
	  $(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$$n $$pkg || exit 1; \
	done

clean:
	rm -rf bin
