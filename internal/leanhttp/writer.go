package leanhttp

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// writer collects the handler's answer; render writes it out whole.
type writer struct {
	header http.Header
	status int
	body   []byte
}

func (w *writer) Header() http.Header { return w.header }

// reset readies w for the next answer, keeping its map and buffer.
func (w *writer) reset() {
	if w.header == nil {
		w.header = make(http.Header, 8)
	} else {
		clear(w.header)
	}
	w.status, w.body = 0, w.body[:0]
}

func (w *writer) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *writer) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, b...)
	return len(b), nil
}

// render appends the answer as net/http would write it: the status line,
// the fields (a value's CR and LF as spaces), Date, Content-Length — none
// for 1xx, 204 and 304 — and the body, none for HEAD.
func (w *writer) render(out []byte, date string, close, head bool) []byte {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	out = append(out, "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(status), 10)
	out = append(out, ' ')
	out = append(out, http.StatusText(status)...)
	out = append(out, "\r\n"...)
	for name, vs := range w.header {
		for _, v := range vs {
			out = append(out, name...)
			out = append(out, ": "...)
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			}
			out = append(out, v...)
			out = append(out, "\r\n"...)
		}
	}
	out = append(out, date...)
	bodyless := status < 200 || status == http.StatusNoContent || status == http.StatusNotModified
	if !bodyless {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, int64(len(w.body)), 10)
		out = append(out, "\r\n"...)
	}
	if close {
		out = append(out, "Connection: close\r\n"...)
	}
	out = append(out, "\r\n"...)
	if !bodyless && !head {
		out = append(out, w.body...)
	}
	return out
}

// dateLine is the Date field, rendered once a second.
type dateLine struct {
	sec  int64
	line string
}

func (s *Server) dateLine() string {
	now := time.Now()
	if d := s.date.Load(); d != nil && d.sec == now.Unix() {
		return d.line
	}
	d := &dateLine{sec: now.Unix(), line: "Date: " + now.UTC().Format(http.TimeFormat) + "\r\n"}
	s.date.Store(d)
	return d.line
}
