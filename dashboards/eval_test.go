package dashboards_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"

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
	es.st = st
	return es
}

// TestDashboardsOnExporterMetrics has a real Prometheus scrape the real exporter over that
// state, then runs every dashboard expression (and variable query) as an instant query:
// each must succeed and return something, and the panels that encode a state in a number
// must decode (through their value mappings) to what the metrics say.
func TestDashboardsOnExporterMetrics(t *testing.T) {
	bin := testutil.RequireTool(t, "prometheus")
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
	client := &http.Client{Timeout: 5 * time.Second}
	defer func() {
		srv.Close()
		client.CloseIdleConnections()
		goleak.VerifyNone(t, leaks)
	}()
	prom := startPrometheus(t, bin, srv.Listener.Addr().String())
	defer prom.stop(t)

	es := newEvalState(t, time.Now().UTC())
	reg := exporter.NewRegistry(func() *state.State { return es.st }, exporter.CollectorOptions{Fleet: es.fleet, Version: "test"})
	var h http.Handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
	metrics.Store(&h)

	// Wait (bounded) for a complete scrape, then query at that moment: a later scrape may time
	// out under the race detector, which would mark the series stale.
	deadline := time.Now().Add(45 * time.Second)
	var at time.Time
	for {
		at = time.Now()
		r, err := prom.query(client, "count(aikwatch_aik_host_status)", at)
		if err == nil && len(r) == 1 && r[0].value == float64(len(es.st.Hosts)) {
			if d, err := prom.query(client, "scrape_duration_seconds", at); err == nil && len(d) == 1 {
				t.Logf("scrape took %.2f s", d[0].value)
			}
			break
		}
		select {
		case <-prom.exited:
			t.Fatalf("prometheus exited: %s", prom.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no complete scrape of the exporter after 45 s (last: %v, %v)\n%s", r, err, prom.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	results := map[string][]sample{} // by dashboard file, panel title and refId
	for _, e := range expressions(t, ds) {
		q := e.expr
		if e.label != "" {
			q = fmt.Sprintf("count by (%s) (%s)", e.label, e.expr)
		}
		r, err := prom.query(client, q, at)
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
	want, err := prom.query(client, "aikwatch_deploy_verdict == 1", at)
	if err != nil || len(want) != 1 {
		t.Fatalf("aikwatch_deploy_verdict == 1: %v, %v", want, err)
	}
	p := overview.panel(t, "Deploy verdict")
	if got := get(overview, p.Title, "A"); len(got) != 1 || !strings.EqualFold(mappingText(p, got[0].text), want[0].labels["verdict"]) {
		t.Errorf("Deploy verdict shows %v, want %s", got, want[0].labels["verdict"])
	}

	// Per vendor: the same, and "(fleet)" on the fleet's vendors only.
	vendors, err := prom.query(client, "aikwatch_vendor_verdict == 1", at)
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
	cmd    *exec.Cmd
	base   string
	log    *syncBuffer
	exited chan struct{}
}

// startPrometheus starts Prometheus scraping target every 2 s as job "aikwatch", on a free
// loopback port (another one if that was taken meanwhile).
func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := fmt.Sprintf("global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\nscrape_configs:\n  - job_name: aikwatch\n    static_configs:\n      - targets: [%q]\n", target)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var last error
	for attempt := range 3 {
		addr, err := freeLoopbackAddr()
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		p := &promServer{base: "http://" + addr, log: &syncBuffer{}, exited: make(chan struct{})}
		p.cmd = exec.Command(bin, "--config.file="+cfg,
			"--storage.tsdb.path="+filepath.Join(dir, "data"+strconv.Itoa(attempt)),
			"--web.listen-address="+addr, "--log.level=warn")
		p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
		if err := p.cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", bin, err)
		}
		go func() {
			_ = p.cmd.Wait()
			close(p.exited)
		}()
		if last = p.waitReady(20 * time.Second); last == nil {
			return p
		}
		p.stop(t)
		if !strings.Contains(p.log.String(), "address already in use") {
			break
		}
	}
	t.Fatalf("prometheus did not start: %v", last)
	return nil
}

// waitReady polls /-/ready until Prometheus answers 200, exits, or d passes.
func (p *promServer) waitReady(d time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(d)
	for {
		resp, err := client.Get(p.base + "/-/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("prometheus exited: %s", p.log.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s (%v): %s", d, err, p.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop interrupts Prometheus, kills it if it has not exited 10 s later, and waits for it.
func (p *promServer) stop(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Logf("prometheus did not stop on SIGINT; killed")
	}
}

// query runs an instant query at a moment and returns its vector (a scalar as one unlabelled
// sample).
func (p *promServer) query(client *http.Client, q string, at time.Time) ([]sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/api/v1/query?"+url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("HTTP %d: decoding the answer: %w", resp.StatusCode, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s", body.Error)
	}
	var out []sample
	switch body.Data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(body.Data.Result, &vec); err != nil {
			return nil, fmt.Errorf("decoding the vector: %w", err)
		}
		for _, v := range vec {
			s, err := newSample(v.Metric, v.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(body.Data.Result, &v); err != nil {
			return nil, fmt.Errorf("decoding the scalar: %w", err)
		}
		s, err := newSample(nil, v)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	default:
		return nil, fmt.Errorf("result type %q, want vector or scalar", body.Data.ResultType)
	}
	return out, nil
}

// newSample decodes a [timestamp, "value"] pair.
func newSample(labels map[string]string, v [2]any) (sample, error) {
	text, ok := v[1].(string)
	if !ok {
		return sample{}, fmt.Errorf("sample value %v is not a string", v[1])
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return sample{}, fmt.Errorf("sample value %q: %w", text, err)
	}
	return sample{labels: labels, value: f, text: text}, nil
}

// freeLoopbackAddr returns a loopback address whose port was free a moment ago.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return "", errors.New("not a TCP address")
	}
	return addr.String(), nil
}

// syncBuffer is a bytes.Buffer safe for a child process's output copier and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
