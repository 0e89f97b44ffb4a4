package main

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// openLoop offers rate requests a second for d, arrivals spaced as a
// Poisson process, each sent on its own goroutine so a slow answer never
// delays the next arrival. A request's latency runs from when it was due,
// not from when it was sent: a generator that falls behind shows up in the
// figures instead of hiding the tail (closed-loop tools slow their offered
// load as the server's tail grows). send reports whether the answer was
// the expected one. At most maxInFlight requests are outstanding; arrivals
// beyond that are counted as dropped, never silently delayed.
func openLoop(rate float64, d time.Duration, send func(ctx context.Context, i uint64) bool) result {
	const maxInFlight = 4096
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, int(rate*d.Seconds())+16)
		failures atomic.Int64
		dropped  atomic.Int64
		slots    = make(chan struct{}, maxInFlight)
		rng      = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	)
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Second)
	defer cancel()
	start := time.Now()
	due := start
	for i := uint64(0); ; i++ {
		due = due.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
		if due.Sub(start) >= d {
			break
		}
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		select {
		case slots <- struct{}{}:
		default:
			dropped.Add(1)
			continue
		}
		wg.Add(1)
		go func(i uint64, due time.Time) {
			defer wg.Done()
			ok := send(ctx, i)
			took := time.Since(due)
			<-slots
			if !ok {
				failures.Add(1)
			}
			mu.Lock()
			lat = append(lat, took)
			mu.Unlock()
		}(i, due)
	}
	wg.Wait()
	slices.Sort(lat)
	return result{requests: len(lat), failures: int(failures.Load() + dropped.Load()), elapsed: d, latencies: lat}
}
