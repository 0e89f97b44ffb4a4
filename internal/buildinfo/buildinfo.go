// Package buildinfo says which authz this is: the version and commit the
// Makefile stamps in (-ldflags -X), else what the Go toolchain recorded
// (a go install of a tagged version, a build in a git checkout).
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set by the Makefile: go build -ldflags "-X .../buildinfo.version=v1.2.3 -X .../buildinfo.commit=abc".
var (
	version string
	commit  string
)

// Info is one build's identity.
type Info struct {
	// Version is a release tag or git describe's answer ("v0.4.0-12-gabc"),
	// "(devel)" when nobody said.
	Version string
	// Commit is the VCS revision (12 hex digits, "-dirty" when the tree
	// had changes); "unknown" when nobody recorded it.
	Commit    string
	GoVersion string
}

// Read returns this binary's identity.
func Read() Info {
	in := Info{Version: version, Commit: commit, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if in.Version == "" {
			in.Version = bi.Main.Version
		}
		if in.Commit == "" {
			in.Commit = vcsCommit(bi.Settings)
		}
	}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	if in.Commit == "" {
		in.Commit = "unknown"
	}
	return in
}

func vcsCommit(settings []debug.BuildSetting) string {
	var rev, dirty string
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}

// String is the one-line form: "v0.4.0 (commit 0123456789ab, go1.26.8)".
func (in Info) String() string {
	return in.Version + " (commit " + in.Commit + ", " + in.GoVersion + ")"
}
