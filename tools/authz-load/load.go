package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// result is one scenario run against one server.
type result struct {
	requests  int
	failures  int // RPC errors or unexpected outcomes
	elapsed   time.Duration
	latencies []time.Duration // sorted
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(p * float64(len(r.latencies)-1))
	return r.latencies[i]
}

func merge(rs []result) result {
	var m result
	for _, r := range rs {
		m.requests += r.requests
		m.failures += r.failures
		m.elapsed += r.elapsed
		m.latencies = append(m.latencies, r.latencies...)
	}
	slices.Sort(m.latencies)
	return m
}

// drive sends Checks from `concurrency` workers for d over `conns`
// connections. next picks the request for the i-th Check; wantOK says
// whether the scenario expects allows (status OK) or denials.
func drive(addr string, concurrency, conns int, d time.Duration, next func(i uint64) *authv3.CheckRequest, wantOK bool) (result, error) {
	clients := make([]authv3.AuthorizationClient, conns)
	for i := range clients {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return result{}, err
		}
		defer conn.Close()
		clients[i] = authv3.NewAuthorizationClient(conn)
	}
	var (
		counter  atomic.Uint64
		failures atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []time.Duration
	)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := clients[w%conns]
			lat := make([]time.Duration, 0, 1<<14)
			for ctx.Err() == nil {
				req := next(counter.Add(1))
				t0 := time.Now()
				resp, err := client.Check(context.Background(), req)
				lat = append(lat, time.Since(t0))
				if err != nil || (codes.Code(resp.GetStatus().GetCode()) == codes.OK) != wantOK {
					failures.Add(1)
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := result{requests: len(all), failures: int(failures.Load()), elapsed: time.Since(start), latencies: all}
	slices.Sort(r.latencies)
	if r.requests == 0 {
		return r, fmt.Errorf("no Check completed against %s", addr)
	}
	return r, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }
