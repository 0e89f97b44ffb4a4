package server

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"
)

// unixPrefix marks a Unix-domain socket address ("unix:/run/authz/http.sock"):
// a sidecar's proxy (nginx's proxy_pass http://unix:…, Envoy's pipe
// address) reaches it without TCP.
const unixPrefix = "unix:"

// listen opens addr: a Unix-domain socket for "unix:PATH", else TCP.
func listen(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, unixPrefix)
	if !ok {
		return net.Listen("tcp", addr)
	}
	// A socket left by a process that did not close it (a crash) would
	// fail the bind; anything else at the path is not ours to remove, and
	// neither is a socket something still answers on: removing it would
	// leave that process serving nothing.
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s is in use: another process accepts connections on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return net.Listen("unix", path)
}
