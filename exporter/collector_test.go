package exporter_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/aikwatch/aikwatch/exporter"
	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/testutil"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// metricsNow is the fixed clock of the metrics tests.
var metricsNow = time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)

// metricsFixture is a full daemon state built from the real Nov-2024 trust list: every AIK host
// probed (one withdrawn, one timing out, the rest ok), three EK services (Qualcomm failing) and
// the EK CA checks of the release.
type metricsFixture struct {
	st        *state.State
	snap      *trustlist.Snapshot
	withdrawn string // the withdrawn host, in the fleet
	timeout   string // the host whose probe timed out
}

var (
	metricsFixtureOnce sync.Once
	metricsFixtureVal  metricsFixture
	metricsFixtureErr  error
)

// metricsNovFixture builds the fixture once per test binary; callers must not modify it.
func metricsNovFixture(tb testing.TB) metricsFixture {
	tb.Helper()
	metricsFixtureOnce.Do(func() {
		metricsFixtureVal, metricsFixtureErr = metricsBuildFixture()
	})
	if metricsFixtureErr != nil {
		tb.Fatalf("building the Nov-2024 state: %v", metricsFixtureErr)
	}
	return metricsFixtureVal
}

func metricsBuildFixture() (metricsFixture, error) {
	ctx := context.Background()
	nov, err := trustlist.Load(ctx, testutil.NovCab, trustlist.Options{})
	if err != nil {
		return metricsFixture{}, fmt.Errorf("loading %s: %w", testutil.NovCab, err)
	}
	cab, err := os.ReadFile(testutil.NovCab)
	if err != nil {
		return metricsFixture{}, err
	}
	files, _, err := trustlist.ReadFiles(ctx, cab, "nov.cab", trustlist.Options{})
	if err != nil {
		return metricsFixture{}, fmt.Errorf("reading the members of %s: %w", testutil.NovCab, err)
	}
	now := metricsNow
	st := &state.State{
		Release:      nov,
		ReleaseSince: now.Add(-48 * time.Hour),
		Refresh: state.RefreshStatus{LastAttempt: now.Add(-5 * time.Minute), LastSuccess: now.Add(-5 * time.Minute),
			OK: true, NotModified: true, Source: trustlist.DefaultURL, NextScheduled: now.Add(time.Hour)},
		Changes: []state.ReleaseChange{{At: now.Add(-48 * time.Hour), Diff: &trustlist.Diff{
			From: trustlist.ReleaseRef{SHA256: "00", VersionDate: "2024-06-11"}, To: nov.Ref(),
			ChangelogMismatches: []trustlist.ChangelogMismatch{
				{Kind: trustlist.MismatchAddedNotShipped, Item: "IFX-KEYID-0000000000000000000000000000000000000000.cer"},
				{Kind: trustlist.MismatchRemovedButShipped, Item: "counted from the release, not from the diff"},
			}}}},
		LastSweep: state.SweepStatus{Started: now.Add(-2 * time.Minute), Finished: now.Add(-90 * time.Second)},
		EKCAs:     probes.EKCACheck(nov, files, now, 0),
		EKCAsAt:   now.Add(-48 * time.Hour),
	}
	f := metricsFixture{st: st, snap: nov, withdrawn: nov.AIKHosts[0].Host, timeout: nov.AIKHosts[1].Host}
	for i, h := range nov.AIKHosts {
		hs := state.HostState{Host: h.Host, Vendor: h.Vendor, IDKind: h.IDKind, ID: h.ID, InTrustList: true,
			Status: probes.StatusOK, Since: now.Add(-72 * time.Hour), LastOK: now.Add(-100 * time.Second)}
		r := &probes.Result{Host: h.Host, Vendor: h.Vendor, IDKind: h.IDKind, ID: h.ID, Status: probes.StatusOK,
			HTTPStatus: 200, StartedAt: now.Add(-100 * time.Second), DurationSeconds: 0.05 + float64(i%7)/100,
			AIKCA: &probes.AIKCA{Subject: "CN=" + h.Host, NotAfter: h.LatestNotAfter}}
		switch i {
		case 0:
			hs.Status, hs.Failures, hs.Since, hs.Fleet = probes.StatusWithdrawn, 3, now.Add(-30*time.Minute), true
			hs.LastOK = now.Add(-31 * time.Minute)
			r.Status, r.HTTPStatus, r.AIKCA = probes.StatusWithdrawn, 404, nil
			r.Message = `The authority "` + h.Host + `" does not exist.`
		case 1:
			hs.Status, hs.Failures, hs.Since = probes.StatusTimeout, 1, now.Add(-90*time.Second)
			r.Status, r.HTTPStatus, r.AIKCA, r.DurationSeconds = probes.StatusTimeout, 0, nil, 10
			r.Error = "probe deadline of 10s exceeded"
		}
		hs.Last = r
		st.Hosts = append(st.Hosts, hs)
		st.LastSweep.Probed++
		if hs.Failing() {
			st.LastSweep.Failing++
		}
	}
	for _, svc := range []struct {
		name string
		ok   bool
	}{{probes.EKServiceIntel, true}, {probes.EKServiceAMD, true}, {probes.EKServiceQualcomm, false}} {
		e := state.EKServiceState{Name: svc.name, URL: "https://" + svc.name + ".example/", OK: svc.ok, Since: now.Add(-time.Hour),
			Last: &probes.EKResult{Service: svc.name, Mode: probes.EKModeReachability, Status: probes.EKStatusReachable,
				HTTPStatus: 404, DurationSeconds: 0.2}}
		if !svc.ok {
			e.Failures = 2
			e.Last.Status, e.Last.HTTPStatus, e.Last.Error = probes.EKStatusConnectError, 0, "connection refused"
		}
		st.EKServices = append(st.EKServices, e)
	}
	return f, nil
}

// metricsOptions are the collector options of the tests: the withdrawn host is the fleet.
func metricsOptions(f metricsFixture) exporter.CollectorOptions {
	return exporter.CollectorOptions{Fleet: state.Fleet{Hosts: []string{f.withdrawn}}, Version: "1.2.3", Revision: "abc123",
		Now: func() time.Time { return metricsNow }}
}

// metricsGather gathers g and fails the test on error.
func metricsGather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	return fams
}

// metricsFind returns the samples of the family name whose labels include want.
func metricsFind(fams []*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// metricsValue returns the value of the one sample of name with labels want.
func metricsValue(t *testing.T, fams []*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	ms := metricsFind(fams, name, want)
	if len(ms) != 1 {
		t.Fatalf("%s%v: %d samples, want 1", name, want, len(ms))
	}
	return ms[0].GetGauge().GetValue()
}

func metricsSeries(fams []*dto.MetricFamily) int {
	n := 0
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			switch {
			case m.GetSummary() != nil:
				n += len(m.GetSummary().GetQuantile()) + 2
			case m.GetHistogram() != nil:
				n += len(m.GetHistogram().GetBucket()) + 3 // the buckets, +Inf, _sum and _count
			default:
				n++
			}
		}
	}
	return n
}

func TestCollectorNovState(t *testing.T) {
	f := metricsNovFixture(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(exporter.NewCollector(func() *state.State { return f.st }, metricsOptions(f)))
	fams := metricsGather(t, reg)
	s := f.snap
	no := map[string]string{}

	if v := metricsValue(t, fams, "aikwatch_build_info", map[string]string{"version": "1.2.3", "revision": "abc123", "goversion": runtime.Version()}); v != 1 {
		t.Errorf("aikwatch_build_info = %v", v)
	}
	if v := metricsValue(t, fams, "aikwatch_trustlist_info", map[string]string{"sha256": s.SHA256, "version_date": "2024-11-21", "format": "cab"}); v != 1 {
		t.Errorf("aikwatch_trustlist_info = %v", v)
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"aikwatch_trustlist_version_date_timestamp_seconds", no, float64(time.Date(2024, 11, 21, 0, 0, 0, 0, time.UTC).Unix())},
		{"aikwatch_trustlist_committed_timestamp_seconds", no, float64(metricsNow.Add(-48 * time.Hour).Unix())},
		{"aikwatch_trustlist_signature_valid", no, 1},
		{"aikwatch_trustlist_members", no, 2193},
		{"aikwatch_trustlist_aik_hosts", no, float64(len(s.AIKHosts))},
		{"aikwatch_trustlist_unparseable_certificates", no, 6},
		{"aikwatch_trustlist_anomalies", map[string]string{"kind": trustlist.AnomalyUnparseable}, 6},
		{"aikwatch_trustlist_changelog_mismatches", map[string]string{"kind": trustlist.MismatchRemovedButShipped}, float64(len(s.ShippedButRemoved()))},
		{"aikwatch_trustlist_changelog_mismatches", map[string]string{"kind": trustlist.MismatchAddedNotShipped}, 1},
		{"aikwatch_trustlist_changelog_mismatches", map[string]string{"kind": trustlist.MismatchRemovedNoEntry}, 0},
		{"aikwatch_trustlist_certificates", map[string]string{"vendor_folder": "Microsoft", "kind": "aik_ca"}, 1822},
		{"aikwatch_trustlist_refresh_success", no, 1},
		{"aikwatch_trustlist_refresh_consecutive_failures", no, 0},
		{"aikwatch_trustlist_refresh_last_success_timestamp_seconds", no, float64(metricsNow.Add(-5 * time.Minute).Unix())},
		{"aikwatch_trustlist_release_refused", no, 0},
		{"aikwatch_sweep_hosts_probed", no, float64(len(s.AIKHosts))},
		{"aikwatch_sweep_hosts_failing", no, 2},
		{"aikwatch_sweep_last_duration_seconds", no, 30},
		{"aikwatch_sweep_last_completed_timestamp_seconds", no, float64(metricsNow.Add(-90 * time.Second).Unix())},
		{"aikwatch_aik_host_up", map[string]string{"host": f.withdrawn, "fleet": "true"}, 0},
		{"aikwatch_aik_host_status", map[string]string{"host": f.withdrawn, "status": "withdrawn"}, 1},
		{"aikwatch_aik_host_http_status", map[string]string{"host": f.withdrawn}, 404},
		{"aikwatch_aik_host_consecutive_failures", map[string]string{"host": f.withdrawn}, 3},
		{"aikwatch_aik_host_status_since_timestamp_seconds", map[string]string{"host": f.withdrawn}, float64(metricsNow.Add(-30 * time.Minute).Unix())},
		{"aikwatch_aik_host_up", map[string]string{"host": f.timeout, "fleet": "false"}, 0},
		{"aikwatch_aik_host_status", map[string]string{"host": f.timeout, "status": "timeout"}, 1},
		{"aikwatch_aik_host_probe_duration_seconds", map[string]string{"host": f.timeout}, 10},
		{"aikwatch_aik_host_up", map[string]string{"host": s.AIKHosts[2].Host}, 1},
		{"aikwatch_aik_host_in_trust_list", map[string]string{"host": s.AIKHosts[2].Host}, 1},
		{"aikwatch_aik_host_ca_not_after_timestamp_seconds", map[string]string{"host": s.AIKHosts[2].Host}, float64(s.AIKHosts[2].LatestNotAfter.Unix())},
		{"aikwatch_ek_service_up", map[string]string{"service": "intel"}, 1},
		{"aikwatch_ek_service_up", map[string]string{"service": "qualcomm"}, 0},
		{"aikwatch_ek_service_status", map[string]string{"service": "qualcomm", "status": "connect_error", "mode": "reachability"}, 1},
		{"aikwatch_ek_service_consecutive_failures", map[string]string{"service": "qualcomm"}, 2},
		{"aikwatch_ek_service_probe_duration_seconds", map[string]string{"service": "amd"}, 0.2},
		{"aikwatch_ek_ca_check_timestamp_seconds", no, float64(metricsNow.Add(-48 * time.Hour).Unix())},
		{"aikwatch_deploy_verdict", map[string]string{"verdict": "no-go"}, 1},
		{"aikwatch_deploy_verdict", map[string]string{"verdict": "go"}, 0},
	}
	for _, c := range checks {
		if got := metricsValue(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// One series per host and metric; no http_status or AIK CA notAfter for the timeout.
	for _, name := range []string{"aikwatch_aik_host_up", "aikwatch_aik_host_status", "aikwatch_aik_host_probe_duration_seconds",
		"aikwatch_aik_host_consecutive_failures", "aikwatch_aik_host_in_trust_list", "aikwatch_aik_host_status_since_timestamp_seconds"} {
		if n := len(metricsFind(fams, name, no)); n != len(s.AIKHosts) {
			t.Errorf("%s: %d series, want %d", name, n, len(s.AIKHosts))
		}
	}
	if n := len(metricsFind(fams, "aikwatch_aik_host_http_status", map[string]string{"host": f.timeout})); n != 0 {
		t.Errorf("aikwatch_aik_host_http_status for the timed-out host: %d series, want none", n)
	}
	if n := len(metricsFind(fams, "aikwatch_aik_host_ca_not_after_timestamp_seconds", no)); n != len(s.AIKHosts)-2 {
		t.Errorf("aikwatch_aik_host_ca_not_after_timestamp_seconds: %d series, want %d", n, len(s.AIKHosts)-2)
	}
	if n := len(metricsFind(fams, "aikwatch_aik_host_up", map[string]string{"fleet": "true"})); n != 1 {
		t.Errorf("fleet hosts: %d, want 1", n)
	}

	// Every certificate file counted once, by vendor folder and kind.
	certFiles := 0
	for _, m := range s.Members {
		if m.IsCertificateFile() {
			certFiles++
		}
	}
	sum := 0.0
	for _, m := range metricsFind(fams, "aikwatch_trustlist_certificates", no) {
		sum += m.GetGauge().GetValue()
	}
	if int(sum) != certFiles {
		t.Errorf("sum of aikwatch_trustlist_certificates = %v, want %d certificate files", sum, certFiles)
	}

	// EK CAs: one notAfter and one info series each, the notAfter as checked.
	if n := len(metricsFind(fams, "aikwatch_ek_ca_not_after_timestamp_seconds", no)); n != len(f.st.EKCAs) || n != 360 {
		t.Errorf("aikwatch_ek_ca_not_after_timestamp_seconds: %d series, want %d (360)", n, len(f.st.EKCAs))
	}
	if n := len(metricsFind(fams, "aikwatch_ek_ca_info", no)); n != len(f.st.EKCAs) {
		t.Errorf("aikwatch_ek_ca_info: %d series, want %d", n, len(f.st.EKCAs))
	}
	e := f.st.EKCAs[0]
	if got := metricsValue(t, fams, "aikwatch_ek_ca_not_after_timestamp_seconds", map[string]string{"path": e.Path, "vendor_folder": e.VendorFolder, "aik_host": e.AIKHost}); got != float64(e.NotAfter.Unix()) {
		t.Errorf("aikwatch_ek_ca_not_after_timestamp_seconds{path=%q} = %v, want %v", e.Path, got, e.NotAfter.Unix())
	}
	if got := metricsValue(t, fams, "aikwatch_ek_ca_info", map[string]string{"path": e.Path, "subject": e.Subject, "chain": e.Chain}); got != 1 {
		t.Errorf("aikwatch_ek_ca_info{path=%q} = %v", e.Path, got)
	}

	// The verdicts are state sets: exactly one 1 each, and the withdrawn fleet host's vendor is no-go.
	a := state.Assess(f.st, state.AssessOptions{Fleet: metricsOptions(f).Fleet, Now: metricsNow})
	if n := len(metricsFind(fams, "aikwatch_vendor_verdict", no)); n != 4*len(a.Vendors) {
		t.Errorf("aikwatch_vendor_verdict: %d series, want %d", n, 4*len(a.Vendors))
	}
	vendor := s.AIKHosts[0].Vendor
	if got := metricsValue(t, fams, "aikwatch_vendor_verdict", map[string]string{"vendor": vendor, "fleet": "true", "verdict": "no-go"}); got != 1 {
		t.Errorf("aikwatch_vendor_verdict{vendor=%q,verdict=no-go} = %v", vendor, got)
	}
	ones := 0.0
	for _, m := range metricsFind(fams, "aikwatch_vendor_verdict", no) {
		ones += m.GetGauge().GetValue()
	}
	if int(ones) != len(a.Vendors) {
		t.Errorf("aikwatch_vendor_verdict: %v series at 1, want one per vendor (%d)", ones, len(a.Vendors))
	}
	if got := metricsValue(t, fams, "aikwatch_deploy_reasons", map[string]string{"verdict": "no-go"}); got < 1 {
		t.Errorf("aikwatch_deploy_reasons{verdict=no-go} = %v, want at least 1", got)
	}
}

// The series budget: under 5,000 for the whole registry (Go and process collectors included) on
// the Nov-2024 trust list.
func TestRegistrySeriesBudget(t *testing.T) {
	f := metricsNovFixture(t)
	reg := exporter.NewRegistry(func() *state.State { return f.st }, metricsOptions(f))
	fams := metricsGather(t, reg)
	total := metricsSeries(fams)
	own := 0
	for _, fam := range fams {
		if strings.HasPrefix(fam.GetName(), "aikwatch_") {
			own += len(fam.GetMetric())
		}
	}
	t.Logf("series on the Nov-2024 state: %d in all, %d aikwatch_* (%d AIK hosts, %d EK CAs)", total, own, len(f.snap.AIKHosts), len(f.st.EKCAs))
	if total >= 5000 {
		t.Errorf("%d series, over the budget of 5,000", total)
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if n, err := promtestutil.GatherAndCount(reg, name); err != nil || n != 1 {
			t.Errorf("%s: %d series (%v), want 1", name, n, err)
		}
	}
	n, err := promtestutil.GatherAndCount(reg, "aikwatch_aik_host_up", "aikwatch_ek_ca_not_after_timestamp_seconds")
	if err != nil || n != len(f.snap.AIKHosts)+len(f.st.EKCAs) {
		t.Errorf("GatherAndCount = %d, %v; want %d", n, err, len(f.snap.AIKHosts)+len(f.st.EKCAs))
	}
}

// A host the state no longer has is gone from the next scrape, with all its series.
func TestCollectorHostRemovedVanishes(t *testing.T) {
	f := metricsNovFixture(t)
	var mu sync.Mutex
	cur := f.st
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(exporter.NewCollector(func() *state.State { mu.Lock(); defer mu.Unlock(); return cur }, metricsOptions(f)))

	gone := f.withdrawn
	before := metricsGather(t, reg)
	if n := metricsHostSeries(before, gone); n < 8 {
		t.Fatalf("host %s has %d series before removal, want at least 8", gone, n)
	}
	next := *f.st
	next.Hosts = slices.DeleteFunc(slices.Clone(f.st.Hosts), func(h state.HostState) bool { return h.Host == gone })
	mu.Lock()
	cur = &next
	mu.Unlock()
	after := metricsGather(t, reg)
	if n := metricsHostSeries(after, gone); n != 0 {
		t.Errorf("host %s still has %d series after it left the state", gone, n)
	}
	if n := len(metricsFind(after, "aikwatch_aik_host_up", map[string]string{})); n != len(f.st.Hosts)-1 {
		t.Errorf("aikwatch_aik_host_up: %d series after removal, want %d", n, len(f.st.Hosts)-1)
	}
}

// metricsHostSeries counts the series of any family whose host label is host.
func metricsHostSeries(fams []*dto.MetricFamily, host string) int {
	n := 0
	for _, f := range fams {
		n += len(metricsFind([]*dto.MetricFamily{f}, f.GetName(), map[string]string{"host": host}))
	}
	return n
}

// promlint finds nothing to say about any metric family. The state is cut to a few hosts and EK
// CAs (every family is still there): linting thousands of series is slow under -race.
func TestCollectorLint(t *testing.T) {
	f := metricsNovFixture(t)
	small := *f.st
	small.Hosts, small.EKCAs = small.Hosts[:5], small.EKCAs[:5]
	problems, err := promtestutil.CollectAndLint(exporter.NewCollector(func() *state.State { return &small }, metricsOptions(f)))
	if err != nil {
		t.Fatalf("CollectAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// The text exposition of the whole registry, as promhttp serves it, passes `promtool check metrics`.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := testutil.RequireTool(t, "promtool")
	f := metricsNovFixture(t)
	reg := exporter.NewRegistry(func() *state.State { return f.st }, metricsOptions(f))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("scraping %s: %v", srv.URL, err)
	}
	text, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: HTTP %d, %v", srv.URL, resp.StatusCode, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the text format", ct)
	}
	if !bytes.Contains(text, []byte("# HELP aikwatch_aik_host_up ")) {
		t.Fatalf("exposition lacks aikwatch_aik_host_up:\n%.2000s", text)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// Before the daemon has a state, and with an empty one, the collector emits what it knows and
// nothing else.
func TestCollectorEmptyStates(t *testing.T) {
	opts := exporter.CollectorOptions{Now: func() time.Time { return metricsNow }}
	for _, c := range []struct {
		name string
		st   *state.State
		want []string
	}{
		{"nil", nil, []string{"aikwatch_build_info"}},
		{"empty", &state.State{}, []string{"aikwatch_build_info", "aikwatch_trustlist_refresh_consecutive_failures",
			"aikwatch_trustlist_release_refused", "aikwatch_deploy_verdict", "aikwatch_deploy_reasons"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(exporter.NewCollector(func() *state.State { return c.st }, opts))
			fams := metricsGather(t, reg)
			var names []string
			for _, f := range fams {
				names = append(names, f.GetName())
			}
			slices.Sort(c.want)
			if !slices.Equal(names, c.want) {
				t.Errorf("families %v, want %v", names, c.want)
			}
			if c.st != nil {
				if v := metricsValue(t, fams, "aikwatch_deploy_verdict", map[string]string{"verdict": "unknown"}); v != 1 {
					t.Errorf("aikwatch_deploy_verdict{verdict=unknown} = %v, want 1", v)
				}
			}
			for _, m := range metricsFind(fams, "aikwatch_build_info", nil) {
				for _, lp := range m.GetLabel() {
					if lp.GetValue() == "" {
						t.Errorf("aikwatch_build_info label %s is empty", lp.GetName())
					}
				}
			}
		})
	}
}

// A refused release, a failing refresh, unprobed and cancelled hosts, a duplicate host, invalid
// UTF-8 in labels: the scrape still succeeds and says what it should.
func TestCollectorOddStates(t *testing.T) {
	now := metricsNow
	st := &state.State{
		ReleaseSince: now.Add(-time.Hour),
		Refresh: state.RefreshStatus{LastAttempt: now, LastSuccess: now.Add(-time.Hour), Failures: 2, Error: "signature invalid",
			Refused: &state.Refusal{At: now, SHA256: "ab", Reason: "signature invalid (digest_mismatch)"}},
		Hosts: []state.HostState{
			{Host: "amd-keyid-01.microsoftaik.azure.net", Vendor: "AMD"},
			{Host: "ifx-keyid-02.microsoftaik.azure.net", Vendor: "IFX", Status: probes.StatusCancelled},
			{Host: "ifx-keyid-02.microsoftaik.azure.net", Vendor: "IFX", Status: probes.StatusCancelled},
			{Host: "stm-keyid-03.microsoftaik.azure.net\xff", Vendor: "STM\xfe", Status: probes.StatusOK, InTrustList: true},
		},
		EKServices: []state.EKServiceState{{Name: "Intel"}, {Name: "intel"}},
		EKCAs: []probes.EKCAStatus{{Path: "STMicro/IntermediateCA/a.crt", Subject: "CN=\xff", NotAfter: now},
			{Path: "STMicro/IntermediateCA/a.crt", Subject: "CN=dup", NotAfter: now}},
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(exporter.NewCollector(func() *state.State { return st }, exporter.CollectorOptions{
		Fleet: state.Fleet{Vendors: []string{"ifx"}}, Version: "v\xff", Now: func() time.Time { return now }}))
	fams := metricsGather(t, reg)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"aikwatch_trustlist_release_refused", nil, 1},
		{"aikwatch_trustlist_refresh_success", nil, 0},
		{"aikwatch_trustlist_refresh_consecutive_failures", nil, 2},
		{"aikwatch_aik_host_status", map[string]string{"host": "amd-keyid-01.microsoftaik.azure.net", "status": "unprobed", "fleet": "false"}, 1},
		{"aikwatch_aik_host_status", map[string]string{"host": "ifx-keyid-02.microsoftaik.azure.net", "status": "cancelled", "fleet": "true"}, 1},
		{"aikwatch_aik_host_up", map[string]string{"host": "stm-keyid-03.microsoftaik.azure.net\uFFFD", "vendor": "STM\uFFFD"}, 1},
		{"aikwatch_ek_service_consecutive_failures", map[string]string{"service": "intel"}, 0},
		{"aikwatch_ek_ca_info", map[string]string{"subject": "CN=\uFFFD"}, 1},
	} {
		if got := metricsValue(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Unprobed and cancelled hosts say nothing about being up; the trust list is not there.
	if n := len(metricsFind(fams, "aikwatch_aik_host_up", nil)); n != 1 {
		t.Errorf("aikwatch_aik_host_up: %d series, want 1 (only the probed host)", n)
	}
	if n := len(metricsFind(fams, "aikwatch_trustlist_info", nil)); n != 0 {
		t.Errorf("aikwatch_trustlist_info without a release: %d series", n)
	}
	if n := len(metricsFind(fams, "aikwatch_ek_service_up", nil)); n != 0 {
		t.Errorf("aikwatch_ek_service_up before any EK probe: %d series", n)
	}
}

// Concurrent scrapes of one collector are safe (run with -race) and agree.
func TestCollectorConcurrentScrapes(t *testing.T) {
	f := metricsNovFixture(t)
	reg := exporter.NewRegistry(func() *state.State { return f.st }, metricsOptions(f))
	var wg sync.WaitGroup
	counts := make([]int, 4)
	errs := make([]error, 4)
	for i := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], errs[i] = promtestutil.GatherAndCount(reg, "aikwatch_aik_host_status", "aikwatch_trustlist_certificates")
		}()
	}
	wg.Wait()
	for i := range counts {
		if errs[i] != nil || counts[i] != counts[0] || counts[i] < len(f.snap.AIKHosts) {
			t.Errorf("scrape %d: %d series, %v (first: %d)", i, counts[i], errs[i], counts[0])
		}
	}
}

// Every metric the collector describes is documented in docs/metrics.md, and the table lists
// nothing else.
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "docs", "metrics.md"))
	if err != nil {
		t.Fatalf("reading docs/metrics.md: %v", err)
	}
	descs := make(chan *prometheus.Desc, 100)
	go func() {
		exporter.NewCollector(func() *state.State { return nil }, exporter.CollectorOptions{}).Describe(descs)
		close(descs)
	}()
	re := regexp.MustCompile(`fqName: "([^"]+)", help: "((?:[^"\\]|\\.)*)"`)
	described := map[string]bool{}
	for d := range descs {
		m := re.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		described[m[1]] = true
		if !strings.Contains(m[2], "cached") && !strings.Contains(m[2], "computed at scrape time") &&
			!strings.HasSuffix(m[1], "_timestamp_seconds") && m[1] != "aikwatch_build_info" {
			t.Errorf("HELP of %s does not say where its value comes from: %q", m[1], m[2])
		}
		if !regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(m[1]) + "` \\|").Match(doc) {
			t.Errorf("%s is not in the docs/metrics.md table", m[1])
		}
	}
	for _, m := range regexp.MustCompile("(?m)^\\| `(aikwatch_[a-z0-9_]+)` \\|").FindAllSubmatch(doc, -1) {
		if !described[string(m[1])] {
			t.Errorf("docs/metrics.md lists %s, which the collector does not describe", m[1])
		}
	}
}

func BenchmarkCollect(b *testing.B) {
	f := metricsNovFixture(b)
	c := exporter.NewCollector(func() *state.State { return f.st }, metricsOptions(f))
	ch := make(chan prometheus.Metric, 8192)
	b.ReportAllocs()
	cpu0, ok := metricsCPUTime()
	for b.Loop() {
		c.Collect(ch)
		for len(ch) > 0 {
			<-ch
		}
	}
	metricsReportCPU(b, cpu0, ok)
}

// BenchmarkGather includes the registry's sorting and checking, as a scrape does.
func BenchmarkGather(b *testing.B) {
	f := metricsNovFixture(b)
	reg := exporter.NewRegistry(func() *state.State { return f.st }, metricsOptions(f))
	b.ReportAllocs()
	cpu0, ok := metricsCPUTime()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
	metricsReportCPU(b, cpu0, ok)
}

// metricsReportCPU reports the process's CPU time per operation since cpu0 (GC included).
func metricsReportCPU(b *testing.B, cpu0 time.Duration, ok bool) {
	if cpu1, ok1 := metricsCPUTime(); ok && ok1 && b.N > 0 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkScrape is a whole scrape over loopback HTTP as Prometheus makes it: gather, text
// encoding and gzip included (the client side does not decompress).
func BenchmarkScrape(b *testing.B) {
	f := metricsNovFixture(b)
	reg := exporter.NewRegistry(func() *state.State { return f.st }, metricsOptions(f))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
	req.Header.Set("Accept-Encoding", "gzip")
	var size int64
	b.ReportAllocs()
	cpu0, ok := metricsCPUTime()
	for b.Loop() {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		size, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("HTTP %d, %v", resp.StatusCode, err)
		}
	}
	metricsReportCPU(b, cpu0, ok)
	b.ReportMetric(float64(size), "gzip-bytes")
}
