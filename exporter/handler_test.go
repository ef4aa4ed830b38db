package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/testutil"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// fixtureNow is "today" in the fixture: a few days after the Nov-2024 release.
var fixtureNow = time.Date(2024, 11, 25, 9, 30, 0, 0, time.UTC)

// Hosts of the fixture that fail, and why.
const (
	// withdrawnHost is a fleet host the service says is withdrawn while the Nov-2024 trust list
	// still ships its AIK CA (the order it happens in when a vendor's firmware is pulled).
	withdrawnHost = "amd-keyid-7ab56bd25cc6241caa15e568b691d9853a1459fe.microsoftaik.azure.net"
	// droppedHost is an Intel AIK CA removed from the trust list in June 2024 (version.txt:
	// "Removed the following AIK Certificates"), still named by the fleet configuration.
	droppedHost  = "intc-keyid-19c0d44f3499ba602d913e8a74e3322fba3275a1.microsoftaik.azure.net"
	droppedHost2 = "intc-keyid-9b656cd6a9dc8f9d8ccf8621c5d1fef6467fa025.microsoftaik.azure.net"
)

// fixture is the daemon's state built from the real Nov-2024 release.
type fixture struct {
	st      *state.State
	fleet   state.Fleet
	nov     *trustlist.Snapshot
	jun     *trustlist.Snapshot
	timeout string // an INTC host that times out (fleet vendor)
	badReq  string // an IFX host answering 400 (not fleet)
}

var (
	fixtureOnce sync.Once
	fixtureVal  *fixture
	fixtureErr  error
)

// novFixture loads the Nov-2024 and Jun-2024 cabs once per test binary and builds a state:
// every AIK host of the Nov-2024 release probed ok but a withdrawn AMD fleet host, a timing-out
// Intel host, an IFX host answering 400 and an Intel host the release no longer names; the EK
// CA checks of the release; the AMD EK service down; the real Jun→Nov diff and an older change
// that withdrew two Intel AIK CAs. Tests must not modify it: use clone.
func novFixture(tb testing.TB) *fixture {
	tb.Helper()
	fixtureOnce.Do(func() { fixtureVal, fixtureErr = buildFixture() })
	if fixtureErr != nil {
		tb.Fatalf("building the Nov-2024 fixture: %v", fixtureErr)
	}
	return fixtureVal
}

func buildFixture() (*fixture, error) {
	ctx := context.Background()
	data, err := os.ReadFile(testutil.NovCab)
	if err != nil {
		return nil, err
	}
	// The three reads are independent: overlap them (the race detector makes each slow).
	var (
		nov, jun             *trustlist.Snapshot
		files                []trustlist.File
		novErr, junErr, fErr error
		wg                   sync.WaitGroup
	)
	var junWG sync.WaitGroup
	junWG.Go(func() { jun, junErr = trustlist.Load(ctx, testutil.JunCab, trustlist.Options{}) })
	wg.Go(func() { nov, novErr = trustlist.FromBytes(ctx, data, testutil.NovCab, trustlist.Options{}) })
	wg.Go(func() { files, _, fErr = trustlist.ReadFiles(ctx, data, testutil.NovCab, trustlist.Options{}) })
	wg.Wait()
	var ekcas []probes.EKCAStatus
	if novErr == nil && fErr == nil {
		ekcas = probes.EKCACheck(nov, files, fixtureNow, 0)
	}
	junWG.Wait()
	if err := errors.Join(novErr, junErr, fErr); err != nil {
		return nil, err
	}
	if _, ok := nov.AIKHost(withdrawnHost); !ok {
		return nil, errors.New("the Nov-2024 release lacks " + withdrawnHost)
	}
	f := &fixture{nov: nov, jun: jun}
	for _, h := range nov.AIKHosts {
		switch {
		case f.timeout == "" && h.Vendor == "INTC":
			f.timeout = h.Host
		case f.badReq == "" && h.Vendor == "IFX":
			f.badReq = h.Host
		}
	}
	f.fleet = state.Fleet{Hosts: []string{"AMD-KeyId-7ab56bd25cc6241caa15e568b691d9853a1459fe", droppedHost}, Vendors: []string{"INTC"}}

	now := fixtureNow
	st := &state.State{
		Release: nov, ReleaseSince: time.Date(2024, 11, 22, 6, 12, 0, 0, time.UTC),
		Refresh: state.RefreshStatus{LastAttempt: now.Add(-20 * time.Minute), LastSuccess: now.Add(-20 * time.Minute), OK: true,
			NotModified: true, Source: trustlist.DefaultURL, NextScheduled: now.Add(40 * time.Minute)},
		LastSweep: state.SweepStatus{Started: now.Add(-3 * time.Minute), Finished: now.Add(-2 * time.Minute)},
		EKCAs:     ekcas, EKCAsAt: now.Add(-time.Hour),
	}
	for _, h := range nov.AIKHosts {
		hs := state.HostState{Host: h.Host, Vendor: h.Vendor, IDKind: h.IDKind, ID: h.ID, InTrustList: true,
			Fleet: f.fleet.HasHost(h.Host, h.Vendor), Status: probes.StatusOK, Since: now.Add(-72 * time.Hour), LastOK: now.Add(-2 * time.Minute),
			Last: &probes.Result{Host: h.Host, Vendor: h.Vendor, IDKind: h.IDKind, ID: h.ID, Status: probes.StatusOK, HTTPStatus: 200,
				StartedAt: now.Add(-2 * time.Minute), DurationSeconds: 0.142}}
		switch h.Host {
		case withdrawnHost:
			hs.Status, hs.Since, hs.Failures, hs.LastOK = probes.StatusWithdrawn, now.Add(-6*time.Hour), 24, now.Add(-6*time.Hour-15*time.Minute)
			hs.Last = &probes.Result{Host: h.Host, Vendor: h.Vendor, Status: probes.StatusWithdrawn, HTTPStatus: 404,
				Message: `The authority "` + h.Host + `" does not exist.`, Error: "the AIK CA service does not know this authority", DurationSeconds: 0.088}
		case f.timeout:
			hs.Status, hs.Since, hs.Failures = probes.StatusTimeout, now.Add(-25*time.Minute), 3
			hs.Last = &probes.Result{Host: h.Host, Vendor: h.Vendor, Status: probes.StatusTimeout, Error: "no answer within 10s (GetCACaps)", DurationSeconds: 10}
		case f.badReq:
			hs.Status, hs.Since, hs.Failures = probes.StatusHTTPError, now.Add(-2*time.Minute), 1
			hs.Last = &probes.Result{Host: h.Host, Vendor: h.Vendor, Status: probes.StatusHTTPError, HTTPStatus: 400,
				Message: "Failed to parse SCEP request.", DurationSeconds: 0.201}
		}
		st.Hosts = append(st.Hosts, hs)
	}
	st.Hosts = append(st.Hosts, state.HostState{Host: droppedHost, Vendor: "INTC", IDKind: "keyid", ID: "19c0d44f3499ba602d913e8a74e3322fba3275a1",
		Fleet: true, InTrustList: false, Status: probes.StatusWithdrawn, Since: time.Date(2024, 6, 12, 8, 0, 0, 0, time.UTC), Failures: 4102,
		Last: &probes.Result{Host: droppedHost, Status: probes.StatusWithdrawn, HTTPStatus: 404, Message: `The authority "` + droppedHost + `" does not exist.`}})
	slices.SortFunc(st.Hosts, func(a, b state.HostState) int { return strings.Compare(a.Host, b.Host) })

	st.EKServices = []state.EKServiceState{
		{Name: probes.EKServiceIntel, URL: "https://ekop.intel.com/ekcertservice/", OK: true, Since: now.Add(-72 * time.Hour),
			Last: &probes.EKResult{Service: probes.EKServiceIntel, Mode: probes.EKModeKnownKey, Status: probes.EKStatusOK, HTTPStatus: 200, DurationSeconds: 0.312}},
		{Name: probes.EKServiceAMD, URL: "https://ftpm.amd.com/pki/aia/", OK: false, Since: now.Add(-40 * time.Minute), Failures: 3,
			Last: &probes.EKResult{Service: probes.EKServiceAMD, Mode: probes.EKModeKnownKey, Status: probes.EKStatusTimeout, Error: "no answer within 10s", DurationSeconds: 10}},
		{Name: probes.EKServiceQualcomm, URL: "https://ekcert.spserv.microsoft.com/EKCertificate/GetEKCertificate/v1", OK: true, Since: now.Add(-72 * time.Hour),
			Last: &probes.EKResult{Service: probes.EKServiceQualcomm, Mode: probes.EKModeReachability, Status: probes.EKStatusReachable, HTTPStatus: 405, DurationSeconds: 0.097}},
	}

	older := &trustlist.Diff{
		From:              trustlist.ReleaseRef{SHA256: strings.Repeat("0", 64), VersionDate: "2024-03-20"},
		To:                trustlist.ReleaseRef{SHA256: jun.SHA256, VersionDate: trustlist.DateString(jun.VersionDate)},
		Added:             []trustlist.MemberChange{},
		Removed:           []trustlist.MemberChange{{Path: "Microsoft/IntermediateCA/INTC-keyid-19c0d44f3499ba602d913e8a74e3322fba3275a1.cer", Kind: trustlist.KindAIKCA}, {Path: "Microsoft/IntermediateCA/INTC-keyid-9b656cd6a9dc8f9d8ccf8621c5d1fef6467fa025.cer", Kind: trustlist.KindAIKCA}},
		Changed:           []trustlist.MemberChange{},
		AIKHostsWithdrawn: []string{droppedHost, droppedHost2}, AIKHostsAdded: []string{},
		EKCAsRemoved: []trustlist.EKCAChange{{Path: "Intel/IntermediateCA/LNL_00003429_NZ_ODCA_CA2.cer", VendorFolder: "Intel",
			Subject: "CN=LNL_00003429_NZ_ODCA_CA2,O=Intel Corporation", NotAfter: time.Date(2049, 12, 31, 0, 0, 0, 0, time.UTC)}},
		EKCAsAdded: []trustlist.EKCAChange{},
	}
	st.Changes = []state.ReleaseChange{
		{At: st.ReleaseSince, Diff: trustlist.Compare(jun, nov)},
		{At: time.Date(2024, 6, 12, 7, 45, 0, 0, time.UTC), Diff: older},
	}
	f.st = st
	return f, nil
}

// clone returns a shallow copy of the fixture's state whose slices may be replaced.
func (f *fixture) clone() *state.State {
	c := *f.st
	c.Hosts = slices.Clone(f.st.Hosts)
	c.EKServices = slices.Clone(f.st.EKServices)
	c.Changes = slices.Clone(f.st.Changes)
	return &c
}

// memHistory is a release store in memory, as the daemon's store adapter would answer.
type memHistory struct {
	releases []ReleaseInfo
	diffs    []DiffInfo
	err      error
	limits   []int
	mu       sync.Mutex
}

func (m *memHistory) Releases() ([]ReleaseInfo, error) { return m.releases, m.err }

func (m *memHistory) Diffs(limit int) ([]DiffInfo, error) {
	m.mu.Lock()
	m.limits = append(m.limits, limit)
	m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	return m.diffs[:min(limit, len(m.diffs))], nil
}

func (f *fixture) history() *memHistory {
	h := &memHistory{}
	for _, s := range []*trustlist.Snapshot{f.nov, f.jun} {
		h.releases = append(h.releases, ReleaseInfo{SHA256: s.SHA256, VersionDate: trustlist.DateString(s.VersionDate), Size: s.Size,
			Source: trustlist.DefaultURL, FetchedAt: s.VersionDate.Add(30 * time.Hour), CommittedAt: s.VersionDate.Add(30 * time.Hour), Signature: s.Signature})
	}
	for _, c := range f.st.Changes {
		h.diffs = append(h.diffs, DiffInfo{At: c.At, From: c.Diff.From, To: c.Diff.To, Diff: c.Diff})
	}
	return h
}

// testOptions are the handler options over st as the daemon sets them.
func (f *fixture) options(st *state.State) Options {
	return Options{
		State: func() *state.State { return st }, Fleet: f.fleet, History: f.history(),
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			io.WriteString(w, "# HELP aikwatch_up test\naikwatch_up 1\n")
		}),
		Refresh: func(context.Context) error { return nil },
		Version: "v0.0.0-test", Now: func() time.Time { return fixtureNow },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// do sends one request to h and returns the response with its body read.
func do(t *testing.T, h http.Handler, method, target string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// decode unmarshals a JSON body strictly (unknown fields are a failure: the types are the
// contract).
func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %T: %v\nbody: %.600s", v, err, body)
	}
	return v
}

func wantJSON(t *testing.T, res *http.Response, code int) {
	t.Helper()
	if res.StatusCode != code {
		t.Errorf("status %d, want %d", res.StatusCode, code)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
}

func wantError(t *testing.T, res *http.Response, body []byte, code int, contains string) {
	t.Helper()
	wantJSON(t, res, code)
	e := decode[errorBody](t, body)
	if e.Error == "" || !strings.Contains(e.Error, contains) {
		t.Errorf("error %q, want it to contain %q", e.Error, contains)
	}
}

func TestHealthyAndReady(t *testing.T) {
	f := novFixture(t)
	h := NewHandler(f.options(f.st))
	res, body := do(t, h, "GET", "/-/healthy")
	if res.StatusCode != 200 || string(body) != "healthy\n" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("healthy: %d %q %q", res.StatusCode, body, res.Header.Get("Content-Type"))
	}
	if res, body = do(t, h, "GET", "/-/ready"); res.StatusCode != 200 || string(body) != "ready\n" {
		t.Errorf("ready: %d %q", res.StatusCode, body)
	}
	if res, _ = do(t, h, "POST", "/-/ready"); res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST ready: %d Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}

	// Not ready: nothing yet (State nil, or returning nil), no release, no finished sweep.
	for name, o := range map[string]Options{
		"no State func": {},
		"nil state":     {State: func() *state.State { return nil }},
		"refresh error": {State: func() *state.State { return &state.State{Refresh: state.RefreshStatus{Error: "dial tcp: i/o timeout"}} }},
	} {
		res, body := do(t, NewHandler(o), "GET", "/-/ready")
		if res.StatusCode != 503 || !strings.Contains(string(body), "no trust-list release") {
			t.Errorf("%s: %d %q", name, res.StatusCode, body)
		}
		if name == "refresh error" && !strings.Contains(string(body), "dial tcp: i/o timeout") {
			t.Errorf("%s: the reason does not say why: %q", name, body)
		}
		if res, _ := do(t, NewHandler(o), "GET", "/-/healthy"); res.StatusCode != 200 {
			t.Errorf("%s: healthy %d", name, res.StatusCode)
		}
	}
	st := f.clone()
	st.LastSweep = state.SweepStatus{Started: fixtureNow}
	res, body = do(t, NewHandler(f.options(st)), "GET", "/-/ready")
	if res.StatusCode != 503 || !strings.Contains(string(body), "sweep has not finished") {
		t.Errorf("sweep running: %d %q", res.StatusCode, body)
	}
}

func TestMetricsMount(t *testing.T) {
	f := novFixture(t)
	res, body := do(t, NewHandler(f.options(f.st)), "GET", "/metrics")
	if res.StatusCode != 200 || !strings.Contains(string(body), "aikwatch_up 1") {
		t.Errorf("metrics: %d %q", res.StatusCode, body)
	}
	o := f.options(f.st)
	o.Metrics = nil
	if res, _ := do(t, NewHandler(o), "GET", "/metrics"); res.StatusCode != 404 {
		t.Errorf("metrics disabled: %d", res.StatusCode)
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	f := novFixture(t)
	h := NewHandler(f.options(f.st))
	res, body := do(t, h, "GET", "/api/v1/nope")
	wantError(t, res, body, 404, "/api/v1/nope")
	if res, body = do(t, h, "GET", "/favicon.ico"); res.StatusCode != 404 || !strings.Contains(string(body), "status page is at /") {
		t.Errorf("unknown page: %d %q", res.StatusCode, body)
	}
	for _, p := range []string{"/api/v1/", "/api/v1/status", "/api/v1/trustlist", "/api/v1/trustlist/history", "/api/v1/hosts", "/"} {
		for _, m := range []string{"POST", "PUT", "DELETE"} {
			res, body := do(t, h, m, p)
			wantError(t, res, body, http.StatusMethodNotAllowed, "method "+m+" not allowed")
			if res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: Allow %q", m, p, res.Header.Get("Allow"))
			}
		}
		if res, _ := do(t, h, "HEAD", p); res.StatusCode != 200 {
			t.Errorf("HEAD %s: %d", p, res.StatusCode)
		}
	}
	res, body = do(t, h, "GET", "/api/v1/refresh")
	wantError(t, res, body, 405, "use POST")
	if res.Header.Get("Allow") != "POST" {
		t.Errorf("refresh Allow %q", res.Header.Get("Allow"))
	}
}

func TestPanicIsJSON500(t *testing.T) {
	f := novFixture(t)
	o := f.options(f.st)
	o.Refresh = func(context.Context) error { panic("boom") }
	var logs strings.Builder
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	res, body := do(t, NewHandler(o), "POST", "/api/v1/refresh")
	wantError(t, res, body, 500, "internal error")
	if !strings.Contains(logs.String(), "boom") {
		t.Errorf("the panic is not logged: %q", logs.String())
	}
}
