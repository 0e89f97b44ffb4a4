// Command chartschema writes the config's JSON Schema (config.JSONSchema)
// into the Helm chart's values.schema.json as the "config" value's
// schema, so `helm template` refuses a misspelt config key. make manifests
// runs it; the chart's tests hold the file to it.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/authz-dev/authz/internal/config"
)

func main() {
	path := "deploy/helm/authz/values.schema.json"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	if err := write(path); err != nil {
		fmt.Fprintln(os.Stderr, "chartschema:", err)
		os.Exit(1)
	}
}

func write(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := WithConfigSchema(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

// WithConfigSchema is the values schema b with its config property
// replaced by the config's schema, indented as the file is.
func WithConfigSchema(b []byte) ([]byte, error) {
	var schema map[string]any
	if err := json.Unmarshal(b, &schema); err != nil {
		return nil, err
	}
	props, ok := schema["properties"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("no properties")
	}
	props["config"] = config.JSONSchema()
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(schema); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
