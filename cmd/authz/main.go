// Command authz is a token authorizer for Envoy ext_authz and forward-auth
// proxies. See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/authz-dev/authz/internal/buildinfo"
	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/server"
)

const usage = `usage: authz <command> [flags]

commands:
  serve    -config FILE [-grpc-addr ADDR] [-http-addr ADDR] [-watch]
                                                              serve Envoy ext_authz (gRPC) and forward auth (HTTP);
                                                              SIGHUP (or -watch) reloads the config file
  validate -config FILE [-explain] [-offline]                 check a config file and exit; -explain prints the route table and the policies
  validate -rendered FILE|- -offline                          check the config a rendered Helm chart mounts (helm template ... | authz validate -offline -rendered -)
  test     -config FILE [-junit FILE] CASES.yaml...           run policy test cases against the config, no IdP or proxy needed
  check    -addr HOST:PORT [-token T] [-header K=V]... [-method M] [-host H] [-path P] [-policy NAME]
           [-source-principal ID] [-destination-principal ID] [-json] [-timeout D]
           [-ca F -cert F -key F] [-dpop-key F [-dpop-htu URL] [-dpop-replay]]
                                                              ask a running authz about one request
  purge    -addr HOST:PORT -token T [-ca F -cert F -key F]    forget a token on every replica (admin listener)
  nginx-snippet -config FILE                                   print the nginx lines that pass every header the config writes
  apikey   new -sub OWNER [-client-id ID] [-scope S] [-tenant T]
                                                              print a new API key and the line for the key file (its hash)
  demo     [-grpc-addr ADDR] [-http-addr ADDR] [-idp-addr ADDR] [-env FILE] [-config-file FILE] [-print-config]
                                                              run a demo IdP and authz on loopback
  version                                                     print the version, commit and Go version (also --version)

every command: -h for its flags
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stderr)
	case "test":
		return cmdTest(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "purge":
		return cmdPurge(args[1:], stdout, stderr)
	case "apikey":
		return cmdAPIKey(args[1:], stdout, stderr)
	case "nginx-snippet":
		return cmdNginxSnippet(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "authz", buildinfo.Read())
		return 0
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "authz: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func cmdServe(args []string, stderr io.Writer) int {
	fs := newFlags("serve", "serve Envoy ext_authz (gRPC) and forward auth (HTTP); SIGHUP or -watch reloads the config", stderr)
	path := fs.String("config", "", "config file (YAML)")
	grpcAddr := fs.String("grpc-addr", "", "override grpc.addr")
	httpAddr := fs.String("http-addr", "", "override http.addr")
	watch := fs.Bool("watch", false, "reload the config file when it changes (besides SIGHUP)")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if *path == "" {
		fmt.Fprintln(stderr, "authz serve: -config is required")
		return 2
	}
	// Registered before anything else, so a SIGHUP during start-up is a
	// reload, not the default "terminate".
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	load := func() (*config.Config, error) {
		cfg, err := config.Load(*path)
		if err == nil {
			// A reload keeps the command line's listener overrides.
			overrideAddrs(cfg, *grpcAddr, *httpAddr)
		}
		return cfg, err
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "authz serve: %v\n", err)
		return 1
	}
	log := server.NewLogger(cfg.Log, stderr)
	bi := buildinfo.Read()
	log.Info("authz starting", "version", bi.Version, "commit", bi.Commit, "go", bi.GoVersion, "config", *path)
	tuneGC(cfg, log)
	s, err := server.New(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "authz serve: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go s.Follow(ctx, *path, load, hup, *watch)
	if err := s.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "authz serve: %v\n", err)
		return 1
	}
	return 0
}

func overrideAddrs(cfg *config.Config, grpcAddr, httpAddr string) {
	if grpcAddr != "" {
		cfg.GRPC.Addr = grpcAddr
	}
	if httpAddr != "" {
		cfg.HTTP.Addr = httpAddr
	}
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "check a config file (and print the route table with -explain)", stderr)
	path := fs.String("config", "", "config file (YAML)")
	explain := fs.Bool("explain", false, "print the route table, in the order routes are tried")
	offline := fs.Bool("offline", false, "do not read secrets (files or environment variables): for CI without them")
	rendered := fs.String("rendered", "", "a `helm template` of authz's chart (FILE, or - for stdin): validate the config its ConfigMaps mount")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	if *rendered != "" {
		dir, err := os.MkdirTemp("", "authz-rendered-")
		if err != nil {
			fmt.Fprintln(stderr, "authz validate:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		if *path, err = mountRendered(*rendered, dir); err != nil {
			fmt.Fprintln(stderr, "authz validate:", err)
			return 1
		}
	}
	if *path == "" {
		fmt.Fprintln(stderr, "authz validate: -config is required")
		return 2
	}
	load := config.Load
	if *offline {
		load = config.LoadOffline
	}
	cfg, err := load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		if !*offline {
			if _, offErr := config.LoadOffline(*path); offErr == nil {
				// Everything else holds: only what is read at run time is missing here.
				fmt.Fprintf(stderr, "the rest of the config is valid: it reads secrets or files this machine does not have; "+
					"to check it without them (as CI does), run: authz validate -offline -config %s\n", *path)
			}
		}
		return 1
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	if *explain {
		explainRoutes(stdout, cfg)
		explainPolicies(stdout, cfg)
	}
	return 0
}
