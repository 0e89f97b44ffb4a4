package apikey

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/authz-dev/authz/authz"
)

// Options configure a Validator.
type Options struct {
	// Name is the validator's name: token sources name it, results
	// carry it.
	Name string
	// File is the key file; it is read again when it changes.
	File string
	// Poll is how often the file is checked for a change (default 1s).
	Poll   time.Duration
	Logger *slog.Logger
}

// Validator judges API keys against the hashes of a key file, which it
// watches: a key added, disabled or removed counts from the next Check
// after the file changes (the core does not cache API-key verdicts).
type Validator struct {
	opts Options
	set  atomic.Pointer[Set]
	stat atomic.Pointer[fileStamp]
	stop chan struct{}
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// New loads the key file and starts watching it.
func New(opts Options) (*Validator, error) {
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	v := &Validator{opts: opts, stop: make(chan struct{})}
	if err := v.reload(); err != nil {
		return nil, err
	}
	go v.watch()
	return v, nil
}

// Close stops watching the file.
func (v *Validator) Close() { close(v.stop) }

// Keys is the number of keys loaded.
func (v *Validator) Keys() int { return v.set.Load().Len() }

// Fingerprint is the SHA-256 of the key file's content now.
func (v *Validator) Fingerprint() string { return v.set.Load().digest }

func (v *Validator) reload() error {
	fi, err := os.Stat(v.opts.File)
	if err != nil {
		return fmt.Errorf("api keys %s: %w", v.opts.Name, err)
	}
	set, err := Load(v.opts.File)
	if err != nil {
		return fmt.Errorf("api keys %s: %w", v.opts.Name, err)
	}
	v.set.Store(set)
	v.stat.Store(&fileStamp{mod: fi.ModTime(), size: fi.Size()})
	return nil
}

// watch reads the file again when its modification time or size
// changes. A file that no longer parses leaves the last good keys in
// place, and says so: a half-written file must not revoke every key.
func (v *Validator) watch() {
	t := time.NewTicker(v.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
		}
		fi, err := os.Stat(v.opts.File)
		if err != nil {
			v.opts.Logger.Warn("api key file unreadable; keeping the keys loaded", "validator", v.opts.Name, "error", err)
			continue
		}
		if old := v.stat.Load(); old != nil && fi.ModTime().Equal(old.mod) && fi.Size() == old.size {
			continue
		}
		if err := v.reload(); err != nil {
			v.opts.Logger.Error("api key file changed and does not load; keeping the keys loaded", "validator", v.opts.Name, "error", err)
			v.stat.Store(&fileStamp{mod: fi.ModTime(), size: fi.Size()}) // say it once per change
			continue
		}
		v.opts.Logger.Info("api keys reloaded", "validator", v.opts.Name, "keys", v.Keys())
	}
}

// Validate implements authz.Validator: the key's hash looked up in a map
// (constant time in the number of keys), then compared in constant time.
// An unknown, disabled or expired key is invalid; the key itself is never
// in an error or a claim (api_key_id is its hash's first 12 hex digits).
func (v *Validator) Validate(_ context.Context, key string) (*authz.Result, error) {
	sum := sha256.Sum256([]byte(key))
	set := v.set.Load()
	e, ok := set.byHash[sum]
	if !ok {
		return nil, fmt.Errorf("%w: %v", authz.ErrInvalidToken, errUnknownKey)
	}
	// The map found the entry by hash; the one comparison that decides
	// is made again in constant time.
	if subtle.ConstantTimeCompare(e.hash[:], sum[:]) != 1 {
		return nil, fmt.Errorf("%w: %v", authz.ErrInvalidToken, errUnknownKey)
	}
	return result(v.opts.Name, e, sum)
}

// result is the verdict on a known key's entry: invalid when disabled or
// expired, else its claims (never the key; api_key_id is its hash's first
// 12 hex digits).
func result(name string, e *Entry, sum [sha256.Size]byte) (*authz.Result, error) {
	switch {
	case e.Disabled:
		return nil, fmt.Errorf("%w: the API key is disabled", authz.ErrInvalidToken)
	case !e.Expires.IsZero() && !time.Now().Before(e.Expires):
		return nil, fmt.Errorf("%w: %w", authz.ErrInvalidToken, authz.ErrExpired)
	}
	claims := map[string]any{"sub": e.Sub, "api_key_id": fmt.Sprintf("%x", sum[:6])}
	for name, value := range map[string]string{"client_id": e.ClientID, "scope": e.Scope, "tenant": e.Tenant} {
		if value != "" {
			claims[name] = value
		}
	}
	for name, value := range e.Labels {
		if !slices.Contains(reserved, name) {
			claims[name] = value
		}
	}
	res := &authz.Result{Validator: name, Claims: claims, Size: authz.ClaimsSize(claims)}
	if !e.Expires.IsZero() {
		claims["exp"] = float64(e.Expires.Unix())
		res.Expiry = e.Expires
	}
	return res, nil
}
