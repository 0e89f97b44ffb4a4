package authz

import (
	"strings"

	"github.com/authz-dev/authz/internal/rfc3986"
)

// NormalizePath returns the path of a request target as an upstream server
// resolves it, so routes and rules match what will be served rather than
// what was written: the query and fragment are dropped, percent-encoded
// unreserved characters (RFC 3986 §2.3) decoded, path parameters (";x=1",
// which servlet containers strip) removed, repeated slashes merged, and
// "." and ".." segments resolved (RFC 3986 §5.2.4). An encoded "/" or "\"
// (%2F, %5C) is never decoded into a separator: it stays in its segment.
//
// A clean path, the common case, is returned without allocating.
func NormalizePath(target string) string { return normalizePath(target, true) }

// normalizePathKeepingParams is NormalizePath with ";params" kept in their
// segments, as nginx, WHATWG parsers and Go read them: where the two
// readings route differently, the request is refused (choose).
func normalizePathKeepingParams(target string) string { return normalizePath(target, false) }

func normalizePath(target string, stripParams bool) string {
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	if target == "" {
		return "/"
	}
	if isClean(target) {
		return target
	}
	// Unreserved escapes decoded and the others' hex upper-cased, so %2f
	// and %2F compare equal; a stray % is written as %25, so that no escape
	// is formed by what follows it once decoded ("%%61" is never "%a").
	decoded := rfc3986.NormalizeEscapes(target, true)
	segments := strings.Split(decoded, "/")
	out := make([]string, 0, len(segments))
	for _, seg := range segments {
		if i := strings.IndexByte(seg, ';'); i >= 0 && stripParams {
			seg = seg[:i]
		}
		switch seg {
		case "", ".":
			continue
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			continue
		}
		out = append(out, seg)
	}
	trailing := strings.HasSuffix(decoded, "/") || strings.HasSuffix(decoded, "/.") || strings.HasSuffix(decoded, "/..")
	path := "/" + strings.Join(out, "/")
	if trailing && path != "/" {
		path += "/"
	}
	return path
}

// isClean reports whether p needs no normalisation: it starts with "/",
// and has no escapes, no path parameters, no empty, "." or ".." segments.
func isClean(p string) bool {
	if p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%', ';', '\\':
			return false
		case '/':
			if i+1 < len(p) && p[i+1] == '/' {
				return false
			}
			if i+1 < len(p) && p[i+1] == '.' {
				rest := p[i+1:]
				if rest == "." || rest == ".." || strings.HasPrefix(rest, "./") || strings.HasPrefix(rest, "../") {
					return false
				}
			}
		}
	}
	return true
}

// HasEncodedSeparator reports whether a normalised path still carries an
// encoded "/" or "\", which some upstreams decode after routing.
func HasEncodedSeparator(path string) bool {
	return strings.Contains(path, "%2F") || strings.Contains(path, "%5C")
}
