package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/authz-dev/authz/internal/config"
	"github.com/authz-dev/authz/internal/policytest"
)

// cmdTest runs policy test cases (docs/policies.md, "Testing policies"):
// exit 0 when every case comes out as expected, 1 when one does not, 2
// when the config or a case file cannot be read.
func cmdTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("test", "run policy test cases against a config: no IdP, proxy or secrets needed", stderr)
	path := fs.String("config", "", "config file (YAML)")
	junit := fs.String("junit", "", "also write the results as JUnit XML to this file")
	// Case files follow the flags.
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	}
	if *path == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "authz test: -config and at least one case file are required")
		return 2
	}
	// Offline: secrets are not read, the run swaps what needs them.
	cfg, err := config.LoadOffline(*path)
	if err != nil {
		fmt.Fprintf(stderr, "authz test: %v\n", err)
		return 2
	}
	// The cases first: the API keys they give are in the run's key file
	// before the server starts.
	var cases []policytest.Case
	for _, p := range fs.Args() {
		f, err := policytest.ReadFile(p)
		if err != nil {
			fmt.Fprintf(stderr, "authz test: %v\n", err)
			return 2
		}
		cases = append(cases, f.Cases...)
	}
	r, err := policytest.Start(cfg, cases...)
	if err != nil {
		fmt.Fprintf(stderr, "authz test: %v\n", err)
		return 2
	}
	defer r.Close()
	outcomes, err := r.RunFiles(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "authz test: %v\n", err)
		return 2
	}
	if err := r.WriteTable(stdout, outcomes); err != nil {
		fmt.Fprintf(stderr, "authz test: %v\n", err)
		return 2
	}
	if *junit != "" {
		if err := policytest.WriteJUnit(*junit, outcomes); err != nil {
			fmt.Fprintf(stderr, "authz test: %v\n", err)
			return 2
		}
	}
	for _, o := range outcomes {
		if o.Failed() {
			return 1
		}
	}
	return 0
}
