package leanhttp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
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

// serveLean starts a lean server for /check on a loopback port with the
// fallback's timeouts.
func serveLean(t *testing.T, fallback *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fallback.Handler = http.NotFoundHandler()
	s := &Server{
		Handler:  http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }),
		Serves:   func(method, target string) bool { return method == http.MethodGet && target == "/check" },
		Fallback: fallback,
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

// closedWithin reports whether the server closes c within d (reading
// and discarding whatever it answers first).
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// A head that stalls part-way is cut at the header timeout, however
// long the idle timeout; a kept-alive connection that sends nothing is
// cut at the idle timeout; one that keeps asking is never cut.
func TestLeanTimeouts(t *testing.T) {
	addr := serveLean(t, &http.Server{ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: time.Hour})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /check HTTP/1.1\r\nHost: a\r\n"))
	if !closedWithin(c, 5*time.Second) {
		t.Error("a stalled head held its connection past the header timeout")
	}

	// The same after a first answer: the deadline left from the first
	// request must not hold the second head to the idle timeout.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte("GET /check HTTP/1.1\r\nHost: a\r\n\r\n"))
	br := make([]byte, 512)
	if n, err := c2.Read(br); err != nil || !strings.HasPrefix(string(br[:n]), "HTTP/1.1 204") {
		t.Fatalf("first answer %q, %v", br[:n], err)
	}
	c2.Write([]byte("GET /check HTTP/1.1\r\nHost: a\r\n"))
	if !closedWithin(c2, 5*time.Second) {
		t.Error("a stalled second head held its connection past the header timeout")
	}

	idle := serveLean(t, &http.Server{ReadHeaderTimeout: time.Hour, IdleTimeout: 300 * time.Millisecond})
	c3, err := net.Dial("tcp", idle)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	// Asking every 100 ms for a second keeps the connection: each
	// answer starts the idle wait again.
	for range 10 {
		c3.Write([]byte("GET /check HTTP/1.1\r\nHost: a\r\n\r\n"))
		c3.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c3.Read(br); err != nil || !strings.HasPrefix(string(br[:n]), "HTTP/1.1 204") {
			t.Fatalf("answer on a busy connection %q, %v", br[:n], err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !closedWithin(c3, 5*time.Second) {
		t.Error("an idle connection outlived the idle timeout")
	}
}
