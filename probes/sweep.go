package probes

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// DefaultConcurrency is how many probes a sweep runs at once by default. At 32, the ~330
// hosts of a release, two requests each at 50 ms of latency plus a handshake, take about
// 330/32 × ~0.15 s ≈ 1.5 s: half the 3 s goal, while staying a modest load for a service that
// throttles (HTTP 429) and for two CPU cores doing the TLS handshakes.
const DefaultConcurrency = 32

// SweepOptions tunes [Sweep].
type SweepOptions struct {
	// Concurrency is the number of probes in flight at once; 0 means DefaultConcurrency.
	Concurrency int
	// Jitter delays each probe's start by a random duration up to Jitter (0: no delay), to
	// spread periodic sweeps of many instances.
	Jitter time.Duration
	// OnResult, when set, receives every result as soon as it is known (cancelled ones
	// included). Calls are serialized; the order is completion order.
	OnResult func(Result)
}

// Sweep probes every target once with p (nil: a zero AIKProber) and a bounded pool of workers and returns the results in
// the order of targets. When ctx is cancelled it returns promptly: probes in flight end with
// [StatusCancelled] and targets not yet started get StatusCancelled with the error "sweep
// cancelled". No goroutine outlives the call.
func Sweep(ctx context.Context, p *AIKProber, targets []Target, opts SweepOptions) []Result {
	results := make([]Result, len(targets))
	if len(targets) == 0 {
		return results
	}
	if p == nil {
		p = &AIKProber{}
	}
	n := opts.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	n = min(n, len(targets))

	var emitMu sync.Mutex
	emit := func(r Result) {
		if opts.OnResult != nil {
			emitMu.Lock()
			defer emitMu.Unlock()
			opts.OnResult(r)
		}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if opts.Jitter > 0 && !sleep(ctx, rand.N(opts.Jitter+1)) {
					results[i] = cancelled(targets[i])
				} else {
					results[i] = p.Probe(ctx, targets[i])
				}
				emit(results[i])
			}
		}()
	}
	i := 0
feed:
	for ; i < len(targets); i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for ; i < len(targets); i++ { // never handed to a worker
		results[i] = cancelled(targets[i])
		emit(results[i])
	}
	return results
}

// cancelled is the result of a target the sweep did not probe.
func cancelled(t Target) Result {
	return Result{Host: t.Host, Vendor: t.Vendor, IDKind: t.IDKind, ID: t.ID, Fleet: t.Fleet,
		Status: StatusCancelled, Error: "sweep cancelled"}
}

// sleep waits d or until ctx is done; it reports whether the full delay elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
