package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"reflect"
	"time"

	"github.com/authz-dev/authz/internal/config"
)

// defaultReloadReady bounds how long a reload waits for the key sets of new
// or changed issuers before giving up and keeping the running config.
const defaultReloadReady = 10 * time.Second

// Reload builds a core from cfg beside the running one, waits for its
// keys, and swaps it in atomically. Listeners and their TLS settings stay
// as they started; changes to them are reported as needing a restart.
func (s *Server) Reload(cfg *config.Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	for _, field := range needsRestart(s.cfg, cfg) {
		s.log.Warn("config change needs a restart to take effect; the running value stays", "field", field)
	}
	prev := s.live.cur.Load()
	next, err := buildCore(cfg, s.log, s.metrics, s.traces, prev, s.live.Forget)
	if err != nil {
		s.metrics.ObserveReload("error")
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.reloadReady)
	defer cancel()
	if err := next.waitReady(ctx); err != nil {
		next.retire(prev)
		s.metrics.ObserveReload("error")
		return fmt.Errorf("new config not ready: %w", err)
	}
	s.live.cur.Store(next)
	next.commit()
	prev.retire(next)
	s.metrics.ObserveReload("ok")
	s.log.Info("config reloaded", "hash", cfg.Hash)
	return nil
}

// needsRestart names the settings a reload cannot apply: the listeners,
// their TLS files (the certificates themselves are reread on change), the
// process's logger and its trace exporter. http.proxy_cache_max is the
// core's, and a reload applies it.
func needsRestart(running, next *config.Config) []string {
	var out []string
	for _, f := range []struct {
		name string
		a, b any
	}{
		{"grpc", running.GRPC, next.GRPC},
		{"http", withoutCoreSettings(running.HTTP), withoutCoreSettings(next.HTTP)},
		{"admin", running.Admin, next.Admin},
		{"log.level", running.Log.Level, next.Log.Level},
		{"log.format", running.Log.Format, next.Log.Format},
		{"tracing", running.Tracing, next.Tracing},
	} {
		if !reflect.DeepEqual(f.a, f.b) {
			out = append(out, f.name)
		}
	}
	return out
}

// Follow reloads the config from load on every signal from hup and, with
// watch, whenever configPath or a file the running config reads changes,
// until ctx ends. A config that fails to load or to build is logged and the
// running one keeps serving.
func (s *Server) Follow(ctx context.Context, configPath string, load func() (*config.Config, error), hup <-chan os.Signal, watch bool) {
	reload := func() {
		next, err := load()
		if err != nil {
			s.metrics.ObserveReload("error")
			s.log.Error("config reload rejected, keeping the running config", "err", err)
			return
		}
		if err := s.Reload(next); err != nil {
			s.log.Error("config reload failed, keeping the running config", "err", err)
		}
	}
	if watch {
		go WatchFiles(ctx, func() []string { return s.WatchedFiles(configPath) }, time.Second, reload)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload()
		}
	}
}

// WatchFiles calls reload whenever the content of one of the files
// changes, until ctx ends: for deployments that update a mounted ConfigMap
// or key file without sending SIGHUP. Content, not modification time: a
// ConfigMap update swaps symlinks and touches files whose text is the same,
// which is no reason to reload. files is asked again on every tick, since a
// reload may name other files.
//
// A change is reloaded once the next look finds the same content: a file
// written in place (an editor, `cat >`) can be caught half-written, and
// half a YAML file may well parse — a config with its last routes missing.
func WatchFiles(ctx context.Context, files func() []string, every time.Duration, reload func()) {
	seen := lookAt(files())
	var settling map[string][sha256.Size]byte // a change seen once, not yet reloaded
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			next := lookAt(files())
			switch {
			case maps.Equal(next, seen):
				settling = nil // back as it was
			case settling != nil && maps.Equal(next, settling):
				seen, settling = next, nil
				reload()
			default:
				settling = next
			}
		}
	}
}

// lookAt digests each file; a file added or removed changes the map too.
func lookAt(files []string) map[string][sha256.Size]byte {
	out := make(map[string][sha256.Size]byte, len(files))
	for _, f := range files {
		out[f] = digest(f)
	}
	return out
}

// watchedFiles are the config file, the files its include globs name now
// (a team's new file is a change) and the files the running config reads.
func (s *Server) WatchedFiles(configPath string) []string {
	cur := s.live.cur.Load()
	files := []string{configPath}
	if included, err := config.IncludedFiles(cur.cfg.IncludeGlobs); err == nil {
		files = append(files, included...)
	}
	return append(files, cur.watchedFiles()...)
}

// digest is the SHA-256 of a file's content; a file that cannot be read
// digests as empty, so its return is a change too.
func digest(path string) [sha256.Size]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return [sha256.Size]byte{}
	}
	return sha256.Sum256(b)
}

// withoutCoreSettings is h without the settings the core reads, which a
// reload applies.
func withoutCoreSettings(h config.HTTP) config.HTTP {
	h.ProxyCacheMax = 0
	return h
}
