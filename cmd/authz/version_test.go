package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/authz-dev/authz/internal/buildinfo"
)

// What the Makefile stamps is what version prints: built here the way
// make build builds, with -ldflags -X.
func TestVersionIsStamped(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "authz")
	ldflags := "-X github.com/authz-dev/authz/internal/buildinfo.version=v9.8.7 -X github.com/authz-dev/authz/internal/buildinfo.commit=0123456789ab"
	build := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, arg := range []string{"version", "--version", "-version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if want := "authz v9.8.7 (commit 0123456789ab, " + runtime.Version() + ")\n"; string(out) != want {
			t.Errorf("%s printed %q, want %q", arg, out, want)
		}
	}
}

// Unstamped (go test, go install from a checkout): no empty fields.
func TestVersionWithoutStamp(t *testing.T) {
	var out bytes.Buffer
	run([]string{"--version"}, &out, &out)
	bi := buildinfo.Read()
	if bi.Version == "" || bi.Commit == "" || !strings.HasPrefix(out.String(), "authz "+bi.Version+" (commit "+bi.Commit) {
		t.Errorf("version printed %q", out.String())
	}
}
