package leanhttp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves the requests Serves picks on the lean path and hands every
// other connection to Fallback.
type Server struct {
	// Handler answers the lean path's requests (the door).
	Handler http.Handler
	// Serves picks, by method and target, the requests the lean path
	// answers: the check path. A connection whose request it does not
	// pick goes to Fallback for good.
	Serves func(method, target string) bool
	// Fallback serves everything else; its timeouts are the lean path's.
	Fallback *http.Server

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*conn]struct{}
	closing  atomic.Bool
	handoff  *handoff
	fallback chan error
	date     atomic.Pointer[dateLine]
}

// bufSize is a connection's read buffer: a head that does not fit goes to
// net/http.
const bufSize = 8 << 10

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		// Shut down before it served: nothing to hand over, ever.
		s.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	s.ln, s.conns = ln, map[*conn]struct{}{}
	s.handoff = &handoff{conns: make(chan net.Conn), done: make(chan struct{}), addr: ln.Addr()}
	s.fallback = make(chan error, 1)
	handoff := s.handoff
	s.mu.Unlock()
	go func() { s.fallback <- s.Fallback.Serve(handoff) }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return err
		}
		cn := &conn{Conn: c, srv: s, br: bufio.NewReaderSize(c, bufSize)}
		s.mu.Lock()
		s.conns[cn] = struct{}{}
		s.mu.Unlock()
		go cn.serve()
	}
}

// Shutdown stops accepting, closes idle connections, waits for the ones
// answering to finish (or ctx to end), and shuts the fallback down.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	ln, handoff := s.ln, s.handoff
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for {
		s.mu.Lock()
		for c := range s.conns {
			if !c.busy.Load() {
				c.Close()
			}
		}
		left := len(s.conns)
		s.mu.Unlock()
		if left == 0 {
			break
		}
		select {
		case <-ctx.Done():
			s.closeAll()
			s.Fallback.Close()
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	if handoff != nil {
		handoff.Close()
	}
	return s.Fallback.Shutdown(ctx)
}

// Close closes every connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing.Store(true)
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
	s.closeAll()
	return s.Fallback.Close()
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// conn is one client connection on the lean path.
type conn struct {
	net.Conn
	srv  *Server
	br   *bufio.Reader
	out  []byte
	busy atomic.Bool
	// Reused from request to request: the handler keeps none of them
	// past its return.
	in     interner
	head   head
	req    http.Request
	w      writer
	remote string
	// The deadlines last set. Moving a deadline re-arms a runtime timer,
	// which cost three timer updates a request; a deadline is moved only
	// when the new one is later than the old by more than an eighth of
	// its timeout, so a connection may be cut up to that much early and
	// never late.
	readBy, writeBy time.Time
}

// extend sets *by, through set, to now+wait unless it is already within
// wait/8 of that; it never moves a deadline later by less.
func extend(by *time.Time, now time.Time, wait time.Duration, set func(time.Time) error) {
	want := now.Add(wait)
	if want.Sub(*by) > wait/8 || want.Before(*by) {
		*by = want
		set(want)
	}
}

func (c *conn) serve() {
	s := c.srv
	f := s.Fallback
	first := true
	for {
		// Idle until the next request's first byte; then its head must
		// come within the header timeout, as net/http's.
		wait := f.IdleTimeout
		if first || wait <= 0 {
			wait = f.ReadHeaderTimeout
		}
		if wait > 0 && c.br.Buffered() == 0 {
			extend(&c.readBy, time.Now(), wait, c.SetReadDeadline)
		}
		if _, err := c.br.Peek(1); err != nil {
			c.done()
			return
		}
		c.busy.Store(true)
		if s.closing.Load() {
			c.done()
			return
		}
		n, ok := c.peekHead()
		h := &c.head
		if ok {
			ok = readHead(mustPeek(c.br, n), h, &c.in)
		}
		if !ok || !s.Serves(h.method, h.target) {
			c.handOver()
			return
		}
		c.br.Discard(n)
		c.answer(h)
		if h.close || s.closing.Load() {
			c.done()
			return
		}
		c.busy.Store(false)
		first = false
	}
}

// peekHead finds the end of the request head in the read buffer, reading
// more as needed; false when the buffer fills first or the read fails. A
// head that came whole with its first byte needs no deadline of its own;
// one that must be read on is due within the header timeout, as
// net/http's.
func (c *conn) peekHead() (int, bool) {
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			return i + 4, true
		}
		if c.br.Buffered() >= bufSize {
			return 0, false
		}
		if t := c.srv.Fallback.ReadHeaderTimeout; t > 0 {
			now := time.Now()
			if want := now.Add(t); want.Before(c.readBy) || c.readBy.IsZero() {
				c.readBy = want
				c.SetReadDeadline(want)
			}
		}
		if _, err := c.br.Peek(c.br.Buffered() + 1); err != nil {
			return 0, false
		}
	}
}

func mustPeek(br *bufio.Reader, n int) []byte {
	b, _ := br.Peek(n)
	return b
}

// handOver gives the connection, with what was read and not consumed, to
// the fallback server for the rest of its life.
func (c *conn) handOver() {
	c.SetReadDeadline(time.Time{})
	c.SetWriteDeadline(time.Time{})
	c.srv.forget(c)
	if !c.srv.handoff.give(&readConn{Conn: c.Conn, r: c.br}) {
		c.Conn.Close()
	}
}

func (c *conn) done() {
	c.Conn.Close()
	c.srv.forget(c)
}

// answer runs the handler and writes its answer in one write.
func (c *conn) answer(h *head) {
	if c.remote == "" {
		c.remote = c.RemoteAddr().String()
	}
	c.req = http.Request{
		Method: h.method, URL: h.url, RequestURI: h.target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h.header, Host: h.host, Body: http.NoBody, RemoteAddr: c.remote, Close: h.close,
	}
	w := &c.w
	w.reset()
	c.srv.Handler.ServeHTTP(w, &c.req)
	c.out = w.render(c.out[:0], c.srv.dateLine(), h.close, h.method == http.MethodHead)
	if t := c.srv.Fallback.WriteTimeout; t > 0 {
		extend(&c.writeBy, time.Now(), t, c.SetWriteDeadline)
	}
	c.Write(c.out)
}

// readConn reads what the lean path buffered before the connection.
type readConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *readConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// handoff is the listener the fallback server accepts handed-over
// connections from.
type handoff struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func (h *handoff) give(c net.Conn) bool {
	select {
	case h.conns <- c:
		return true
	case <-h.done:
		return false
	}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

func (h *handoff) Addr() net.Addr { return h.addr }
