package sender

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestReplayKeepsEveryProofForItsSpan: a proof is remembered for at least
// the span, whenever in a generation it arrived, and forgotten after two.
func TestReplayKeepsEveryProofForItsSpan(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	r := NewReplay(ReplayOptions{Span: 10 * time.Second, Now: func() time.Time { return now }})
	ctx := context.Background()
	first := func(jti string) bool {
		ok, err := r.FirstUse(ctx, "jkt", jti, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !first("a") {
		t.Fatal("a fresh proof counted as a replay")
	}
	now = now.Add(9900 * time.Millisecond) // late in the generation
	if !first("b") || first("a") {
		t.Fatal("b is fresh, a a replay")
	}
	now = now.Add(9 * time.Second) // a rotation later: b must still be known
	if first("b") {
		t.Fatal("b forgotten within its span")
	}
	if !first("c") || first("c") {
		t.Fatal("c")
	}
	now = now.Add(25 * time.Second)
	if !first("b") {
		t.Fatal("b remembered past two spans")
	}
	if !first("a") || r.Len() != 2 {
		t.Fatalf("after idling: %d entries", r.Len())
	}
}

func TestReplayIsBounded(t *testing.T) {
	r := NewReplay(ReplayOptions{Span: time.Minute, MaxEntries: 100, MaxPerKey: 100})
	ctx := context.Background()
	for i := range 100 {
		if ok, err := r.FirstUse(ctx, "k", fmt.Sprint(i), time.Now().Add(time.Minute)); !ok || err != nil {
			t.Fatalf("%d: %v %v", i, ok, err)
		}
	}
	if _, err := r.FirstUse(ctx, "other", "101", time.Now().Add(time.Minute)); !errors.Is(err, ErrReplayFull) {
		t.Fatalf("over the bound: %v", err)
	}
	if ok, err := r.FirstUse(ctx, "k", "5", time.Now().Add(time.Minute)); ok || err != nil {
		t.Fatalf("a known proof at the bound must still read as a replay: %v %v", ok, err)
	}
}

// One key's flood fills its share only: every other key's proofs still
// fit, the flood is reported once a span, and the share frees up as the
// key's entries age out.
func TestOneKeyCannotFillTheReplaySet(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var floods []int
	r := NewReplay(ReplayOptions{Span: time.Minute, MaxEntries: 100, MaxPerKey: 10, Now: func() time.Time { return now },
		OnFlood: func(jkt string, n int) { floods = append(floods, n) }})
	ctx := context.Background()
	use := func(key, jti string) (bool, error) { return r.FirstUse(ctx, key, jti, now.Add(time.Minute)) }
	for i := range 10 {
		if ok, err := use("flood", fmt.Sprint(i)); !ok || err != nil {
			t.Fatalf("%d: %v %v", i, ok, err)
		}
	}
	for i := range 50 {
		if _, err := use("flood", fmt.Sprint("more", i)); !errors.Is(err, ErrKeyOverShare) {
			t.Fatalf("proof %d over the key's share: %v", i, err)
		}
	}
	if len(floods) != 1 || floods[0] != 10 {
		t.Errorf("flood reports: %v, want one", floods)
	}
	for i := range 80 {
		if ok, err := use(fmt.Sprint("user", i), "1"); !ok || err != nil {
			t.Fatalf("user %d after the flood: %v %v", i, ok, err)
		}
	}
	if ok, err := use("flood", "0"); ok || err != nil {
		t.Errorf("a replay of the flooding key is still a replay: %v %v", ok, err)
	}
	// Two spans on, the flood's entries are gone and its share with them.
	now = now.Add(2 * time.Minute)
	if ok, err := use("flood", "new"); !ok || err != nil {
		t.Errorf("after two spans: %v %v", ok, err)
	}
	if _, err := use("flood", "x"); err != nil {
		t.Fatal(err)
	}
}
