package testidp

import (
	"net/http"
	"strings"
	"testing"
)

// The IdP must see a form-encoded POST; a plain GET to the endpoint is refused.
func TestIntrospectionRefusesNonRFCRequests(t *testing.T) {
	idp, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	resp, err := http.Get(idp.IntrospectionURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET introspection: %d", resp.StatusCode)
	}
	resp, err = http.Post(idp.IntrospectionURL(), "application/json", strings.NewReader(`{"token":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || len(idp.ProtocolErrors()) != 1 {
		t.Errorf("JSON POST: %d, errors %v", resp.StatusCode, idp.ProtocolErrors())
	}
}
