package dashboards_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"

	"github.com/aikwatch/aikwatch/canary"
	"github.com/aikwatch/aikwatch/exporter"
	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/testutil"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// evalState is a daemon state built from the real Nov-2024 trust list, with something for
// every panel to show: two failing hosts (a withdrawn fleet host, a host timing out), an EK CA
// serving an AIK host that expires in 10 days, the Qualcomm EK service down.
type evalState struct {
	st                 *state.State
	fleet              state.Fleet
	withdrawn, timeout string
	expiringPath       string
}

func newEvalState(t *testing.T, now time.Time) evalState {
	t.Helper()
	ctx := context.Background()
	snap, err := trustlist.Load(ctx, testutil.NovCab, trustlist.Options{})
	if err != nil {
		t.Fatalf("loading %s: %v", testutil.NovCab, err)
	}
	cab, err := os.ReadFile(testutil.NovCab)
	if err != nil {
		t.Fatal(err)
	}
	files, _, err := trustlist.ReadFiles(ctx, cab, filepath.Base(testutil.NovCab), trustlist.Options{})
	if err != nil {
		t.Fatalf("reading the members of %s: %v", testutil.NovCab, err)
	}
	if len(snap.AIKHosts) < 10 {
		t.Fatalf("%s: only %d AIK hosts", testutil.NovCab, len(snap.AIKHosts))
	}
	es := evalState{withdrawn: snap.AIKHosts[0].Host, timeout: snap.AIKHosts[5].Host}
	es.fleet = state.Fleet{Hosts: []string{es.withdrawn}}
	st := &state.State{
		Release:      snap,
		ReleaseSince: now.Add(-48 * time.Hour),
		Refresh: state.RefreshStatus{LastAttempt: now.Add(-10 * time.Minute), LastSuccess: now.Add(-10 * time.Minute),
			OK: true, Source: trustlist.DefaultURL, NextScheduled: now.Add(6 * time.Hour)},
		LastSweep: state.SweepStatus{Started: now.Add(-3 * time.Minute), Finished: now.Add(-2 * time.Minute)},
		EKCAs:     probes.EKCACheck(snap, files, now, 30*24*time.Hour),
		EKCAsAt:   now.Add(-time.Hour),
	}
	for i := range st.EKCAs {
		c := &st.EKCAs[i]
		if es.expiringPath == "" && c.AIKHost != "" && c.NotAfter.After(now) {
			es.expiringPath = c.Path
			c.NotAfter = now.Add(10 * 24 * time.Hour)
		} else if left := c.NotAfter.Sub(now); left > 0 && left < 30*24*time.Hour {
			c.NotAfter = now.Add(400 * 24 * time.Hour) // only one expiring EK CA
		}
	}
	if es.expiringPath == "" {
		t.Fatal("no unexpired EK CA serving an AIK host in the Nov-2024 trust list")
	}
	for _, h := range snap.AIKHosts {
		s := state.HostState{Host: h.Host, Vendor: h.Vendor, IDKind: h.IDKind, ID: h.ID, InTrustList: true,
			Fleet: es.fleet.HasHost(h.Host, h.Vendor), Status: probes.StatusOK, Since: now.Add(-72 * time.Hour),
			LastOK: now.Add(-2 * time.Minute)}
		r := &probes.Result{Host: h.Host, Vendor: h.Vendor, Status: probes.StatusOK, HTTPStatus: 200, DurationSeconds: 0.3,
			AIKCA: &probes.AIKCA{Subject: "CN=" + h.Host, NotAfter: now.Add(300 * 24 * time.Hour)}}
		switch h.Host {
		case es.withdrawn:
			s.Status, s.Failures, s.Since, s.LastOK = probes.StatusWithdrawn, 3, now.Add(-45*time.Minute), now.Add(-time.Hour)
			r.Status, r.HTTPStatus, r.AIKCA = probes.StatusWithdrawn, 404, nil
		case es.timeout:
			s.Status, s.Failures, s.Since, s.LastOK = probes.StatusTimeout, 2, now.Add(-30*time.Minute), now.Add(-40*time.Minute)
			r.Status, r.HTTPStatus, r.AIKCA, r.DurationSeconds = probes.StatusTimeout, 0, nil, 10
		}
		s.Last = r
		st.Hosts = append(st.Hosts, s)
		st.LastSweep.Probed++
		if s.Status != probes.StatusOK {
			st.LastSweep.Failing++
		}
	}
	for _, svc := range []string{probes.EKServiceIntel, probes.EKServiceAMD, probes.EKServiceQualcomm} {
		e := state.EKServiceState{Name: svc, URL: "https://" + svc + ".example/", OK: true, Since: now.Add(-time.Hour),
			Last: &probes.EKResult{Service: svc, Mode: probes.EKModeReachability, Status: probes.EKStatusReachable, HTTPStatus: 404, DurationSeconds: 0.2}}
		if svc == probes.EKServiceQualcomm {
			e.OK, e.Failures = false, 2
			e.Last.Status, e.Last.HTTPStatus, e.Last.Error = probes.EKStatusConnectError, 0, "connection refused"
		}
		st.EKServices = append(st.EKServices, e)
	}
	// Two Windows canaries: one passing, one whose real enrollment gets 404.
	for i, enroll := range []string{canary.StatusOK, canary.StatusNotFound} {
		r := canary.Report{Version: canary.ReportVersion, Canary: fmt.Sprintf("lab-%d", i), Agent: "test",
			Started: now.Add(-11 * time.Minute), Finished: now.Add(-10 * time.Minute), IntervalSeconds: 3600,
			TPM: &canary.TPMInfo{ManufacturerID: "INTC"},
			Checks: []canary.Check{{Name: canary.CheckTPM, Status: canary.StatusOK, DurationSeconds: 0.3},
				{Name: canary.CheckEnrollAIK, Status: enroll, DurationSeconds: 2.1}}}
		c := state.CanaryState{Name: r.Canary, Report: r, Received: now.Add(-10 * time.Minute), OK: enroll == canary.StatusOK,
			Since: now.Add(-time.Hour), StaleAt: now.Add(3 * time.Hour)}
		if !c.OK {
			c.Failures, r.Checks[1].HRESULT = 1, "0x80190194"
			c.Report = r
		}
		st.Canaries = append(st.Canaries, c)
	}
	es.st = st
	return es
}

// TestDashboardsOnExporterMetrics has a real Prometheus scrape the real exporter over that
// state, then runs every dashboard expression (and variable query) as an instant query:
// each must succeed and return something, and the panels that encode a state in a number
// must decode (through their value mappings) to what the metrics say.
func TestDashboardsOnExporterMetrics(t *testing.T) {
	testutil.RequireTool(t, "prometheus")
	ds := loadDashboards(t)
	leaks := goleak.IgnoreCurrent()
	// Prometheus starts while the state is built (both take seconds under the race detector);
	// until then the target answers 503.
	var metrics atomic.Pointer[http.Handler]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := metrics.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "state not built yet", http.StatusServiceUnavailable)
	}))
	defer func() {
		srv.Close()
		goleak.VerifyNone(t, leaks)
	}()
	prom := startPrometheus(t, srv.Listener.Addr().String())
	defer prom.Stop()

	es := newEvalState(t, time.Now().UTC())
	reg := exporter.NewRegistry(func() *state.State { return es.st }, exporter.CollectorOptions{Fleet: es.fleet, Version: "test"})
	var h http.Handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
	metrics.Store(&h)

	// Wait (bounded) for a complete scrape, then query at that moment: a later scrape may time
	// out under the race detector, which would mark the series stale.
	var at time.Time
	prom.WaitFor(t, "complete scrape of the exporter", 45*time.Second, func() (bool, string) {
		at = time.Now()
		r, err := prom.query("count(aikwatch_aik_host_status)", at)
		if err == nil && len(r) == 1 && r[0].value == float64(len(es.st.Hosts)) {
			if d, err := prom.query("scrape_duration_seconds", at); err == nil && len(d) == 1 {
				t.Logf("scrape took %.2f s", d[0].value)
			}
			return true, ""
		}
		return false, fmt.Sprintf("%v, %v", r, err)
	})

	results := map[string][]sample{} // by dashboard file, panel title and refId
	for _, e := range expressions(t, ds) {
		q := e.expr
		if e.label != "" {
			q = fmt.Sprintf("count by (%s) (%s)", e.label, e.expr)
		}
		r, err := prom.query(q, at)
		if err != nil {
			t.Errorf("%s: %v\nquery: %s", e.where, err, q)
			continue
		}
		if len(r) == 0 {
			t.Errorf("%s: no result on a state where it should have one\nquery: %s", e.where, q)
		}
		results[e.d.file+"|"+e.panel+"|"+e.ref] = r
	}

	var overview, hosts *dashboard
	for _, d := range ds {
		switch d.UID {
		case "aikwatch-overview":
			overview = d
		case "aikwatch-hosts":
			hosts = d
		}
	}
	if overview == nil || hosts == nil {
		t.Fatal("dashboards aikwatch-overview and aikwatch-hosts not both found")
	}
	get := func(d *dashboard, title, ref string) []sample {
		t.Helper()
		_ = d.panel(t, title)
		return results[d.file+"|"+title+"|"+ref]
	}

	// The deployment verdict, encoded as a number, decodes to the verdict aikwatch exports.
	want, err := prom.query("aikwatch_deploy_verdict == 1", at)
	if err != nil || len(want) != 1 {
		t.Fatalf("aikwatch_deploy_verdict == 1: %v, %v", want, err)
	}
	p := overview.panel(t, "Deploy verdict")
	if got := get(overview, p.Title, "A"); len(got) != 1 || !strings.EqualFold(mappingText(p, got[0].text), want[0].labels["verdict"]) {
		t.Errorf("Deploy verdict shows %v, want %s", got, want[0].labels["verdict"])
	}

	// Per vendor: the same, and "(fleet)" on the fleet's vendors only.
	vendors, err := prom.query("aikwatch_vendor_verdict == 1", at)
	if err != nil || len(vendors) == 0 {
		t.Fatalf("aikwatch_vendor_verdict == 1: %v, %v", vendors, err)
	}
	p = overview.panel(t, "Verdict per TPM vendor")
	got := get(overview, p.Title, "A")
	if len(got) != len(vendors) {
		t.Errorf("Verdict per TPM vendor: %d values, want %d (one per vendor)", len(got), len(vendors))
	}
	fleetVendors := 0
	for _, v := range vendors {
		i := slices.IndexFunc(got, func(s sample) bool { return s.labels["vendor"] == v.labels["vendor"] })
		if i < 0 {
			t.Errorf("Verdict per TPM vendor: no value for %s", v.labels["vendor"])
			continue
		}
		if text := mappingText(p, got[i].text); !strings.EqualFold(text, v.labels["verdict"]) {
			t.Errorf("Verdict per TPM vendor: %s shows %q, want %s", v.labels["vendor"], text, v.labels["verdict"])
		}
		wantMark := ""
		if v.labels["fleet"] == "true" {
			wantMark = " (fleet)"
			fleetVendors++
		}
		if got[i].labels["fleet_mark"] != wantMark {
			t.Errorf("Verdict per TPM vendor: %s fleet_mark %q, want %q", v.labels["vendor"], got[i].labels["fleet_mark"], wantMark)
		}
	}
	if fleetVendors == 0 {
		t.Errorf("no vendor has fleet=\"true\", although the fleet names %s", es.withdrawn)
	}

	// The failing hosts table lists the two failing hosts, with their status, in each query.
	for _, ref := range []string{"A", "B", "C"} {
		got := get(overview, "Failing AIK CA hosts", ref)
		hostStatus := map[string]string{}
		for _, s := range got {
			hostStatus[s.labels["host"]] = s.labels["status"]
		}
		if wantHS := map[string]string{es.withdrawn: "withdrawn", es.timeout: "timeout"}; fmt.Sprint(hostStatus) != fmt.Sprint(wantHS) {
			t.Errorf("Failing AIK CA hosts, query %s: %v, want %v", ref, hostStatus, wantHS)
		}
	}
	for _, s := range get(overview, "Failing AIK CA hosts", "A") {
		if want := map[string]float64{es.withdrawn: 3, es.timeout: 2}[s.labels["host"]]; s.value != want {
			t.Errorf("Failing AIK CA hosts: %s has %v consecutive failures, want %v", s.labels["host"], s.value, want)
		}
	}

	// The EK CAs expiring within 30 days: the one made to, with its days left and info labels.
	for _, ref := range []string{"A", "B"} {
		got := get(overview, "EK CAs expiring within 30 days", ref)
		if len(got) != 1 || got[0].labels["path"] != es.expiringPath || got[0].labels["subject"] == "" {
			t.Errorf("EK CAs expiring within 30 days, query %s: %v, want %s only, with its subject", ref, got, es.expiringPath)
		}
	}
	if got := get(overview, "EK CAs expiring within 30 days", "A"); len(got) == 1 && math.Abs(got[0].value-10) > 0.1 {
		t.Errorf("EK CA expiring: %v days left, want 10", got[0].value)
	}

	// The outcome timeline decodes to each host's status.
	p = hosts.panel(t, "Probe outcome")
	got = get(hosts, p.Title, "A")
	if len(got) != len(es.st.Hosts) {
		t.Errorf("Probe outcome: %d series, want one per host (%d)", len(got), len(es.st.Hosts))
	}
	for _, s := range got {
		h, _ := es.st.Host(s.labels["host"])
		if text := mappingText(p, s.text); text != string(h.Status) {
			t.Errorf("Probe outcome: %s shows %q, want %q", s.labels["host"], text, h.Status)
		}
		if _, ok := s.labels["status"]; ok {
			t.Errorf("Probe outcome: %s still has a status label: one series per host is wanted", s.labels["host"])
		}
	}

	// The hosts table has a row per host, status included, for every query of a metric that
	// every host has.
	for _, ref := range []string{"A", "B", "C", "D", "G"} {
		if got := get(hosts, "AIK CA hosts", ref); len(got) != len(es.st.Hosts) || got[0].labels["status"] == "" {
			t.Errorf("AIK CA hosts, query %s: %d rows, want %d with a status", ref, len(got), len(es.st.Hosts))
		}
	}
}

// sample is one element of an instant vector.
type sample struct {
	labels map[string]string
	value  float64
	text   string // the value as Prometheus wrote it
}

// promServer is a Prometheus server the test started.
type promServer struct {
	*testutil.Prometheus
	t *testing.T
}

// startPrometheus starts Prometheus scraping target every 2 s as job "aikwatch".
func startPrometheus(t *testing.T, target string) promServer {
	t.Helper()
	return promServer{testutil.StartPrometheus(t, testutil.PrometheusScrapeConfig("aikwatch", target, 2*time.Second), nil), t}
}

// query runs an instant query at a moment and returns its vector (a scalar as one unlabelled
// sample).
func (p promServer) query(q string, at time.Time) ([]sample, error) {
	res, err := p.QueryAt(p.t.Context(), q, at)
	if err != nil {
		return nil, err
	}
	out := make([]sample, 0, len(res))
	for _, r := range res {
		f, err := strconv.ParseFloat(r.Value, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: sample value %q: %w", q, r.Value, err)
		}
		out = append(out, sample{labels: r.Metric, value: f, text: r.Value})
	}
	return out, nil
}
