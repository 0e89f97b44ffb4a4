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
	line, rest, ok := cutLine(b)
	if !ok {
		return h, false
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return h, false
	}
	method := line[:sp1]
	for _, c := range method {
		if c < 'A' || c > 'Z' {
			return h, false
		}
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return h, false
	}
	target, proto := line[sp1+1:sp1+1+sp2], line[sp1+2+sp2:]
	if string(proto) != "HTTP/1.1" || target[0] != '/' {
		return h, false
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return h, false
		}
	}
	h.method, h.target = string(method), string(target)
	u, err := url.ParseRequestURI(h.target)
	if err != nil {
		return h, false // net/http answers 400
	}
	h.url = u
	h.header = make(http.Header, 8)
	hosts, lengths := 0, 0
	for fields := 0; ; fields++ {
		line, rest, ok = cutLine(rest)
		if !ok || fields > maxFields {
			return h, false
		}
		if len(line) == 0 {
			break // the blank line: the head's end
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return h, false
		}
		name := line[:colon]
		for _, c := range name {
			if !isToken(c) {
				return h, false
			}
		}
		value := trimOWS(line[colon+1:])
		for _, c := range value {
			if (c < ' ' || c == 0x7f || c >= 0x80) && c != '\t' {
				return h, false
			}
		}
		key := textproto.CanonicalMIMEHeaderKey(string(name))
		switch key {
		case "Host":
			hosts++
			for _, c := range value {
				if !isHostByte(c) {
					return h, false
				}
			}
			h.host = string(value)
			continue // net/http moves it to Request.Host
		case "Transfer-Encoding", "Expect", "Upgrade", "Te", "Trailer":
			return h, false
		case "Content-Length":
			lengths++
			if string(value) != "0" {
				return h, false
			}
		case "Connection":
			switch string(bytes.ToLower(value)) {
			case "close":
				h.close = true
			case "keep-alive":
			default:
				return h, false
			}
		}
		h.header[key] = append(h.header[key], string(value))
	}
	if hosts != 1 || h.host == "" || lengths > 1 || len(rest) != 0 {
		return h, false
	}
	return h, true
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
