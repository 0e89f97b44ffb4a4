package introspect

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authz-dev/authz/authz"
	"github.com/authz-dev/authz/internal/testidp"
)

func newClient(t *testing.T, opts Options) *Client {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "idp"
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestClientAuthenticationMethods(t *testing.T) {
	idp, err := testidp.New()
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	tok := idp.IssueOpaque(idp.Claims("ann", time.Hour, "read", "api"))
	for _, c := range []struct {
		method, id, secret string
	}{
		{ClientSecretBasic, "authz client", "s3cret:/&="}, // RFC 6749 §2.3.1: form-urlencoded before Basic
		{ClientSecretPost, "authz", "s3cret"},
		{Bearer, "", "static-token"},
	} {
		t.Run(c.method, func(t *testing.T) {
			idp.SetClient(testidp.ClientAuth{Method: c.method, ClientID: c.id, Secret: c.secret})
			client := newClient(t, Options{Endpoint: idp.IntrospectionURL(), AuthMethod: c.method, ClientID: c.id, ClientSecret: c.secret})
			seen := len(idp.ProtocolErrors())
			res, err := client.Validate(context.Background(), tok)
			if err != nil || res.Claims["sub"] != "ann" {
				t.Fatalf("got %v, %v", res, err)
			}
			if pe := idp.ProtocolErrors()[seen:]; len(pe) > 0 {
				t.Errorf("the IdP saw protocol errors: %q", pe)
			}
			wrong := newClient(t, Options{Endpoint: idp.IntrospectionURL(), AuthMethod: c.method, ClientID: c.id, ClientSecret: "wrong"})
			if _, err := wrong.Validate(context.Background(), tok); !errors.Is(err, authz.ErrUnavailable) {
				t.Errorf("a wrong secret: %v, want unavailable (a 401 from the IdP says nothing about the token)", err)
			}
		})
	}
}

func TestFailureClasses(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		body    string
		class   string
		invalid bool
	}{
		{"active", 200, `{"active":true,"sub":"a"}`, ResultActive, false},
		{"inactive", 200, `{"active":false}`, ResultInactive, true},
		{"server error", 500, `{}`, ResultStatus5xx, false},
		{"rate limited", 429, `{}`, ResultStatus4xx, false},
		{"not JSON", 200, `<html>`, ResultBadResponse, false},
		{"no active", 200, `{"sub":"a"}`, ResultBadResponse, false},
		{"string active", 200, `{"active":"true"}`, ResultBadResponse, false},
		{"too big", 200, `{"active":true,"pad":"` + strings.Repeat("x", 2048) + `"}`, ResultBadResponse, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				w.Write([]byte(c.body))
			}))
			defer srv.Close()
			var class string
			client := newClient(t, Options{Endpoint: srv.URL, ClientID: "a", ClientSecret: "b", MaxResponseBytes: 1024,
				Observe: func(r string, _ time.Duration) { class = r }})
			_, err := client.Validate(context.Background(), "tok")
			if class != c.class {
				t.Errorf("class %q, want %q", class, c.class)
			}
			switch {
			case c.class == ResultActive && err != nil:
				t.Errorf("active: %v", err)
			case c.invalid && !errors.Is(err, authz.ErrInvalidToken):
				t.Errorf("%v, want invalid", err)
			case c.class != ResultActive && !c.invalid && !errors.Is(err, authz.ErrUnavailable):
				t.Errorf("%v, want unavailable", err)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		defer srv.Close()
		defer close(release)
		var class string
		client := newClient(t, Options{Endpoint: srv.URL, ClientID: "a", ClientSecret: "b", Timeout: 100 * time.Millisecond,
			Observe: func(r string, _ time.Duration) { class = r }})
		if _, err := client.Validate(context.Background(), "tok"); !errors.Is(err, authz.ErrUnavailable) || class != ResultTimeout {
			t.Errorf("%v, class %q", err, class)
		}
	})
}

func TestRetriesOnlyAConnectionThatFailedBeforeAnyAnswer(t *testing.T) {
	t.Run("a reset connection is retried once", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var accepted atomic.Int64
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				conn.Close() // before any answer
			}
		}()
		client := newClient(t, Options{Endpoint: "http://" + ln.Addr().String() + "/introspect", ClientID: "a", ClientSecret: "b"})
		if _, err := client.Validate(context.Background(), "tok"); !errors.Is(err, authz.ErrUnavailable) {
			t.Errorf("%v, want unavailable", err)
		}
		if got := accepted.Load(); got != 2 {
			t.Errorf("%d attempts, want 2 (one retry)", got)
		}
	})
	t.Run("an answer is never retried, whatever its status", func(t *testing.T) {
		var requests atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
		}))
		defer srv.Close()
		client := newClient(t, Options{Endpoint: srv.URL, ClientID: "a", ClientSecret: "b"})
		client.Validate(context.Background(), "tok")
		if got := requests.Load(); got != 1 {
			t.Errorf("%d requests, want 1", got)
		}
	})
	t.Run("a redirect is not followed", func(t *testing.T) {
		var elsewhere atomic.Int64
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
		defer target.Close()
		srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
		defer srv.Close()
		client := newClient(t, Options{Endpoint: srv.URL, ClientID: "a", ClientSecret: "b"})
		if _, err := client.Validate(context.Background(), "tok"); !errors.Is(err, authz.ErrUnavailable) || elsewhere.Load() != 0 {
			t.Errorf("%v; the redirect target was asked %d times", err, elsewhere.Load())
		}
	})
}

func TestFormIsRFC7662(t *testing.T) {
	var form url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		form = r.PostForm
		w.Write([]byte(`{"active":false}`))
	}))
	defer srv.Close()
	client := newClient(t, Options{Endpoint: srv.URL, AuthMethod: ClientSecretPost, ClientID: "authz", ClientSecret: "s"})
	client.Validate(context.Background(), "the-token")
	if form.Get("token") != "the-token" || form.Get("token_type_hint") != "access_token" || form.Get("client_id") != "authz" || form.Get("client_secret") != "s" {
		t.Errorf("form %v", form)
	}
}
