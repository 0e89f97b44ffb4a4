package config

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/authz-dev/authz/internal/route"

	"github.com/authz-dev/authz/authz"
)

// A config may include fragments: files of policies and routes a team owns
// (a ConfigMap each), named by globs relative to the main file. They merge
// into one config in a fixed order — the main file's routes first, then
// each fragment's, fragments in the lexical order of their paths — and
// only policies and routes may be in them: listeners, caches and issuers
// are the platform's, in the main file.

// IncludeEntry is one entry of include: a glob, and the scope the routes
// of the files it names may claim. A plain string is a glob with no scope:
// its files may hold policies only.
type IncludeEntry struct {
	Files string        `yaml:"files"`
	Scope *IncludeScope `yaml:"scope"`
}

// IncludeScope is the part of the request space a team's routes may
// claim: every dimension set, each route must stay inside (route.Scope).
type IncludeScope struct {
	Hosts                 []string `yaml:"hosts"`
	PathPrefixes          []string `yaml:"path_prefixes"`
	SourcePrincipals      []string `yaml:"source_principals"`
	DestinationPrincipals []string `yaml:"destination_principals"`
}

func (s *IncludeScope) spec() route.Scope {
	return route.Scope{Hosts: s.Hosts, PathPrefixes: s.PathPrefixes, SourcePrincipals: s.SourcePrincipals, DestinationPrincipals: s.DestinationPrincipals}
}

// UnmarshalYAML reads a glob or {files, scope}, refusing unknown keys as
// the rest of the config does.
func (e *IncludeEntry) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		e.Files = n.Value
		return nil
	}
	if err := knownKeys(n, "include entry", "files", "scope"); err != nil {
		return err
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "scope" {
			if err := knownKeys(n.Content[i+1], "include scope", "hosts", "path_prefixes", "source_principals", "destination_principals"); err != nil {
				return err
			}
		}
	}
	type plain IncludeEntry
	return n.Decode((*plain)(e))
}

// knownKeys refuses a mapping key outside keys, naming its line.
func knownKeys(n *yaml.Node, what string, keys ...string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %s: want a mapping of %s", n.Line, what, strings.Join(keys, ", "))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(keys, k.Value) {
			return fmt.Errorf("line %d: %s: unknown key %q (%s)", k.Line, what, k.Value, strings.Join(keys, ", "))
		}
	}
	return nil
}

// fragmentKeys are the top-level keys a fragment may hold.
var fragmentKeys = []string{"policies", "routes"}

type fragment struct {
	Policies map[string]Policy `yaml:"policies"`
	Routes   []Route           `yaml:"routes"`
}

// source is one file of a config, and what of the merged config came
// from it: the routes [routeBase, routeBase+routes) and the named policies.
type source struct {
	file      string
	data      []byte
	root      *yaml.Node
	routeBase int
	routes    int
	policies  map[string]bool
}

// IncludedFiles are the files globs name, in merge order: sorted, each once.
func IncludedFiles(globs []string) ([]string, error) {
	var files []string
	for _, g := range globs {
		matches, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("include %q: %w", g, err)
		}
		files = append(files, matches...)
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

// includeFragments reads the fragments cfg.Include names (relative to the
// main file's directory) and merges them into cfg.
func includeFragments(cfg *Config, main *source) ([]*source, error) {
	sources := []*source{main}
	if len(cfg.Include) == 0 {
		return sources, nil
	}
	dir := filepath.Dir(main.file)
	cfg.IncludeGlobs = nil
	for i, e := range cfg.Include {
		g := e.Files
		if g == "" {
			return nil, fmt.Errorf("%s: include.%d.files: is required", main.file, i)
		}
		if e.Scope != nil && e.Scope.spec().Empty() {
			return nil, fmt.Errorf("%s: include.%d.scope: is empty: name the hosts, path_prefixes or principals the files' routes may claim", main.file, i)
		}
		if !filepath.IsAbs(g) {
			g = filepath.Join(dir, g)
		}
		cfg.IncludeGlobs = append(cfg.IncludeGlobs, g)
	}
	files, err := IncludedFiles(cfg.IncludeGlobs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", main.file, err)
	}
	scopes, err := scopesOf(cfg, main.file)
	if err != nil {
		return nil, err
	}
	mainAbs, _ := filepath.Abs(main.file)
	mainOnly := mainFilePolicies(cfg)
	for _, f := range files {
		if abs, _ := filepath.Abs(f); abs == mainAbs {
			continue // a glob over the config directory names the main file too
		}
		s, frag, err := readFragment(f)
		if err != nil {
			return nil, err
		}
		if err := routesInScope(f, s, frag.Routes, scopes[f]); err != nil {
			return nil, err
		}
		s.routeBase, s.routes = len(cfg.Routes), len(frag.Routes)
		cfg.Routes = append(cfg.Routes, frag.Routes...)
		for name, p := range frag.Policies {
			if first := ownerOf(sources, name); first != nil {
				return nil, fmt.Errorf("%s: line %d: policies.%s: defined again; it is first defined in %s: line %d",
					f, lineOf(s.root, "policies."+name), name, first.file, lineOf(first.root, "policies."+name))
			}
			if why, ok := mainOnly[name]; ok {
				// A fragment's default would be every other team's
				// default; a policy the main file routes to or extends
				// is the platform's to define.
				return nil, fmt.Errorf("%s: line %d: policies.%s: only the main config file may define %s (%s)",
					f, lineOf(s.root, "policies."+name), name, name, why)
			}
			if cfg.Policies == nil {
				cfg.Policies = map[string]Policy{}
			}
			cfg.Policies[name] = p
			s.policies[name] = true
		}
		sources = append(sources, s)
		cfg.Fragments = append(cfg.Fragments, f)
	}
	if err := clashesBetweenFragments(cfg, sources); err != nil {
		return nil, err
	}
	return sources, nil
}

// scopesOf maps each included file to the scope of the entry naming it;
// a file two entries name must get one scope from both.
func scopesOf(cfg *Config, mainFile string) (map[string]*IncludeScope, error) {
	out, by := map[string]*IncludeScope{}, map[string]int{}
	for i, g := range cfg.IncludeGlobs {
		matches, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("%s: include %q: %w", mainFile, g, err)
		}
		for _, m := range matches {
			if j, seen := by[m]; seen {
				if !reflect.DeepEqual(cfg.Include[j].Scope, cfg.Include[i].Scope) {
					return nil, fmt.Errorf("%s: include.%d and include.%d both name %s, with different scopes", mainFile, j, i, m)
				}
				continue
			}
			by[m], out[m] = i, cfg.Include[i].Scope
		}
	}
	return out, nil
}

// routesInScope holds an included file's routes to the scope the main
// file gave it: a team's file must not take another team's requests, nor
// those the main file leaves to routes_unmatched.
func routesInScope(file string, s *source, routes []Route, scope *IncludeScope) error {
	for j, r := range routes {
		at := func() string {
			return fmt.Sprintf("%s: line %d: routes.%d", file, lineOf(s.root, fmt.Sprintf("routes.%d", j)), j)
		}
		switch {
		case scope == nil:
			return fmt.Errorf("%s: route %q: the main file's include entry for this file declares no scope, so it may hold policies only; "+
				"give the entry one: include: [{ files: ..., scope: { hosts: [...], path_prefixes: [...] } }]", at(), r.Name)
		case !route.Specific(r.Spec()):
			return fmt.Errorf("%s: route %q matches by method or headers alone: catch-all and header-only routes belong in the main file", at(), r.Name)
		}
		outside, err := scope.spec().Outside(r.Spec())
		if err != nil {
			return fmt.Errorf("%s: %w", at(), err)
		}
		if outside != "" {
			return fmt.Errorf("%s: route %q leaves the scope the main file gave this file: %s", at(), r.Name, outside)
		}
	}
	return nil
}

// clashesBetweenFragments refuses two included files' routes with
// different policies that some request could match both: the file that
// sorts first would take the other team's requests.
func clashesBetweenFragments(cfg *Config, sources []*source) error {
	main := sources[0]
	routes := cfg.Routes[main.routes:]
	if len(sources) < 3 || len(routes) < 2 {
		return nil
	}
	specs, group := make([]route.Route, len(routes)), make([]int, len(routes))
	where := make([]string, len(routes))
	for g, s := range sources[1:] {
		for j := range s.routes {
			i := s.routeBase - main.routes + j
			specs[i], group[i] = routes[i].Spec(), g
			where[i] = fmt.Sprintf("%s: line %d", s.file, lineOf(s.root, fmt.Sprintf("routes.%d", j)))
		}
	}
	clashes, err := route.Clashes(specs, group)
	if err != nil || len(clashes) == 0 {
		return err
	}
	a, b := clashes[0][0], clashes[0][1]
	return fmt.Errorf("%s: route %q (policy %s) and %s: route %q (policy %s) can match the same request: "+
		"one team's file would take the other's requests; narrow the routes or the include scopes",
		where[a], routes[a].Name, routes[a].Policy, where[b], routes[b].Name, routes[b].Policy)
}

func ownerOf(sources []*source, policy string) *source {
	for _, s := range sources {
		if s.policies[policy] {
			return s
		}
	}
	return nil
}

// readFragment decodes a fragment strictly: only policies and routes.
func readFragment(file string) (*source, fragment, error) {
	var frag fragment
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, frag, fmt.Errorf("read included file: %w", err)
	}
	s := &source{file: file, data: data, root: &yaml.Node{}, policies: map[string]bool{}}
	if err := yaml.Unmarshal(data, s.root); err != nil {
		if msg, ok := misindentedItem(strings.TrimPrefix(err.Error(), "yaml: "), data); ok {
			return nil, frag, fmt.Errorf("%s: %s", file, msg)
		}
		return nil, frag, fmt.Errorf("%s: %w", file, syntaxError(err))
	}
	if top := topLevel(s.root); top != nil {
		for i := 0; i+1 < len(top.Content); i += 2 {
			k := top.Content[i]
			if slices.Contains(fragmentKeys, k.Value) {
				continue
			}
			if topLevelKeys()[k.Value] {
				return nil, frag, fmt.Errorf("%s: line %d: %s belongs in the main config file: an included file holds policies and routes only", file, k.Line, k.Value)
			}
			return nil, frag, fmt.Errorf("%s: line %d: unknown key %q (an included file holds policies and routes)", file, k.Line, k.Value)
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&frag); err != nil && !errors.Is(err, io.EOF) {
		return nil, frag, fmt.Errorf("%s: %w", file, cleanYAMLError(err, s.root))
	}
	return s, frag, nil
}

// topLevelKeys are the keys of a main config file (inline sections'
// keys included).
func topLevelKeys() map[string]bool {
	keys := map[string]bool{}
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			key, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			switch {
			case opts == "inline":
				add(f.Type)
			case key != "" && key != "-":
				keys[key] = true
			}
		}
	}
	add(reflect.TypeFor[Config]())
	return keys
}

func topLevel(root *yaml.Node) *yaml.Node {
	n := document(root)
	if n.Kind != yaml.MappingNode {
		return nil
	}
	return n
}

// place renders a problem at the file and line it was written: with
// fragments, each message names its file.
func place(sources []*source, e fieldError) string {
	if len(sources) == 1 {
		return e.withLine(sources[0].root)
	}
	parts := strings.SplitN(e.path, ".", 3)
	if len(parts) >= 2 {
		for _, s := range sources[1:] {
			switch {
			case parts[0] == "routes":
				i, err := strconv.Atoi(parts[1])
				if err == nil && i >= s.routeBase && i < s.routeBase+s.routes {
					local := "routes." + strconv.Itoa(i-s.routeBase)
					if len(parts) == 3 {
						local += "." + parts[2]
					}
					if line := lineOf(s.root, local); line > 0 {
						return fmt.Sprintf("%s: line %d: %s: %s", s.file, line, local, e.msg)
					}
					return fmt.Sprintf("%s: %s: %s", s.file, local, e.msg)
				}
			case parts[0] == "policies" && s.policies[parts[1]]:
				return s.file + ": " + e.withLine(s.root)
			}
		}
	}
	return sources[0].file + ": " + e.withLine(sources[0].root)
}

// RouteOrigin says where merged route i was written ("teams/orders.yaml:
// line 4"), for messages and explain; "" without fragments.
func (c *Config) RouteOrigin(i int) string {
	if i < len(c.routeOrigins) {
		return c.routeOrigins[i]
	}
	return ""
}

// recordOrigins notes each route's and policy's file and line.
func recordOrigins(cfg *Config, sources []*source) {
	if len(sources) == 1 {
		return
	}
	cfg.routeOrigins = make([]string, len(cfg.Routes))
	cfg.policyOrigins = map[string]string{}
	for _, s := range sources {
		base, n := s.routeBase, s.routes
		if s == sources[0] {
			base, n = 0, sources[1].routeBase
		}
		for i := range n {
			cfg.routeOrigins[base+i] = fmt.Sprintf("%s: line %d", s.file, lineOf(s.root, "routes."+strconv.Itoa(i)))
		}
		for name := range s.policies {
			cfg.policyOrigins[name] = fmt.Sprintf("%s: line %d", s.file, lineOf(s.root, "policies."+name))
		}
	}
}

// PolicyOrigin says where a policy was written; "" without fragments.
func (c *Config) PolicyOrigin(name string) string { return c.policyOrigins[name] }

// hashSources is the SHA-256 of every file's text, the main file first.
func hashSources(sources []*source) [sha256.Size]byte {
	if len(sources) == 1 {
		return sha256.Sum256(sources[0].data)
	}
	h := sha256.New()
	for _, s := range sources {
		fmt.Fprintf(h, "%s\x00%d\x00", s.file, len(s.data))
		h.Write(s.data)
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// mainFilePolicies are the policies only the main file may define, each
// with why: default, which every policy extends unless it says otherwise,
// and every policy the main file's routes, routes_unmatched or extends
// name — a team's file must not change what the platform's routes apply.
func mainFilePolicies(cfg *Config) map[string]string {
	names := map[string]string{DefaultPolicy: "every policy extends it unless it says otherwise"}
	add := func(name, why string) {
		if _, ok := names[name]; !ok {
			names[name] = why
		}
	}
	for _, r := range cfg.Routes {
		add(r.Policy, fmt.Sprintf("the main file's route %q applies it", r.Name))
	}
	if u := cfg.Routing.Unmatched; u != "" && u != authz.UnmatchedDeny {
		add(u, "the main file's routes_unmatched names it")
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Policies)) {
		if e := cfg.Policies[name].Extends; e != "" && e != ExtendsNone {
			add(e, fmt.Sprintf("the main file's policy %q extends it", name))
		}
	}
	return names
}
