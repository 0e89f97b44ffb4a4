package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// rawConn sends one pre-rendered HTTP/1.1 request at a time over its own
// keep-alive connection and reads just enough of the answer to frame it:
// the status, Content-Length or chunked framing. Go's net/http client
// spends ~50 µs of CPU a request (a goroutine per connection read, header
// maps, contexts), which on two shared cores put the open-loop
// generator's ceiling below the door it measured; this one costs a few
// µs, so the rates it offers are the door's, not its own.
type rawConn struct {
	addr    string
	req     []byte
	timeout time.Duration
	c       net.Conn
	r       *bufio.Reader
}

// newRequest renders GET path with the headers, Host first.
func newRequest(host, path string, headers ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, host)
	for _, h := range headers {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// do sends the request and returns the answer's status. Any error closes
// the connection; the next call dials again.
func (rc *rawConn) do() (int, error) {
	if rc.c == nil {
		c, err := net.DialTimeout("tcp", rc.addr, rc.timeout)
		if err != nil {
			return 0, err
		}
		rc.c = c
		if rc.r == nil {
			rc.r = bufio.NewReaderSize(c, 4096)
		} else {
			rc.r.Reset(c)
		}
	}
	status, err := rc.roundTrip()
	if err != nil {
		rc.close()
	}
	return status, err
}

func (rc *rawConn) close() {
	if rc.c != nil {
		rc.c.Close()
		rc.c = nil
	}
}

func (rc *rawConn) roundTrip() (int, error) {
	rc.c.SetDeadline(time.Now().Add(rc.timeout))
	if _, err := rc.c.Write(rc.req); err != nil {
		return 0, err
	}
	line, err := rc.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("status line %q", line)
	}
	length, chunked, closing := -1, false, false
	for {
		line, err := rc.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, fmt.Errorf("header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, fmt.Errorf("content-length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		err = rc.discardChunks()
	case length >= 0:
		_, err = rc.r.Discard(length)
	case status == 204 || status == 304:
	default:
		return 0, errors.New("answer with no length")
	}
	if err != nil {
		return 0, err
	}
	if closing {
		rc.close()
	}
	return status, nil
}

func (rc *rawConn) discardChunks() error {
	for {
		line, err := rc.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := strings.Cut(strings.TrimSpace(string(line)), ";")
		n, err := strconv.ParseInt(size, 16, 64)
		if err != nil {
			return fmt.Errorf("chunk size %q", line)
		}
		if n == 0 {
			for { // trailers, then the blank line
				line, err := rc.r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := rc.r.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}
