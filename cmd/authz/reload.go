package main

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/authz-dev/authz/authz/config"
)

// reloadReadyTimeout bounds how long a reload waits for the key sets of new
// or changed issuers before giving up and keeping the running config.
const reloadReadyTimeout = 10 * time.Second

// reloadFile reads and validates the config file and swaps it in. A file
// that does not validate is rejected and the running config keeps serving.
func (s *server) reloadFile(path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		s.log.Error("config reload rejected, keeping the running config", "err", err)
		return err
	}
	if err := s.reload(cfg); err != nil {
		s.log.Error("config reload failed, keeping the running config", "err", err)
		return err
	}
	return nil
}

// reload builds a core from cfg beside the running one, waits for its
// keys, and swaps it in atomically. Listeners and their TLS settings stay
// as they started; changes to them are reported as needing a restart.
func (s *server) reload(cfg *config.Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	for _, field := range needsRestart(s.cfg, cfg) {
		s.log.Warn("config change needs a restart to take effect; the running value stays", "field", field)
	}
	prev := s.live.cur.Load()
	next, err := buildCore(cfg, s.log, s.metrics, prev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), reloadReadyTimeout)
	defer cancel()
	if err := next.waitReady(ctx); err != nil {
		next.retire(prev)
		return fmt.Errorf("new config not ready: %w", err)
	}
	s.live.cur.Store(next)
	prev.retire(next)
	s.log.Info("config reloaded")
	return nil
}

// needsRestart names the settings a reload cannot apply: the listeners,
// their TLS files (the certificates themselves are reread on change), and
// the process's logger.
func needsRestart(running, next *config.Config) []string {
	var out []string
	for _, f := range []struct {
		name string
		a, b any
	}{
		{"grpc", running.GRPC, next.GRPC},
		{"http", running.HTTP, next.HTTP},
		{"admin", running.Admin, next.Admin},
		{"log.level", running.Log.Level, next.Log.Level},
		{"log.format", running.Log.Format, next.Log.Format},
	} {
		if !reflect.DeepEqual(f.a, f.b) {
			out = append(out, f.name)
		}
	}
	return out
}

// watchFile reloads path whenever its modification time changes, until
// ctx ends: for deployments that update a mounted ConfigMap without
// sending SIGHUP.
func (s *server) watchFile(ctx context.Context, path string, every time.Duration) {
	last := modTime(path)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if m := modTime(path); !m.Equal(last) {
				last = m
				s.reloadFile(path)
			}
		}
	}
}

func modTime(path string) time.Time {
	st, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}
