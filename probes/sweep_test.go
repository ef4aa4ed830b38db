package probes

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestSweepOrderAndConcurrency(t *testing.T) {
	f := newFakeAIK(t)
	var inFlight, peak atomic.Int64
	gate := make(chan struct{})
	var targets []Target
	for i := range 20 {
		host := aikHost("IFX", string(rune('a'+i)))
		chain := f.chainFor(t, host)
		f.set(host, func(w http.ResponseWriter, r *http.Request) {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			if r.URL.Query().Get("operation") == "GetCACaps" {
				<-gate // hold the first requests until the pool is full
				w.Write([]byte("POSTPKIOperation\n"))
				return
			}
			w.Write(chain)
		})
		targets = append(targets, Target{Host: host})
	}
	withdrawn := aikHost("IFX", "gone") // no chain: 404 "does not exist"
	targets = append(targets[:5], append([]Target{{Host: withdrawn}}, targets[5:]...)...)
	f.set(withdrawn, nil)

	p := f.prober(t, 10*time.Second)
	var mu sync.Mutex
	streamed := map[string]Status{}
	go func() {
		for peak.Load() < 4 {
			runtime.Gosched()
		}
		close(gate)
	}()
	res := Sweep(context.Background(), p, targets, SweepOptions{Concurrency: 4, OnResult: func(r Result) {
		mu.Lock()
		streamed[r.Host] = r.Status
		mu.Unlock()
	}})
	if len(res) != len(targets) {
		t.Fatalf("%d results for %d targets", len(res), len(targets))
	}
	for i, r := range res {
		if r.Host != targets[i].Host {
			t.Errorf("result %d is for %s, want %s", i, r.Host, targets[i].Host)
		}
		want := StatusOK
		if r.Host == withdrawn {
			want = StatusWithdrawn
		}
		if r.Status != want || streamed[r.Host] != want {
			t.Errorf("%s: %s (streamed %s), want %s: %s", r.Host, r.Status, streamed[r.Host], want, r.Error)
		}
	}
	if peak.Load() > 4 {
		t.Errorf("%d probes in flight, concurrency 4", peak.Load())
	}
	if len(streamed) != len(targets) {
		t.Errorf("OnResult saw %d results", len(streamed))
	}
}

func TestSweepCancel(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newFakeAIK(t)
	started := make(chan struct{}, 100)
	release := make(chan struct{})
	var targets []Target
	for i := range 10 {
		host := aikHost("AMD", string(rune('a'+i)))
		f.set(host, func(w http.ResponseWriter, r *http.Request) {
			started <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-release:
			}
			panic(http.ErrAbortHandler) // no empty 200 for a client whose deadline races with it
		})
		targets = append(targets, Target{Host: host})
	}
	defer close(release)
	p := f.prober(t, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		<-started
		cancel()
	}()
	var n atomic.Int64
	res := Sweep(ctx, p, targets, SweepOptions{Concurrency: 2, OnResult: func(Result) { n.Add(1) }})
	for i, r := range res {
		if r.Status != StatusCancelled || r.Host != targets[i].Host || r.Error == "" {
			t.Errorf("%d: %s %s %q", i, r.Host, r.Status, r.Error)
		}
	}
	if n.Load() != int64(len(targets)) {
		t.Errorf("OnResult called %d times", n.Load())
	}
	p.Client.CloseIdleConnections()
	f.srv.Close()
}

func TestSweepJitterAndEdges(t *testing.T) {
	if res := Sweep(context.Background(), &AIKProber{}, nil, SweepOptions{}); len(res) != 0 {
		t.Errorf("no targets: %v", res)
	}
	f := newFakeAIK(t)
	host := aikHost("INTC", "j")
	f.chainFor(t, host)
	p := f.prober(t, 10*time.Second)
	res := Sweep(context.Background(), p, []Target{{Host: host}, {Host: host}}, SweepOptions{Jitter: 5 * time.Millisecond})
	for _, r := range res {
		if r.Status != StatusOK {
			t.Errorf("%s: %s", r.Status, r.Error)
		}
	}
	// Cancelled during the jitter delay.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = Sweep(ctx, p, []Target{{Host: host}}, SweepOptions{Jitter: time.Hour})
	if res[0].Status != StatusCancelled {
		t.Errorf("cancelled sweep: %s", res[0].Status)
	}
}
