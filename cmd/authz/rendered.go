package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// mountRendered writes the ConfigMaps of a rendered chart (helm template
// of deploy/helm/authz) into dir as the pod mounts them — the config's
// under config/, the policy fragments' under policies/ — and returns the
// main config's path.
func mountRendered(source, dir string) (string, error) {
	var b []byte
	var err error
	if source == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(source)
	}
	if err != nil {
		return "", err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	main := ""
	for {
		var doc struct {
			Kind     string                `yaml:"kind"`
			Metadata struct{ Name string } `yaml:"metadata"`
			Data     map[string]string     `yaml:"data"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("rendered manifests: %w", err)
		}
		if doc.Kind != "ConfigMap" {
			continue
		}
		sub := "config"
		if strings.HasSuffix(doc.Metadata.Name, "-policies") {
			sub = "policies"
		}
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return "", err
		}
		for name, text := range doc.Data {
			path := filepath.Join(dir, sub, filepath.Base(name))
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				return "", err
			}
			if sub == "config" && name == "authz.yaml" {
				main = path
			}
		}
	}
	if main == "" {
		return "", errors.New("rendered manifests: no ConfigMap holds authz.yaml (is this a helm template of authz's chart?)")
	}
	return main, nil
}
