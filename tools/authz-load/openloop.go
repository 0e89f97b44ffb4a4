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
// Poisson process, sent by a pool of workers so a slow answer never delays
// the next arrival. A request's latency runs from when it was due, not
// from when it was sent: a generator that falls behind shows up in the
// figures instead of hiding the tail (closed-loop tools slow their offered
// load as the server's tail grows). send reports whether the answer was
// the expected one. Arrivals that find every worker busy and the queue
// full are counted as failed, never silently delayed. send is told which
// worker calls it, so a worker may keep its own connection.
// openLoopWorkers is how many requests openLoop keeps in flight at most.
const openLoopWorkers = 512

func openLoop(rate float64, d time.Duration, send func(ctx context.Context, worker int, i uint64) bool) result {
	const workers, queue = openLoopWorkers, 4096
	type arrival struct {
		i   uint64
		due time.Time
	}
	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		arrivals = make(chan arrival, queue)
		lats     = make([][]time.Duration, workers)
		rng      = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	)
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Second)
	defer cancel()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range arrivals {
				ok := send(ctx, w, a.i)
				lats[w] = append(lats[w], time.Since(a.due))
				if !ok {
					failures.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	due := start
	for i := uint64(0); ; i++ {
		due = due.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
		if due.Sub(start) >= d {
			break
		}
		// Sleeping for every arrival would cost more than the requests:
		// arrivals due within the next 100µs go out together.
		if wait := time.Until(due); wait > 100*time.Microsecond {
			time.Sleep(wait)
		}
		select {
		case arrivals <- arrival{i, due}:
		default:
			failures.Add(1)
		}
	}
	close(arrivals)
	wg.Wait()
	var lat []time.Duration
	for _, l := range lats {
		lat = append(lat, l...)
	}
	slices.Sort(lat)
	return result{requests: len(lat), failures: int(failures.Load()), elapsed: d, latencies: lat}
}
