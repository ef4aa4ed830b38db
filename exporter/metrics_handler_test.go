package exporter_test

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/aikwatch/aikwatch/exporter"
	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/testutil"
)

func metricsScrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func metricsParse(t *testing.T, text string) map[string]int {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing the exposition: %v", err)
	}
	out := map[string]int{}
	for name, f := range fams {
		if strings.HasPrefix(name, "aikwatch_") {
			out[name] = len(f.Metric)
		}
	}
	return out
}

// TestMetricsHandlerMatchesRegistry checks that the cached handler serves exactly the series
// the plain registry gathers, that a state change shows at once, and that promtool accepts it.
func TestMetricsHandlerMatchesRegistry(t *testing.T) {
	f := metricsNovFixture(t)
	var cur atomic.Pointer[state.State]
	cur.Store(f.st)
	fn := func() *state.State { return cur.Load() }
	h := exporter.NewMetricsHandler(fn, metricsOptions(f), nil)

	got := metricsParse(t, metricsScrape(t, h))
	want := map[string]int{}
	for _, fam := range metricsGather(t, exporter.NewRegistry(fn, metricsOptions(f))) {
		if strings.HasPrefix(fam.GetName(), "aikwatch_") {
			want[fam.GetName()] = len(fam.Metric)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d aikwatch families served, the registry has %d", len(got), len(want))
	}
	for name, n := range want {
		if got[name] != n {
			t.Errorf("%s: %d series served, %d gathered", name, got[name], n)
		}
	}
	// Cached: the same state serves the same bytes.
	if a, b := metricsScrape(t, h), metricsScrape(t, h); metricsParse(t, a)["aikwatch_aik_host_up"] != metricsParse(t, b)["aikwatch_aik_host_up"] {
		t.Error("two scrapes of one state differ")
	}
	// A new state (a host gone) shows in the next scrape.
	next := *f.st
	next.Hosts = next.Hosts[1:]
	cur.Store(&next)
	if n := metricsParse(t, metricsScrape(t, h))["aikwatch_aik_host_up"]; n != want["aikwatch_aik_host_up"]-1 {
		t.Errorf("after a host left the state: %d host series, want %d", n, want["aikwatch_aik_host_up"]-1)
	}

	promtool := testutil.RequireTool(t, "promtool")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(metricsScrape(t, h))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestMetricsHandlerGzip: a client that accepts gzip (Prometheus) gets the same exposition
// compressed; one that does not, or refuses it with q=0, gets it plain.
func TestMetricsHandlerGzip(t *testing.T) {
	f := metricsNovFixture(t)
	h := exporter.NewMetricsHandler(func() *state.State { return f.st }, metricsOptions(f), nil)
	plain := metricsScrape(t, h)
	for _, ae := range []string{"gzip", "deflate, gzip;q=1.0, *;q=0.5", "GZIP"} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", ae)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Header().Get("Content-Encoding") != "gzip" || rec.Header().Get("Vary") != "Accept-Encoding" {
			t.Fatalf("Accept-Encoding %q: headers %v", ae, rec.Header())
		}
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		text, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := metricsParse(t, string(text)), metricsParse(t, plain); len(got) != len(want) || got["aikwatch_aik_host_up"] != want["aikwatch_aik_host_up"] {
			t.Errorf("gzip body differs: %d families, %d plain", len(got), len(want))
		}
		if rec.Body.Len() != 0 || len(text) < 5*len(plain)/10 {
			t.Errorf("unexpected sizes: %d left, %d decompressed, %d plain", rec.Body.Len(), len(text), len(plain))
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip;q=0, identity")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get("Content-Encoding") != "" || !strings.HasPrefix(rec.Body.String(), "# HELP") {
		t.Errorf("gzip;q=0 got %q encoding", rec.Header().Get("Content-Encoding"))
	}
}

// BenchmarkMetricsHandler is a scrape of the full Nov-2024 state through the cached handler.
func BenchmarkMetricsHandler(b *testing.B) {
	f := metricsNovFixture(b)
	h := exporter.NewMetricsHandler(func() *state.State { return f.st }, metricsOptions(f), nil)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		io.Copy(io.Discard, rec.Body)
	}
}

// BenchmarkMetricsHandlerGzip is the same scrape as Prometheus makes it, gzip-compressed.
func BenchmarkMetricsHandlerGzip(b *testing.B) {
	f := metricsNovFixture(b)
	h := exporter.NewMetricsHandler(func() *state.State { return f.st }, metricsOptions(f), nil)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	var n int
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		n = rec.Body.Len()
	}
	b.ReportMetric(float64(n), "body-bytes")
}
