package introspect

import (
	"errors"
	"testing"

	"github.com/authz-dev/authz/authz"
)

// FuzzDecodeAnswer: every answer an IdP can give ends in exactly one of
// active (with active:true among the claims), inactive, or unavailable.
func FuzzDecodeAnswer(f *testing.F) {
	for _, seed := range []struct {
		status int
		body   string
	}{
		{200, `{"active":true,"sub":"a","exp":1e10}`},
		{200, `{"active":false}`},
		{200, `{"active":"true"}`},
		{200, `[]`},
		{200, `null`},
		{200, `{"active":true,"active":false}`},
		{401, `{"error":"invalid_client"}`},
		{503, ``},
		{200, "\xff\xfe"},
	} {
		f.Add(seed.status, []byte(seed.body))
	}
	c, err := New(Options{Name: "fuzz", Endpoint: "http://127.0.0.1:1/introspect", MaxResponseBytes: 4096})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		claims, class, err := c.decodeAnswer(status, body)
		switch class {
		case ResultActive:
			if err != nil || claims["active"] != true {
				t.Fatalf("active with err %v, claims %v", err, claims)
			}
		case ResultInactive:
			if !errors.Is(err, authz.ErrInvalidToken) || errors.Is(err, authz.ErrUnavailable) {
				t.Fatalf("inactive with err %v", err)
			}
		case ResultBadResponse, ResultStatus4xx, ResultStatus5xx:
			if !errors.Is(err, authz.ErrUnavailable) || errors.Is(err, authz.ErrInvalidToken) || claims != nil {
				t.Fatalf("%s with err %v", class, err)
			}
		default:
			t.Fatalf("unknown class %q", class)
		}
		if status != 200 && class != ResultStatus4xx && class != ResultStatus5xx {
			t.Fatalf("status %d gave %s", status, class)
		}
	})
}
