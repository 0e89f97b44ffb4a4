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
)

// A config may include fragments: files of policies and routes a team owns
// (a ConfigMap each), named by globs relative to the main file. They merge
// into one config in a fixed order — the main file's routes first, then
// each fragment's, fragments in the lexical order of their paths — and
// only policies and routes may be in them: listeners, caches and issuers
// are the platform's, in the main file.

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
	for _, g := range cfg.Include {
		if !filepath.IsAbs(g) {
			g = filepath.Join(dir, g)
		}
		cfg.IncludeGlobs = append(cfg.IncludeGlobs, g)
	}
	files, err := IncludedFiles(cfg.IncludeGlobs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", main.file, err)
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
	return sources, nil
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
	if u := cfg.Routing.Unmatched; u != "" && u != "deny" {
		add(u, "the main file's routes_unmatched names it")
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Policies)) {
		if e := cfg.Policies[name].Extends; e != "" && e != ExtendsNone {
			add(e, fmt.Sprintf("the main file's policy %q extends it", name))
		}
	}
	return names
}
