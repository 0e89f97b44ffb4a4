package leanhttp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"
)

// A server shut down before it served closes the listener it is then
// given and returns at once: nothing is left accepting.
func TestShutdownBeforeServe(t *testing.T) {
	s := &Server{Handler: http.NotFoundHandler(), Serves: func(string, string) bool { return true }, Fallback: &http.Server{}}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	select {
	case err := <-done:
		if !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve kept accepting after Shutdown")
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the listener is still open")
	}
}
