// Package redistest runs real redis-server processes for tests: one
// server, a three-master Cluster, or a master, replica and Sentinel.
// The shared tier is tested against the real server, never a fake: its
// TTLs, SET NX, pub/sub and cluster redirects are what a deployment meets.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a real redis-server on a loopback port, without persistence,
// killed when the test ends.
type Server struct {
	Addr string
	tb   testing.TB
	cmd  *exec.Cmd
	args []string // beyond port, bind and no persistence
	dir  string
	// exited closes when the process has exited and been reaped.
	exited chan struct{}
}

// Binary is the path of redis-server. Under -short it skips the test
// (make test-unit runs without outside programs); without one installed it
// fails, naming the fix.
func Binary(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("-short: this test runs redis-server")
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	tb.Fatal("redis-server is not installed: run `make test` (it installs Debian's redis-server as root) or apt-get install redis-server")
	return ""
}

// Start runs a redis-server with extra arguments.
func Start(tb testing.TB, args ...string) *Server {
	tb.Helper()
	r := &Server{tb: tb, args: args}
	r.startOnAFreePort()
	tb.Cleanup(r.Stop)
	return r
}

// startOnAFreePort starts the server on a port nothing listened on a
// moment ago; tests start servers in parallel, so one may take it first:
// then another port.
func (r *Server) startOnAFreePort() {
	r.tb.Helper()
	var err error
	for range 3 {
		r.Addr = freeAddr(r.tb)
		if err = r.tryStart(); err == nil {
			return
		}
	}
	r.tb.Fatal(err)
}

// Start starts the server again on its own port (a restart after Stop).
func (r *Server) Start() {
	r.tb.Helper()
	if err := r.tryStart(); err != nil {
		r.tb.Fatal(err)
	}
}

func (r *Server) tryStart() error {
	_, port, _ := net.SplitHostPort(r.Addr)
	if r.dir == "" {
		r.dir = r.tb.TempDir()
	}
	r.cmd = exec.Command(Binary(r.tb), append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir}, r.args...)...)
	if err := r.launch(); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := redis.NewClient(&redis.Options{Addr: r.Addr})
		err := c.Ping(context.Background()).Err()
		c.Close()
		if err == nil {
			return nil
		}
		select {
		case <-r.exited: // its port was taken, most likely
			r.cmd, r.exited = nil, nil
			return fmt.Errorf("redis-server on %s exited at start: %v", r.Addr, err)
		default:
		}
		if time.Now().After(deadline) {
			r.Stop()
			return fmt.Errorf("redis-server did not answer on %s: %v", r.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// launch starts r.cmd in its own process group, with one reaper.
func (r *Server) launch() error {
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	r.exited = exited
	go func(cmd *exec.Cmd) { cmd.Wait(); close(exited) }(r.cmd)
	return nil
}

// Stop kills the server (a crash, not a shutdown).
func (r *Server) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	<-r.exited
	r.cmd, r.exited = nil, nil
}

// Client is a client of the server, closed when the test ends.
func (r *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	r.tb.Cleanup(func() { c.Close() })
	return c
}

// StartCluster runs a three-master Redis Cluster and returns its nodes.
func StartCluster(tb testing.TB) []*Server {
	tb.Helper()
	var nodes []*Server
	var addrs []string
	for range 3 {
		// The cluster bus listens on port+10000 unless told otherwise: with
		// tests starting servers in parallel, that port may be taken (or
		// past 65535). Give it a free port of its own (Redis 7).
		_, bus, _ := net.SplitHostPort(freeAddr(tb))
		n := Start(tb, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000", "--cluster-port", bus)
		nodes, addrs = append(nodes, n), append(addrs, n.Addr)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		tb.Fatal("redis-cli is not installed (Debian's redis-tools, which redis-server depends on)")
	}
	if out, err := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-yes")...).CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, n := range nodes {
		for {
			info, _ := n.Client().ClusterInfo(context.Background()).Result()
			if strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("cluster not ok at %s:\n%s", n.Addr, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}

// Sentinel is a master, its replica and one Sentinel watching them.
type Sentinel struct {
	Master, Replica, Sentinel *Server
}

// SentinelMaster is the name the Sentinel knows the master by.
const SentinelMaster = "authz-master"

// StartSentinel runs a master, a replica and a Sentinel that fails
// over after half a second.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	s := &Sentinel{Master: Start(tb)}
	host, port, _ := net.SplitHostPort(s.Master.Addr)
	s.Replica = Start(tb, "--replicaof", host, port)
	dir := tb.TempDir()
	sport := freeAddr(tb)
	_, sp, _ := net.SplitHostPort(sport)
	conf := filepath.Join(dir, "sentinel.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 500\nsentinel failover-timeout %s 3000\n",
		sp, dir, SentinelMaster, host, port, SentinelMaster, SentinelMaster)), 0o600)
	s.Sentinel = &Server{tb: tb, Addr: sport, dir: dir}
	s.Sentinel.cmd = exec.Command(Binary(tb), conf, "--sentinel")
	if err := s.Sentinel.launch(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Sentinel.Stop)
	sc := redis.NewSentinelClient(&redis.Options{Addr: sport})
	defer sc.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		// Ready once it knows the master and has found the replica.
		addr, err := sc.GetMasterAddrByName(context.Background(), SentinelMaster).Result()
		replicas, _ := sc.Replicas(context.Background(), SentinelMaster).Result()
		if err == nil && len(addr) == 2 && len(replicas) == 1 {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("sentinel not ready: %v %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr is a loopback host:port nothing listens on right now.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
