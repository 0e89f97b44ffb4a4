package config

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads, decodes, defaults and validates the file at path.
func Load(path string) (*Config, error) { return load(path, false) }

// LoadOffline is Load without reading secrets (files or environment), for
// checking a config where they do not exist, as in CI.
func LoadOffline(path string) (*Config, error) { return load(path, true) }

func load(path string, offline bool) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := parse(path, data, offline)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes data strictly (an unknown key is an error naming key and
// line), fills defaults and validates the result.
func Parse(data []byte) (*Config, error) { return parse("", data, false) }

// parse reads the main file's text (file names it, for includes and
// messages) and the fragments it includes.
func parse(file string, data []byte, offline bool) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		if msg, ok := misindentedItem(strings.TrimPrefix(err.Error(), "yaml: "), data); ok {
			return nil, errors.New(msg)
		}
		return nil, syntaxError(err)
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// Unknown keys and values of the wrong type are reported with the
	// validation's findings, in one run: yaml.v3 decodes what it can
	// beside them. Anything else stops here.
	var found []string
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, cleanYAMLError(err, &root)
		}
		found = strings.Split(cleanYAMLError(err, &root).Error(), "\n")
	}
	main := &source{file: file, data: data, root: &root, routes: len(cfg.Routes), policies: map[string]bool{}}
	for name := range cfg.Policies {
		main.policies[name] = true
	}
	sources, err := includeFragments(&cfg, main)
	if err != nil {
		return nil, reported(append(found, err.Error()))
	}
	recordOrigins(&cfg, sources)
	markEmptyAddrs(&cfg, &root)
	cfg.setDefaults()
	p := cfg.validate(offline)
	for _, e := range p.errs {
		found = append(found, place(sources, e))
	}
	if len(found) > 0 {
		return nil, reported(found)
	}
	for _, w := range p.warnings {
		cfg.Warnings = append(cfg.Warnings, place(sources, w))
	}
	sum := hashSources(sources)
	cfg.Hash = hex.EncodeToString(sum[:6])
	return &cfg, nil
}

// Complete fills the defaults of a config built as a Go value (tests,
// embedders) and validates it; errors name the field path, without lines.
func Complete(cfg *Config) error {
	cfg.setDefaults()
	p := cfg.validate(false)
	if len(p.errs) > 0 {
		msgs := make([]string, len(p.errs))
		for i, e := range p.errs {
			msgs[i] = e.path + ": " + e.msg
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	cfg.Warnings = nil
	for _, w := range p.warnings {
		cfg.Warnings = append(cfg.Warnings, w.path+": "+w.msg)
	}
	return nil
}

// cleanYAMLError drops the Go type names yaml.v3 puts in its messages
// ("field foo not found in type config.Issuer" → "unknown key foo").
// Type errors name the key and say what to write instead ("line 2:
// cache.ttl: 30 is not a duration; write it with a unit, like 30s").
func cleanYAMLError(err error, root *yaml.Node) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if before, after, ok := strings.Cut(l, ": field "); ok {
			if name, typ, ok := strings.Cut(after, " not found in type "); ok {
				l = before + ": unknown key " + strconv.Quote(name)
				if near := nearestKey(typ, name); near != "" {
					l += "; did you mean " + strconv.Quote(near) + "?"
				}
			}
		}
		if msg, ok := keyOfEntry(l, root); ok {
			lines[i] = msg
			continue
		}
		if m := kindError.FindStringSubmatch(l); m != nil {
			// A list or a mapping where a value of another shape belongs:
			// yaml.v3 names no value and no key; the key is on the line.
			line, _ := strconv.Atoi(m[1])
			where := "line " + m[1] + ": "
			path := containerAtLine(root, line)
			if path == "" {
				// A block list reports its first item's line: the list
				// is the item's parent.
				path = pathAtLine(root, line)
				if head, last, ok := cutLast(path, "."); ok && m[2] == "seq" && isIndex(last) {
					path = head
				}
			}
			if path != "" {
				where += displayPath(root, path) + ": "
			}
			lines[i] = where + kindAdvice(m[2], m[3])
			continue
		}
		if m := typeError.FindStringSubmatch(l); m != nil {
			line, _ := strconv.Atoi(m[1])
			// yaml.v3 shortens long values ("orders:..."): the whole one
			// is on that line, and it tells which key of a flow mapping
			// ({ path: /x, methods: GET }) is wrong.
			path, value := valueAtLine(root, line, m[3])
			where := "line " + m[1] + ": "
			if path != "" {
				where += displayPath(root, path) + ": "
			}
			l = where + typeAdvice(m[2], value, m[4])
		}
		lines[i] = l
	}
	return errors.New(strings.Join(lines, "\n"))
}

var typeError = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+) `(.*)` into (.+)$")

// kindError is yaml.v3's message for a list or mapping where another
// shape belongs: no value quoted.
var kindError = regexp.MustCompile(`^line (\d+): cannot unmarshal !!(seq|map) into (.+)$`)

// kindAdvice says what a list or mapping (kind) should have been.
func kindAdvice(kind, want string) string {
	got := map[string]string{"seq": "a list", "map": "keys and values (a mapping)"}[kind]
	switch {
	case want == "time.Duration":
		return "want one duration, like 5s, not " + got
	case strings.HasPrefix(want, "[]"):
		return "want a list, like [a, b] or one \"- item\" per line, not " + got
	case strings.HasPrefix(want, "map[") || strings.HasPrefix(want, "config."):
		return "want keys and values (a mapping) here, like { name: value }, not " + got
	case want == "bool":
		return "want true or false, not " + got
	case strings.HasPrefix(want, "int") || strings.HasPrefix(want, "float") || strings.HasPrefix(want, "uint"):
		return "want a number, not " + got
	}
	return "want one value here, not " + got
}

// typeAdvice says what a value of YAML kind got, where want was expected, should be.
func typeAdvice(kind, value, want string) string {
	switch {
	case want == "time.Duration" && kind == "int":
		return value + " is not a duration; write it with a unit, like " + value + "s"
	case want == "time.Duration":
		return strconv.Quote(value) + " is not a duration; write it like 500ms, 30s or 5m"
	case strings.HasPrefix(want, "int") || strings.HasPrefix(want, "float") || strings.HasPrefix(want, "uint"):
		return strconv.Quote(value) + " is not a number"
	case want == "bool":
		return strconv.Quote(value) + " is not true or false"
	case strings.HasPrefix(want, "[]"):
		return "want a list, like [a, b] or one \"- item\" per line, not " + strconv.Quote(value)
	case strings.HasPrefix(want, "map[") || strings.HasPrefix(want, "config."):
		return "want keys and values (a mapping) here, not " + strconv.Quote(value)
	}
	return strconv.Quote(value) + " has the wrong type here (" + want + ")"
}

// syntaxError points at the line and says what usually causes it.
func syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.Contains(msg, "mapping values are not allowed") || strings.Contains(msg, "did not find expected key") {
		msg += " (check this line's indentation against the lines above it: keys of one mapping line up)"
	}
	if strings.Contains(msg, "found character that cannot start any token") {
		msg += " (a tab? YAML indents with spaces only)"
	}
	return errors.New(msg)
}

// valueAtLine is the key path and the whole value of the scalar on line
// that yaml.v3's message quoted as shown (which it cuts to "start..."):
// the first scalar on the line when none matches.
func valueAtLine(root *yaml.Node, line int, shown string) (path, value string) {
	prefix, cut := strings.CutSuffix(shown, "...")
	match := func(v string) bool { return v == shown || cut && strings.HasPrefix(v, prefix) }
	if p, v := scalarAtLine(root, line, match); p != "" {
		return p, v
	}
	if p, _ := scalarAtLine(root, line, func(string) bool { return true }); p != "" {
		return p, shown
	}
	return pathAtLine(root, line), shown
}

// fieldError is a validation error at a path of keys ("issuers.0.jwks_url").
type fieldError struct {
	path string
	msg  string
}

func newFieldError(path, format string, args ...any) fieldError {
	return fieldError{path: path, msg: fmt.Sprintf(format, args...)}
}

// pathOf joins keys and indexes into a key path ("issuers.0.jwks_url").
func pathOf(parts ...any) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ".")
}

// setDefault sets *v to def when it is the zero value.
func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (e fieldError) withLine(root *yaml.Node) string {
	if line := lineOf(root, e.path); line > 0 {
		return fmt.Sprintf("line %d: %s: %s", line, displayPath(root, e.path), e.msg)
	}
	return displayPath(root, e.path) + ": " + e.msg
}

// displayPath writes a key path as messages show it: a route by its
// number as -explain counts (#1 first) and its name, so one route has one
// name everywhere ("routes.1.policy" is "routes #2 (x).policy").
func displayPath(root *yaml.Node, path string) string {
	rest, ok := strings.CutPrefix(path, "routes.")
	if !ok {
		return path
	}
	idx, tail, _ := strings.Cut(rest, ".")
	i, err := strconv.Atoi(idx)
	if err != nil {
		return path
	}
	out := fmt.Sprintf("routes #%d", i+1)
	if name := routeName(root, i); name != "" {
		out += fmt.Sprintf(" (%s)", name)
	}
	if tail != "" {
		out += "." + tail
	}
	return out
}

// routeName is the name the i-th route (from 0) is written with, or "".
func routeName(root *yaml.Node, i int) string {
	doc := document(root)
	if doc == nil || doc.Kind != yaml.MappingNode {
		return ""
	}
	for j := 0; j+1 < len(doc.Content); j += 2 {
		if doc.Content[j].Value != "routes" || doc.Content[j+1].Kind != yaml.SequenceNode {
			continue
		}
		items := doc.Content[j+1].Content
		if i >= len(items) || items[i].Kind != yaml.MappingNode {
			return ""
		}
		for k := 0; k+1 < len(items[i].Content); k += 2 {
			if items[i].Content[k].Value == "name" {
				return items[i].Content[k+1].Value
			}
		}
	}
	return ""
}

// lineOf finds the line of the deepest node along path that exists, so an
// error about a missing key points at its parent.
func lineOf(root *yaml.Node, path string) int {
	n := document(root)
	line := 0
	for _, part := range strings.Split(path, ".") {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					line = n.Content[i].Line
					next = n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(part); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// resolveSecret returns the secret named by value ("${ENV_VAR}" or a literal)
// or file. Errors name the variable or file, never the secret.
func resolveSecret(value, file string) (string, error) {
	switch {
	case value != "" && file != "":
		return "", fmt.Errorf("set the secret or its file, not both")
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return "", fmt.Errorf("secret file %s is empty", file)
		}
		return s, nil
	case value != "":
		if m := envRef.FindStringSubmatch(value); m != nil {
			s := os.Getenv(m[1])
			if s == "" {
				return "", fmt.Errorf("environment variable %s is empty or unset", m[1])
			}
			return s, nil
		}
		return value, nil
	}
	return "", nil
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// maxReported bounds the errors one run reports: past it, the rest are
// counted, so a file that is wrong everywhere does not bury the first.
const maxReported = 20

// reported is every problem found, one per line, at most maxReported.
func reported(msgs []string) error {
	if len(msgs) > maxReported {
		msgs = append(msgs[:maxReported:maxReported], fmt.Sprintf("… and %d more", len(msgs)-maxReported))
	}
	return errors.New(strings.Join(msgs, "\n"))
}
