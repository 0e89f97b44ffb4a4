package forwardauth

import "strings"

// xfccHash returns the Hash of an x-forwarded-client-cert that holds
// exactly one element in one field line (what a proxy that sets it afresh
// sends); "" when there is none or several — two elements, or two field
// lines of one each — since which one is the client's is then anybody's
// guess.
func xfccHash(lines []string) string {
	if len(lines) != 1 || lines[0] == "" || elements(lines[0]) > 1 {
		return ""
	}
	xfcc := lines[0]
	for _, kv := range splitOutsideQuotes(xfcc, ';') {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "Hash") {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

func elements(xfcc string) int { return len(splitOutsideQuotes(xfcc, ',')) }

// splitOutsideQuotes splits s at sep outside double quotes (XFCC quotes
// values that hold , ; or =).
func splitOutsideQuotes(s string, sep byte) []string {
	var parts []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quoted:
			i++
		case s[i] == '"':
			quoted = !quoted
		case s[i] == sep && !quoted:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}
