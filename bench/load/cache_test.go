package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/aikwatch/aikwatch/exporter"
	"github.com/aikwatch/aikwatch/internal/state"
)

// These benchmarks measure what caching the aikwatch_* metrics per state would save; they
// are prototypes for BENCHMARKS.md, not the daemon's code. The state is immutable and only
// replaced on a change, so the aikwatch collector's output can be kept for as long as the
// state pointer stays the same; only the Go runtime and process metrics change per scrape.

// cachedFamilies gathers the aikwatch collector once per state and merges the cached
// families with a live registry of the Go and process collectors.
type cachedFamilies struct {
	state func() *state.State
	reg   *prometheus.Registry // the aikwatch collector alone

	mu  sync.Mutex
	at  *state.State
	mfs []*dto.MetricFamily
}

func (c *cachedFamilies) Gather() ([]*dto.MetricFamily, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.state(); st != c.at || c.mfs == nil {
		mfs, err := c.reg.Gather()
		if err != nil {
			return nil, err
		}
		c.at, c.mfs = st, mfs
	}
	return c.mfs, nil
}

func liveRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

func aikRegistry(f *fullDaemon) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(exporter.NewCollector(f.d.State, exporter.CollectorOptions{Fleet: f.d.Fleet(), Version: "bench"}))
	return r
}

// BenchmarkMetricsCachedFamilies: promhttp over prometheus.Gatherers{cached aikwatch
// families, live Go/process registry}: no Collect per scrape, but still a merge and a text
// encoding of every series.
func BenchmarkMetricsCachedFamilies(b *testing.B) {
	f := full(b)
	g := prometheus.Gatherers{&cachedFamilies{state: f.d.State, reg: aikRegistry(f)}, liveRegistry()}
	benchHandler(b, promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
}

// BenchmarkMetricsCachedText: the aikwatch families encoded once per state (text format),
// written as bytes, followed by the live Go/process families encoded per scrape.
func BenchmarkMetricsCachedText(b *testing.B) {
	f := full(b)
	aik, live := aikRegistry(f), liveRegistry()
	var mu sync.Mutex
	var at *state.State
	var text []byte
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if st := f.d.State(); st != at || text == nil {
			mfs, err := aik.Gather()
			if err != nil {
				mu.Unlock()
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			var buf bytes.Buffer
			enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, mf := range mfs {
				if err := enc.Encode(mf); err != nil {
					mu.Unlock()
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
			}
			at, text = st, buf.Bytes()
		}
		body := text
		mu.Unlock()
		mfs, err := live.Gather()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
		w.Write(body)
		enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			enc.Encode(mf)
		}
	})
	benchHandler(b, h)
}

// benchHandler serves /metrics through h in-process, as benchGet does.
func benchHandler(b *testing.B, h http.Handler) {
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	var size int
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		w := &discardWriter{}
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
		size = w.n
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(size), "bytes")
}
