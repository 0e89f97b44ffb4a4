package authz

import (
	"strings"
	"unicode/utf8"

	"github.com/authz-dev/authz/internal/rfc3986"
)

// TargetProblem reports why a request target cannot be read one way by
// every server that may read it, or "" when it can. authz judges the path
// it normalises (NormalizePath); the proxy and the upstream route on their
// own readings — nginx's decoded $uri, WHATWG URL parsing (Node, browsers),
// Go's net/http. Where those readings could part, the request is refused
// rather than guessed:
//
//   - a target that is not origin-form ("/…"): an absolute-form target
//     names a host of its own, which the proxy may prefer to Host;
//   - a control character, space or DEL, raw or percent-encoded: WHATWG
//     parsing deletes tabs and newlines, nginx and Go keep them;
//   - a "\" in the path: WHATWG parsing reads it as "/", nginx and Go as a
//     byte of the segment;
//   - "#": a client never sends a fragment; WHATWG and nginx end the path
//     there, Go's net/http keeps it in the path;
//   - "%" not followed by two hex digits in the path: each reader repairs
//     it differently, or refuses the request;
//   - "%25" anywhere in the path: an encoded "%" is one decode away from
//     an escape of its own — "%252e", but as well "%25%32%65" or "%25%32e",
//     whose hex digits are escapes too — which an upstream that decodes
//     what nginx or a framework already decoded (proxy_pass …$uri, a
//     router on a decoded path) reads as another character, and so on to
//     a fixpoint. No check of what follows "%25" can see every spelling,
//     so none is tried: a literal "%" in a path is refused, with no
//     opt-out (docs/security.md);
//   - "%3F", "%23" or "%3B" in the path: an encoded "?" or "#" is one decode away
//     from ending the path — a framework that decodes the path and hands
//     it to a URL parser reads "/Admin%23x" as "/Admin" — so every reader
//     past that decode sees a shorter path than the one judged; "%3B"
//     likewise becomes ";params", which servlet containers cut;
//   - a path starting with "//": WHATWG parsing resolves "//host/x" against
//     the base as a network-path reference, naming another host;
//   - a path whose percent-decoding is not UTF-8 (overlong forms such as
//     %C0%AE, which some decoders turn into ".").
//
// The query is checked for control characters only: no reader routes on it.
// An empty target is no problem: it is "/" (a CheckRequest built by hand);
// a door that could not find the target says so in Request.Unreadable.
func TargetProblem(target string) string {
	if target == "" {
		return ""
	}
	if target[0] != '/' {
		return "request target is not a path"
	}
	if len(target) > 1 && target[1] == '/' {
		return "path starts with //"
	}
	path := target
	if i := strings.IndexByte(target, '?'); i >= 0 {
		path = target[:i]
	}
	plain := true // no escape and no byte above ASCII: already UTF-8
	for i := 0; i < len(target); i++ {
		c := target[i]
		switch {
		case c <= ' ' || c == 0x7f:
			return "control character or space in request target"
		case c == '#':
			return "fragment in request target"
		case i >= len(path):
			continue
		case c == '\\':
			return "backslash in path"
		case c >= 0x80:
			plain = false
		case c == '%':
			if i+2 >= len(path) || !rfc3986.IsHex(path[i+1]) || !rfc3986.IsHex(path[i+2]) {
				return "invalid percent-escape in path"
			}
			d := rfc3986.Unhex(path[i+1])<<4 | rfc3986.Unhex(path[i+2])
			if d < ' ' || d == 0x7f {
				return "encoded control character in path"
			}
			if d == '%' {
				return "encoded percent sign in path"
			}
			if d == '?' || d == '#' || d == ';' {
				return "encoded ?, # or ; in path"
			}
			plain = false
		}
	}
	if i := strings.IndexByte(target[len(path):], '%'); i >= 0 {
		// A query's escapes are the application's business, but an encoded
		// control character there is refused as a raw one is.
		q := target[len(path)+i:]
		for j := 0; j+2 < len(q); j++ {
			if q[j] == '%' && rfc3986.IsHex(q[j+1]) && rfc3986.IsHex(q[j+2]) {
				if d := rfc3986.Unhex(q[j+1])<<4 | rfc3986.Unhex(q[j+2]); d < ' ' || d == 0x7f {
					return "encoded control character in query"
				}
			}
		}
	}
	if !plain && !decodesToUTF8(path) {
		return "path is not UTF-8 once decoded"
	}
	return ""
}

// decodesToUTF8 reports whether s, every %XX decoded (TargetProblem has
// refused invalid escapes), is UTF-8. A path of common length is decoded
// on the stack.
func decodesToUTF8(s string) bool {
	var buf [512]byte
	b := buf[:0]
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			b = append(b, rfc3986.Unhex(s[i+1])<<4|rfc3986.Unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return utf8.Valid(b)
}

// CanonicalHost returns host as routes compare it: the port dropped, lower
// case, and one trailing dot removed — "shop.example.com." is the same DNS
// name as "shop.example.com", and nginx and most upstreams serve it so. A
// host that is not a plain DNS name, IPv4 or bracketed IPv6 address with an
// optional numeric port is reported as a problem instead: userinfo ("a@b"),
// empty labels ("a..b", "b.."), or characters a name cannot hold, which
// readers split or reject each in their own way. An empty host (HTTP/1.0,
// a bare CheckRequest) is no problem: no host route matches it.
func CanonicalHost(host string) (canonical, problem string) {
	name, port := host, ""
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return "", "unterminated IPv6 literal in host"
		}
		name, port = host[:end+1], host[end+1:]
		for i := 1; i < len(name)-1; i++ {
			if c := name[i]; !rfc3986.IsHex(c) && c != ':' && c != '.' {
				return "", "invalid IPv6 literal in host"
			}
		}
		if port != "" && port[0] != ':' {
			return "", "invalid port in host"
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		name, port = host[:i], host[i:]
	}
	if port != "" {
		for i := 1; i < len(port); i++ {
			if port[i] < '0' || port[i] > '9' {
				return "", "invalid port in host"
			}
		}
	}
	if strings.HasPrefix(name, "[") {
		return strings.ToLower(name), ""
	}
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		if host != "" {
			return "", "empty host name"
		}
		return "", ""
	}
	label := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", "empty label in host"
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		case 'A' <= c && c <= 'Z':
		default:
			return "", "invalid character in host"
		}
		label++
	}
	if label == 0 {
		return "", "empty label in host"
	}
	if endsInANumber(name) && !dottedQuad(name) {
		// WHATWG URL readers (browsers, Node) parse such a host as an IPv4
		// number ("0" is 0.0.0.0, "127.1" is 127.0.0.1, "0x7f.1" too);
		// others take it as a name. One host, two readings: refused.
		return "", "host reads as an IPv4 address to some readers and a name to others"
	}
	if hasUpper(name) {
		name = strings.ToLower(name)
	}
	return name, ""
}

// endsInANumber is the WHATWG URL Standard's test: the last label is all
// decimal digits, or 0x/0X and hexadecimal digits; the host is then parsed
// as an IPv4 address, whatever its other labels.
func endsInANumber(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if rest, ok := strings.CutPrefix(strings.ToLower(last), "0x"); ok {
		for i := 0; i < len(rest); i++ {
			if !rfc3986.IsHex(rest[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			return false
		}
	}
	return true
}

// dottedQuad reports an IPv4 address every reader reads alike: four
// decimal labels of 0-255, none with a leading zero (which some read as
// octal).
func dottedQuad(name string) bool {
	labels := strings.Split(name, ".")
	if len(labels) != 4 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 3 || (len(l) > 1 && l[0] == '0') {
			return false
		}
		n := 0
		for i := 0; i < len(l); i++ {
			if l[i] < '0' || l[i] > '9' {
				return false
			}
			n = n*10 + int(l[i]-'0')
		}
		if n > 255 {
			return false
		}
	}
	return true
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
