// Package resourcemeta serves OAuth 2.0 Protected Resource Metadata (RFC
// 9728): for each resource a policy guards, the JSON document a client
// reads to find the authorization servers that issue tokens for it.
package resourcemeta

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Document is one resource's metadata (RFC 9728 §2).
type Document struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers,omitempty"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported,omitempty"`
	ResourceName           string   `json:"resource_name,omitempty"`
	ResourceDocumentation  string   `json:"resource_documentation,omitempty"`
	// SignedMetadata is these fields as a signed JWT (RFC 9728 §2.2).
	SignedMetadata string `json:"signed_metadata,omitempty"`
}

// Sign returns doc's signed_metadata: its fields, iss and iat as the
// claims of a JWT sign makes (RFC 9728 §2.2: the signed values take
// precedence, so they are the same values).
func Sign(doc Document, issuer string, now time.Time, sign func(payload []byte) (string, error)) (string, error) {
	doc.SignedMetadata = ""
	b, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		return "", err
	}
	claims["iss"], claims["iat"] = issuer, now.Unix()
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return sign(payload)
}

// Entry is a document and where it is served: its well-known path and
// how long clients may keep it.
type Entry struct {
	Path     string
	Document Document
	MaxAge   time.Duration
}

// Set is the documents of one config, rendered once.
type Set struct {
	byPath map[string]rendered
}

type rendered struct {
	body         []byte
	cacheControl string
}

// New renders the entries. A path that ends in "/" is served without it
// too, and one without it with it: RFC 9728 derives the path from the
// identifier as written, and clients differ on the trailing slash.
func New(entries []Entry) (*Set, error) {
	s := &Set{byPath: make(map[string]rendered, 2*len(entries))}
	for _, e := range entries {
		body, err := json.Marshal(e.Document)
		if err != nil {
			return nil, err
		}
		r := rendered{body: body, cacheControl: "public, max-age=" + strconv.Itoa(int(e.MaxAge/time.Second))}
		path := strings.TrimSuffix(e.Path, "/")
		s.byPath[path] = r
		s.byPath[path+"/"] = r
	}
	return s, nil
}

// Serve answers GET (and HEAD) of a metadata path: the document, or 404.
// sets returns the Set serving now (a reload swaps it).
func Serve(sets func() *Set) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sets()
		var doc rendered
		ok := false
		if s != nil {
			doc, ok = s.byPath[r.URL.EscapedPath()]
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", doc.cacheControl)
		h.Set("Content-Length", strconv.Itoa(len(doc.body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(doc.body)
		}
	})
}
