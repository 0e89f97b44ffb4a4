// Package policytest runs a config's policies against written cases
// without an IdP or a proxy: `authz test`. The real server runs on
// loopback with its validators' sources swapped — a key it makes up is
// every issuer's, an in-process RFC 7662 endpoint answers what each case
// says — and every case is a real Check over gRPC, so routes, token modes,
// scopes, rules, sender checks and headers are judged by the code that
// judges production traffic.
package policytest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/yamlhint"
	"go.yaml.in/yaml/v3"
)

// File is a test file: cases, run in order.
type File struct {
	Cases []Case `yaml:"cases"`
}

// Case is one request, the token it carries, and what must come of it.
type Case struct {
	Name    string  `yaml:"name"`
	Request Request `yaml:"request"`
	Token   *Token  `yaml:"token"`
	Expect  Expect  `yaml:"expect"`
}

// Request is what the proxy asks about.
type Request struct {
	Method  string            `yaml:"method"`
	Host    string            `yaml:"host"`
	Path    string            `yaml:"path"`
	Headers map[string]string `yaml:"headers"`
	// SourcePrincipal and DestinationPrincipal are the peers' SPIFFE IDs.
	SourcePrincipal      string `yaml:"source_principal"`
	DestinationPrincipal string `yaml:"destination_principal"`
	// Policy is the name Envoy's context_extensions would give.
	Policy string `yaml:"policy"`
	// PeerCertificate is the client's certificate (PEM), as Envoy passes
	// it for mTLS-bound tokens.
	PeerCertificate string `yaml:"peer_certificate"`
	// Body is the request's body, as Envoy's with_request_body sends it
	// (an MCP request's JSON-RPC message, for rules over mcp).
	Body string `yaml:"body"`
}

// Token is given one way: claims (signed with the run's key by the named
// issuer, the first by default), a literal token, an introspection
// answer an endpoint gives for a made-up opaque token, or an API key.
type Token struct {
	Claims        map[string]any `yaml:"claims"`
	Issuer        string         `yaml:"issuer"`
	Literal       string         `yaml:"literal"`
	Introspection *Answer        `yaml:"introspection"`
	// Revoked: introspection endpoints say active: false of this JWT
	// (an issuer with introspect: asks them); by default they vouch for
	// it with its claims.
	Revoked bool `yaml:"revoked"`
	// Scheme is the Authorization scheme (default Bearer; DPoP with dpop).
	Scheme string `yaml:"scheme"`
	// DPoP binds the token to a client key the run makes (cnf.jkt in its
	// claims or introspection answer, unless they name one) and sends
	// the request with a proof (RFC 9449).
	DPoP *DPoP `yaml:"dpop"`
	// APIKey is an API key the run makes with this key-file entry (sub,
	// client_id, scope, tenant, labels, expires, disabled), which every
	// api_keys validator knows; it goes in Header, or in Authorization
	// with Scheme (default ApiKey).
	APIKey map[string]any `yaml:"api_key"`
	Header string         `yaml:"header"`
}

// DPoP is the proof a case's client sends. Where the config requires
// nonces, the run first asks for one, as a client does.
type DPoP struct {
	// Proof is one of proofKinds: valid (the default) is a fresh proof of
	// the bound key for this request; none sends no DPoP header;
	// other_key is signed by a key the token is not bound to;
	// wrong_method and wrong_url are for another request; stale was
	// issued ten minutes ago; replayed was sent once already.
	Proof string `yaml:"proof"`
}

// proofKinds are the proofs a case may send.
var proofKinds = []string{"valid", "none", "other_key", "wrong_method", "wrong_url", "stale", "replayed"}

// Answer is what an introspection endpoint says of the case's token.
type Answer struct {
	Endpoint string         `yaml:"endpoint"`
	Answer   map[string]any `yaml:"answer"`
}

// Expect is what must come of the case; what is left out is not checked.
type Expect struct {
	Outcome string            `yaml:"outcome"`
	Status  int               `yaml:"status"`
	Route   *string           `yaml:"route"`
	Policy  *string           `yaml:"policy"`
	Rule    *string           `yaml:"rule"`
	Headers map[string]string `yaml:"headers"`
	// Absent headers must not reach the upstream (removed, or not set).
	Absent []string `yaml:"absent"`
	// Tokens: header → claims the upstream token authz signed into that
	// header must carry (it must verify with authz's key).
	Tokens map[string]map[string]any `yaml:"tokens"`
}

// ReadFile decodes a test file strictly.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, yamlhint.UnknownKeys(err, yamlhint.Types(reflect.TypeFor[File]())))
	}
	for i, c := range f.Cases {
		if c.Name == "" {
			return nil, fmt.Errorf("%s: case %d has no name", path, i)
		}
		if c.Expect.Outcome == "" {
			return nil, fmt.Errorf("%s: case %q: expect.outcome is required", path, c.Name)
		}
		if err := knownOutcome(c.Expect.Outcome); err != nil {
			return nil, fmt.Errorf("%s: line %d: case %q: expect.outcome %w", path, caseLine(data, i, "expect", "outcome"), c.Name, err)
		}
		if t := c.Token; t != nil {
			n := 0
			for _, set := range []bool{t.Claims != nil, t.Literal != "", t.Introspection != nil, t.APIKey != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				return nil, fmt.Errorf("%s: case %q: a token is claims, literal, introspection or api_key, one of them", path, c.Name)
			}
			if d := t.DPoP; d != nil {
				if t.Literal != "" {
					return nil, fmt.Errorf("%s: case %q: dpop binds claims or an introspection answer, not a literal token", path, c.Name)
				}
				if d.Proof != "" && !slices.Contains(proofKinds, d.Proof) {
					return nil, fmt.Errorf("%s: case %q: dpop.proof %q: use one of %s", path, c.Name, d.Proof, strings.Join(proofKinds, ", "))
				}
			}
		}
	}
	return &f, nil
}

// knownOutcome: an outcome a case may expect, or what to write instead.
func knownOutcome(o string) error {
	var names []string
	for _, out := range authz.Outcomes {
		if out.String() == o {
			return nil
		}
		names = append(names, out.String())
	}
	msg := fmt.Sprintf("%q: use %s", o, strings.Join(names, ", "))
	for _, n := range names {
		if strings.HasPrefix(o, n) || strings.HasPrefix(n, o) {
			msg += "; did you mean " + strconv.Quote(n) + "?"
			break
		}
	}
	return errors.New(msg)
}

// caseLine is the line of the i-th case's value at keys, or of the case
// itself when the keys are not there; 0 when the file has no such case.
func caseLine(data []byte, i int, keys ...string) int {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	n := child(doc.Content[0], "cases")
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return 0
	}
	n = n.Content[i]
	line := n.Line
	for _, k := range keys {
		if n = child(n, k); n == nil {
			break
		}
		line = n.Line
	}
	return line
}

func child(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for j := 0; j+1 < len(m.Content); j += 2 {
		if m.Content[j].Value == key {
			return m.Content[j+1]
		}
	}
	return nil
}
