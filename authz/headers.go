package authz

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// HeaderValue is one header to set on the upstream request.
type HeaderValue struct {
	Name  string
	Value string
}

// ClaimHeader maps a claim (dotted path for nested claims) to an upstream header.
type ClaimHeader struct {
	Claim  string
	Header string
}

// headerPlan is a policy's claim→header mapping, prepared once so the hot
// path only looks claims up.
type headerPlan struct {
	entries   []ClaimHeader
	separator string
	maxBytes  int
	payload   string // header for the whole payload (base64url JSON); "" = none
	// owned are the lower-case names of every header the plan sets.
	owned []string
	// alwaysRemove holds the underscore spellings of every mapped header:
	// some upstream stacks fold x_user_id into x-user-id, so a client could
	// smuggle a claim header under that name.
	alwaysRemove []string
	// foreign are the headers other policies write and this one does not:
	// removed on every allow, so a client's x-user-id never reaches an
	// upstream through a public route beside the protected ones.
	foreign []string
}

// newHeaderPlan prepares p's claim headers; stepHeaders are the headers
// its upstream steps write, whose other spellings go too.
func newHeaderPlan(p *Policy, stepHeaders []string) headerPlan {
	hp := headerPlan{entries: p.Headers, separator: p.HeaderSeparator, maxBytes: p.MaxHeaderBytes, payload: p.PayloadHeader}
	names := make([]string, 0, len(p.Headers)+1+len(stepHeaders))
	for _, h := range p.Headers {
		names = append(names, h.Header)
	}
	if p.PayloadHeader != "" {
		names = append(names, p.PayloadHeader)
	}
	for _, h := range stepHeaders {
		names = append(names, strings.ToLower(h))
	}
	hp.owned = names
	for _, n := range names {
		if u := strings.ReplaceAll(n, "-", "_"); u != n {
			hp.alwaysRemove = append(hp.alwaysRemove, u)
		}
	}
	return hp
}

// render fills d's headers from claims: every mapped header is either set
// (overwriting whatever the client sent) or removed, never left alone, and
// every other spelling of it the request carries is removed.
func (hp *headerPlan) render(claims map[string]any, req Header, d *Decision) {
	d.Headers = make([]HeaderValue, 0, len(hp.entries)+1)
	d.RemoveHeaders = make([]string, 0, len(hp.entries)+len(hp.alwaysRemove)+len(hp.foreign)+1)
	d.RemoveHeaders = append(d.RemoveHeaders, hp.alwaysRemove...)
	d.RemoveHeaders = append(d.RemoveHeaders, hp.foreign...)
	if req != nil && len(hp.owned) > 0 {
		req.Names(func(name string) { d.RemoveHeaders = hp.appendSpelling(d.RemoveHeaders, name) })
	}
	for _, e := range hp.entries {
		v, ok := lookupClaim(claims, e.Claim)
		if ok {
			if s, ok := sanitizeHeaderValue(renderClaim(v, hp.separator), hp.maxBytes); ok {
				d.Headers = append(d.Headers, HeaderValue{Name: e.Header, Value: s})
				continue
			}
		}
		d.RemoveHeaders = append(d.RemoveHeaders, e.Header)
	}
	if hp.payload != "" {
		if b, err := json.Marshal(claims); err == nil {
			if s, ok := sanitizeHeaderValue(base64.RawURLEncoding.EncodeToString(b), hp.maxBytes); ok {
				d.Headers = append(d.Headers, HeaderValue{Name: hp.payload, Value: s})
				return
			}
		}
		d.RemoveHeaders = append(d.RemoveHeaders, hp.payload)
	}
}

// appendSpelling adds name to remove when it is another spelling of an
// owned header: CGI-style servers (Rack, WSGI, PHP) fold x-user_id,
// X_User-Id and x-user-id alike into HTTP_X_USER_ID, so every mix of '-'
// and '_' in any case must go. The exact owned name is set or removed by
// the plan itself.
func (hp *headerPlan) appendSpelling(remove []string, name string) []string {
	for _, own := range hp.owned {
		if len(name) != len(own) || name == own || !sameHeaderName(name, own) {
			continue
		}
		lower := strings.ToLower(name)
		if lower != own && !slices.Contains(remove, lower) {
			remove = append(remove, lower)
		}
		return remove
	}
	return remove
}

// sameHeaderName compares header names case-insensitively with '-' and '_'
// as one character.
func sameHeaderName(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// sanitizeHeaderValue drops control characters other than tab (CR, LF and
// NUL would let a claim split or truncate headers) and refuses values over
// maxBytes: a truncated value could change meaning ("admin-readonly" cut to
// "admin"), so an over-long claim is treated as absent.
func sanitizeHeaderValue(s string, maxBytes int) (string, bool) {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			clean = false
			break
		}
	}
	if !clean {
		s = strings.Map(func(r rune) rune {
			if (r < 0x20 && r != '\t') || r == 0x7f {
				return -1
			}
			return r
		}, s)
	}
	s = strings.TrimSpace(s)
	if s == "" || (maxBytes > 0 && len(s) > maxBytes) {
		return "", false
	}
	return s, true
}

// lookupClaim follows a dotted path ("realm_access.roles") through nested
// objects. A claim whose own name contains a dot (as some IdPs emit, e.g.
// "https://example.com/roles") is found by trying the whole remaining path
// as one key first.
func lookupClaim(claims map[string]any, path string) (any, bool) {
	if v, ok := claims[path]; ok {
		return v, v != nil
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		inner, ok := claims[path[:i]].(map[string]any)
		if !ok {
			continue
		}
		if v, ok := lookupClaim(inner, path[i+1:]); ok {
			return v, true
		}
	}
	return nil, false
}

// renderClaim turns a claim into a header value: strings as they are,
// numbers without exponent, arrays joined by sep, objects as compact JSON.
func renderClaim(v any, sep string) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		// An item holding the separator would read as two items upstream
		// (["user,admin"] against ["user","admin"]); it is dropped so the
		// upstream can trust the split.
		var b strings.Builder
		n := 0
		for _, e := range v {
			s := renderScalar(e)
			if sep != "" && strings.Contains(s, sep) {
				continue
			}
			if n > 0 {
				b.WriteString(sep)
			}
			b.WriteString(s)
			n++
		}
		return b.String()
	default:
		return renderScalar(v)
	}
}

func renderScalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
}
