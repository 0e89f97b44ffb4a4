package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads, decodes, defaults and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes data strictly (an unknown key is an error naming key and
// line), fills defaults and validates the result.
func Parse(data []byte) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, cleanYAMLError(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, cleanYAMLError(err)
	}
	cfg.setDefaults()
	if errs := cfg.validate(); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.withLine(&root)
		}
		return nil, errors.New(strings.Join(msgs, "\n"))
	}
	for _, w := range cfg.warnings() {
		cfg.Warnings = append(cfg.Warnings, w.withLine(&root))
	}
	return &cfg, nil
}

// cleanYAMLError drops the Go type names yaml.v3 puts in its messages
// ("field foo not found in type config.Issuer" → "unknown key foo").
func cleanYAMLError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if before, after, ok := strings.Cut(l, ": field "); ok {
			if name, _, ok := strings.Cut(after, " not found in type"); ok {
				l = before + ": unknown key " + strconv.Quote(name)
			}
		}
		lines[i] = l
	}
	return errors.New(strings.Join(lines, "\n"))
}

// fieldError is a validation error at a path of keys ("issuers.0.jwks_url").
type fieldError struct {
	path string
	msg  string
}

func (e fieldError) withLine(root *yaml.Node) string {
	if line := lineOf(root, e.path); line > 0 {
		return fmt.Sprintf("line %d: %s: %s", line, e.path, e.msg)
	}
	return e.path + ": " + e.msg
}

// lineOf finds the line of the deepest node along path that exists, so an
// error about a missing key points at its parent.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
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
