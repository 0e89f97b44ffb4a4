package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

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
