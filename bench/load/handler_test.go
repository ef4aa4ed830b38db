package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"

	"github.com/aikwatch/aikwatch/exporter"
	"github.com/aikwatch/aikwatch/internal/daemon"
	"github.com/aikwatch/aikwatch/internal/sim"
	"github.com/aikwatch/aikwatch/internal/testutil"
)

// fullDaemon is a daemon with the full Nov-2024 state: one refresh, sweep, EK probe and EK CA
// check against the in-process simulator, then stopped (its state stays in memory).
type fullDaemon struct {
	d       *daemon.Daemon
	handler http.Handler
	close   func()
}

var (
	fullOnce sync.Once
	fullVal  *fullDaemon
	fullErr  error
)

// full builds the daemon once per test binary; TestMain closes it.
func full(tb testing.TB) *fullDaemon {
	tb.Helper()
	fullOnce.Do(func() { fullVal, fullErr = buildFull() })
	if fullErr != nil {
		tb.Fatal(fullErr)
	}
	return fullVal
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fullVal != nil {
		fullVal.close()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func buildFull() (f *fullDaemon, err error) {
	cab, err := os.ReadFile(testutil.NovCab)
	if err != nil {
		return nil, err
	}
	s, err := sim.New(sim.Config{TrustList: cab})
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "aikwatch-bench-")
	if err != nil {
		s.Close()
		return nil, err
	}
	var d *daemon.Daemon
	closeAll := func() {
		if d != nil {
			d.Close()
		}
		s.Close()
		os.RemoveAll(dir)
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, s.CACertPEM(), 0o600); err != nil {
		return nil, err
	}
	cfg := daemon.DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Network = daemon.NetworkConfig{Resolve: []string{"*=" + s.Addr()}, CAFiles: []string{ca}}
	d, err = daemon.New(cfg, daemon.Options{})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.RunOnce(ctx); err != nil {
		return nil, err
	}
	// As cmd/aikwatch serve wires it.
	reg := exporter.NewRegistry(d.State, exporter.CollectorOptions{Fleet: d.Fleet(), Version: "bench"})
	h := exporter.NewHandler(exporter.Options{
		State:   d.State,
		Fleet:   d.Fleet(),
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Version: "bench",
		Logger:  slog.New(slog.DiscardHandler),
	})
	return &fullDaemon{d: d, handler: h, close: closeAll}, nil
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchGet serves path through the daemon's handler in-process (no network) and reports the
// answer size and the CPU time per request (GC included), the figure that bounds the rate one
// core can serve.
func benchGet(b *testing.B, path string, gzip bool) {
	f := full(b)
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	var size int
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		w := &discardWriter{}
		f.handler.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("%s: status %d", path, w.code)
		}
		size = w.n
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(size), "bytes")
}

func BenchmarkMetrics(b *testing.B)     { benchGet(b, "/metrics", false) }
func BenchmarkMetricsGzip(b *testing.B) { benchGet(b, "/metrics", true) }
func BenchmarkStatus(b *testing.B)      { benchGet(b, "/api/v1/status", false) }
func BenchmarkHosts(b *testing.B)       { benchGet(b, "/api/v1/hosts", false) }
func BenchmarkTrustlist(b *testing.B)   { benchGet(b, "/api/v1/trustlist", false) }
func BenchmarkPage(b *testing.B)        { benchGet(b, "/", false) }

// discardWriter is a ResponseWriter that counts the body and keeps nothing, so that the
// benchmarks measure the handler, not a recorder's buffer.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}

func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(p)
	return len(p), nil
}

// BenchmarkHTTPMetrics is /metrics over loopback HTTP, as the load client fetches it.
func BenchmarkHTTPMetrics(b *testing.B) {
	f := full(b)
	srv := httptest.NewServer(f.handler)
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		resp, err := client.Get(srv.URL + "/metrics")
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%d %v", resp.StatusCode, err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// TestFullState checks that the benchmarks' state is the full one: every AIK host swept.
func TestFullState(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds the full state against the simulator (too slow under -race; run without it)")
	}
	st := full(t).d.State()
	if st.Release == nil || len(st.Hosts) != len(st.Release.AIKHosts) || st.LastSweep.Finished.IsZero() {
		t.Fatalf("not the full state: release %v, %d hosts", st.Release != nil, len(st.Hosts))
	}
	if st.LastSweep.Failing != 0 {
		t.Errorf("%d hosts failing against the simulator", st.LastSweep.Failing)
	}
}
