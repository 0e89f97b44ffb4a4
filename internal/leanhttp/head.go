// Package leanhttp serves one kind of request — a small HTTP/1.1 request
// with no body, answered by a small answer on a keep-alive connection, as
// a proxy's auth subrequest is — without net/http's per-request
// machinery: no goroutine hand-off, one read buffer and one answer buffer
// per connection, one write per answer. Everything else on the listener,
// and every request it does not recognise as plainly well-formed, is
// handed, connection and buffered bytes together, to a net/http server:
// the lean path is never more permissive than net/http, only faster on
// the requests both read the same way.
package leanhttp

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
)

// head is a request head the lean path serves: method, target, the one
// Host, the other fields (canonical names, as net/http keys them), and
// whether the client asked to close the connection.
type head struct {
	method, target, host string
	url                  *url.URL
	header               http.Header
	close                bool
}

// maxFields bounds the fields of a head the lean path reads; a request
// with more goes to net/http.
const maxFields = 100

// parseHead reads b, a request head ending in CRLF CRLF, and reports
// false for anything but the plainest form — which net/http then reads
// (and refuses, or serves) itself:
//
//   - the request line is METHOD SP TARGET SP "HTTP/1.1", the method upper
//     case letters, the target origin-form of visible ASCII;
//   - every line ends in CRLF (a bare LF, a NUL, obs-fold continuation
//     lines, and any byte outside visible ASCII, space and tab in a value
//     go to net/http);
//   - field names are tokens; exactly one Host, of host characters;
//   - no Transfer-Encoding, Expect or Upgrade; a Content-Length, if any,
//     is one field saying 0; Connection says close or keep-alive.
func parseHead(b []byte) (head, bool) {
	var h head
	ok := readHead(b, &h, nil)
	return h, ok
}

// readHead is parseHead into h, its header map reused (cleared) when it
// has one, its strings taken from in when given: a connection that sends
// the same fields request after request (a proxy's auth subrequests)
// makes no new string for them.
func readHead(b []byte, h *head, in *interner) bool {
	line, rest, ok := cutLine(b)
	if !ok {
		return false
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return false
	}
	method := line[:sp1]
	for _, c := range method {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return false
	}
	target, proto := line[sp1+1:sp1+1+sp2], line[sp1+2+sp2:]
	if string(proto) != "HTTP/1.1" || target[0] != '/' {
		return false
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	h.method, h.target = in.str(method), in.str(target)
	u, err := in.url(h.target)
	if err != nil {
		return false // net/http answers 400
	}
	h.url = u
	if h.header == nil {
		h.header = make(http.Header, 8)
	} else {
		clear(h.header)
	}
	if in != nil {
		in.used = 0
	}
	h.host, h.close = "", false
	hosts, lengths := 0, 0
	for fields := 0; ; fields++ {
		line, rest, ok = cutLine(rest)
		if !ok || fields > maxFields {
			return false
		}
		if len(line) == 0 {
			break // the blank line: the head's end
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return false
		}
		name := line[:colon]
		for _, c := range name {
			if !isToken(c) {
				return false
			}
		}
		value := trimOWS(line[colon+1:])
		for _, c := range value {
			if (c < ' ' || c == 0x7f || c >= 0x80) && c != '\t' {
				return false
			}
		}
		key := in.key(name)
		switch key {
		case "Host":
			hosts++
			for _, c := range value {
				if !isHostByte(c) {
					return false
				}
			}
			h.host = in.str(value)
			continue // net/http moves it to Request.Host
		case "Transfer-Encoding", "Expect", "Upgrade", "Te", "Trailer":
			return false
		case "Content-Length":
			lengths++
			if string(value) != "0" {
				return false
			}
		case "Connection":
			switch string(bytes.ToLower(value)) {
			case "close":
				h.close = true
			case "keep-alive":
			default:
				return false
			}
		}
		if vs, seen := h.header[key]; seen {
			h.header[key] = append(vs, in.str(value))
		} else {
			h.header[key] = in.one(in.str(value))
		}
	}
	if hosts != 1 || h.host == "" || lengths > 1 || len(rest) != 0 {
		return false
	}
	return true
}

// cutLine splits b at its first CRLF; false when b has none, or a bare
// CR or LF, or a NUL, comes first.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	for i, c := range b {
		switch c {
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				return b[:i], b[i+2:], true
			}
			return nil, nil, false
		case '\n', 0:
			return nil, nil, false
		}
	}
	return nil, nil, false
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// isToken: RFC 9110 tchar.
func isToken(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// isHostByte: a name, an IPv4 or bracketed IPv6 address, and a port.
func isHostByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_'
}

// interner keeps the strings a connection's heads repeat: field names,
// values, targets, and the parsed URL of a repeated target. A nil
// interner makes a new string each time. It is bounded: past maxInterned
// strings it starts afresh.
type interner struct {
	strs map[string]string
	keys map[string]string
	urls map[string]*url.URL
	// slab backs the one-value slices of a head's fields, reused by the
	// next head (the handler keeps none past its answer).
	slab []string
	used int
}

// one returns a slice holding s alone, from the slab. A field repeated
// appends past its one value into a slice of its own.
func (in *interner) one(s string) []string {
	if in == nil {
		return []string{s}
	}
	if in.used == len(in.slab) {
		in.slab = make([]string, max(2*len(in.slab), 16))
		in.used = 0
	}
	v := in.slab[in.used : in.used+1 : in.used+1]
	v[0] = s
	in.used++
	return v
}

const maxInterned = 256

func (in *interner) str(b []byte) string {
	if in == nil {
		return string(b)
	}
	if s, ok := in.strs[string(b)]; ok {
		return s
	}
	if in.strs == nil || len(in.strs) >= maxInterned {
		in.strs = make(map[string]string, 32)
	}
	s := string(b)
	in.strs[s] = s
	return s
}

func (in *interner) key(b []byte) string {
	if in == nil {
		return textproto.CanonicalMIMEHeaderKey(string(b))
	}
	if s, ok := in.keys[string(b)]; ok {
		return s
	}
	if in.keys == nil || len(in.keys) >= maxInterned {
		in.keys = make(map[string]string, 32)
	}
	s := textproto.CanonicalMIMEHeaderKey(string(b))
	in.keys[string(b)] = s
	return s
}

// url parses target as net/http does; a repeated target shares its
// parse (the handler only reads it).
func (in *interner) url(target string) (*url.URL, error) {
	if in == nil {
		return url.ParseRequestURI(target)
	}
	if u, ok := in.urls[target]; ok {
		return u, nil
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, err
	}
	if in.urls == nil || len(in.urls) >= maxInterned {
		in.urls = make(map[string]*url.URL, 8)
	}
	in.urls[target] = u
	return u, nil
}
