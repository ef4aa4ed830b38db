package exporter_test

import (
	"fmt"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"

	"github.com/aikwatch/aikwatch/exporter"
	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/testutil"
)

// A real Prometheus server scrapes the registry over loopback and answers queries on what it
// scraped.
func TestPrometheusScrapesRegistry(t *testing.T) {
	testutil.RequireTool(t, "prometheus")
	leaks := goleak.IgnoreCurrent()
	f := metricsNovFixture(t)
	st := f.st
	if metricsRace {
		// Under -race a scrape of the full state can outlast the 1 s scrape timeout; scrape a
		// slice of it (the withdrawn and the timed-out host included) instead.
		small := *f.st
		small.Hosts, small.EKCAs = small.Hosts[:40], small.EKCAs[:40]
		st = &small
	}

	reg := exporter.NewRegistry(func() *state.State { return st }, metricsOptions(f))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer func() {
		srv.Close()
		goleak.VerifyNone(t, leaks)
	}()

	prom := testutil.StartPrometheus(t, testutil.PrometheusScrapeConfig("aikwatch", srv.Listener.Addr().String(), metricsPromInterval), nil)
	defer prom.Stop()
	ctx := t.Context()

	// Wait (bounded) until Prometheus has scraped the target successfully.
	prom.WaitFor(t, "successful scrape of the target", metricsPromWait, func() (bool, string) {
		res, err := prom.Query(ctx, `up{job="aikwatch"}`)
		return err == nil && len(res) == 1 && res[0].Value == "1", fmt.Sprintf("%v, %v", res, err)
	})

	res, err := prom.Query(ctx, "aikwatch_trustlist_info")
	if err != nil || len(res) != 1 {
		t.Fatalf("aikwatch_trustlist_info: %v, %v", res, err)
	}
	if got := res[0].Metric["sha256"]; got != f.snap.SHA256 || res[0].Metric["version_date"] != "2024-11-21" || res[0].Value != "1" {
		t.Errorf("aikwatch_trustlist_info = %v %v, want sha256 %s, version_date 2024-11-21, value 1", res[0].Metric, res[0].Value, f.snap.SHA256)
	}
	for _, c := range []struct{ query, want string }{
		{`count(aikwatch_aik_host_up)`, strconv.Itoa(len(st.Hosts))},
		{`sum(aikwatch_aik_host_up)`, strconv.Itoa(len(st.Hosts) - 2)},
		{fmt.Sprintf(`aikwatch_aik_host_up{host=%q, fleet="true"}`, f.withdrawn), "0"},
		{fmt.Sprintf(`aikwatch_aik_host_status{host=%q, status="withdrawn"}`, f.withdrawn), "1"},
		{`count(aikwatch_ek_ca_not_after_timestamp_seconds)`, strconv.Itoa(len(st.EKCAs))},
		{`aikwatch_deploy_verdict{verdict="no-go"}`, "1"},
		{`aikwatch_trustlist_signature_valid`, "1"},
	} {
		res, err := prom.Query(ctx, c.query)
		if err != nil || len(res) != 1 || res[0].Value != c.want {
			t.Errorf("%s = %v (%v), want one sample of %s", c.query, res, err, c.want)
		}
	}
	if res, err := prom.Query(ctx, `scrape_samples_scraped{job="aikwatch"}`); err == nil && len(res) == 1 {
		t.Logf("Prometheus scraped %s samples per scrape", res[0].Value)
	}
	if res, err := prom.Query(ctx, `scrape_duration_seconds{job="aikwatch"}`); err == nil && len(res) == 1 {
		t.Logf("the last scrape took %s s", res[0].Value)
	}
}

// Scrape settings of the test server.
const (
	metricsPromInterval = time.Second      // also the scrape timeout
	metricsPromWait     = 30 * time.Second // bound on Prometheus' first successful scrape
)
