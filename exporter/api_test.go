package exporter

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

func TestAPIIndex(t *testing.T) {
	f := novFixture(t)
	h := NewHandler(f.options(f.st))
	for _, p := range []string{"/api/v1/", "/api/v1"} {
		res, body := do(t, h, "GET", p)
		wantJSON(t, res, 200)
		idx := decode[IndexResponse](t, body)
		if idx.Service != "aikwatch" || idx.Version != "v0.0.0-test" {
			t.Errorf("%s: %+v", p, idx)
		}
		var paths []string
		for _, e := range idx.Endpoints {
			paths = append(paths, e.Path)
			if e.Description == "" || len(e.Methods) == 0 {
				t.Errorf("endpoint %+v lacks a description or methods", e)
			}
		}
		for _, want := range []string{"/api/v1/", "/api/v1/status", "/api/v1/trustlist", "/api/v1/trustlist/history", "/api/v1/hosts", "/api/v1/refresh", "/", "/metrics", "/-/healthy", "/-/ready"} {
			if !slices.Contains(paths, want) {
				t.Errorf("%s: index lacks %s: %v", p, want, paths)
			}
		}
	}
	// Every indexed API path answers something other than 404 (the index does not lie).
	for _, e := range apiIndex {
		if strings.Contains(e.Path, "{") {
			continue
		}
		res, _ := do(t, h, e.Methods[0], e.Path)
		if res.StatusCode == 404 {
			t.Errorf("%s %s: 404", e.Methods[0], e.Path)
		}
	}
}

func TestAPIStatus(t *testing.T) {
	f := novFixture(t)
	h := NewHandler(f.options(f.st))
	res, body := do(t, h, "GET", "/api/v1/status")
	wantJSON(t, res, 200)
	a := decode[state.Assessment](t, body)
	if a.Verdict != state.NoGo || res.Header.Get("X-Aikwatch-Verdict") != "no-go" {
		t.Fatalf("verdict %s (header %q), want no-go: %s", a.Verdict, res.Header.Get("X-Aikwatch-Verdict"), a.Summary)
	}
	if !a.At.Equal(fixtureNow) || a.ReleaseDate != "2024-11-21" || a.ReleaseSHA256 != f.nov.SHA256 || !a.FleetKnown {
		t.Errorf("assessment header: %+v", a)
	}
	if a.HostsFailing != 4 || a.HostsProbed != len(f.st.Hosts) {
		t.Errorf("hosts probed %d failing %d, want %d and 4", a.HostsProbed, a.HostsFailing, len(f.st.Hosts))
	}
	// The first reason is the fleet's: a withdrawn host, with what to do and the evidence.
	r := a.Reasons[0]
	if r.Verdict != state.NoGo || !r.Fleet || r.Action == "" || r.Evidence == "" {
		t.Errorf("first reason %+v", r)
	}
	var sawWithdrawn, sawEK bool
	for _, r := range a.Reasons {
		sawWithdrawn = sawWithdrawn || r.Host == withdrawnHost && strings.Contains(r.Message, "withdrawn") && strings.Contains(r.Evidence, "HTTP 404")
		sawEK = sawEK || strings.Contains(r.Message, "AMD fTPM EK certificate service")
	}
	if !sawWithdrawn || !sawEK {
		t.Errorf("reasons lack the withdrawn host (%v) or the AMD EK service (%v): %+v", sawWithdrawn, sawEK, a.Reasons)
	}
	verdicts := map[string]state.Verdict{}
	for _, v := range a.Vendors {
		verdicts[v.Name] = v.Verdict
	}
	want := map[string]state.Verdict{"AMD": state.NoGo, "INTC": state.NoGo, "IFX": state.Degraded, "NTC": state.Go, "STM": state.Go}
	for v, w := range want {
		if verdicts[v] != w {
			t.Errorf("vendor %s: %s, want %s", v, verdicts[v], w)
		}
	}
	if len(a.Vendors) != 11 {
		t.Errorf("%d vendors, want the 11 of the Nov-2024 release", len(a.Vendors))
	}

	// Narrowed to a vendor, as `aikwatch check --vendor`: NTC alone is go, IFX alone is no-go
	// (its failing host counts as fleet once asked about).
	res, body = do(t, h, "GET", "/api/v1/status?vendor=ntc")
	if a := decode[state.Assessment](t, body); a.Verdict != state.Go || len(a.Vendors) != 1 || !slices.Equal(a.ScopeVendors, []string{"ntc"}) {
		t.Errorf("vendor=ntc: %s %+v", a.Verdict, a.Vendors)
	}
	_, body = do(t, h, "GET", "/api/v1/status?vendor=IFX,NTC")
	if a := decode[state.Assessment](t, body); a.Verdict != state.NoGo || len(a.Vendors) != 2 {
		t.Errorf("vendor=IFX,NTC: %s %+v", a.Verdict, a.Vendors)
	}
	_, body = do(t, h, "GET", "/api/v1/status?host="+strings.TrimSuffix(f.badReq, trustlist.AIKHostSuffix))
	if a := decode[state.Assessment](t, body); a.Verdict != state.NoGo || a.HostsProbed != 1 {
		t.Errorf("host=%s: %s probed %d", f.badReq, a.Verdict, a.HostsProbed)
	}
	// Pretty output is the same document, indented.
	_, body = do(t, h, "GET", "/api/v1/status?pretty")
	if !strings.Contains(string(body), "\n  \"verdict\": \"no-go\"") {
		t.Errorf("pretty: %.200s", body)
	}

	// Before anything is known: unknown, with the refresh error as evidence.
	o := f.options(nil)
	o.State = func() *state.State { return &state.State{Refresh: state.RefreshStatus{Error: "dial tcp: i/o timeout"}} }
	_, body = do(t, NewHandler(o), "GET", "/api/v1/status")
	if a := decode[state.Assessment](t, body); a.Verdict != state.Unknown || a.Reasons[0].Evidence != "dial tcp: i/o timeout" || a.Vendors == nil {
		t.Errorf("empty state: %+v", a)
	}
}

func TestAPITrustlist(t *testing.T) {
	f := novFixture(t)
	h := NewHandler(f.options(f.st))
	res, body := do(t, h, "GET", "/api/v1/trustlist")
	wantJSON(t, res, 200)
	tl := decode[TrustlistResponse](t, body)
	if tl.VersionDate != "2024-11-21" || tl.SHA256 != f.nov.SHA256 || tl.Signature.Status != trustlist.SignatureValid || tl.Members != 2193 {
		t.Errorf("summary: %s %s %s %d", tl.VersionDate, tl.SHA256, tl.Signature.Status, tl.Members)
	}
	if len(tl.AIKHosts) != len(f.nov.AIKHosts) || len(tl.EKCAs) != len(f.nov.EKCAs) || len(tl.Unparseable) != 6 {
		t.Errorf("aik hosts %d ek cas %d unparseable %d", len(tl.AIKHosts), len(tl.EKCAs), len(tl.Unparseable))
	}
	if !tl.ReleaseSince.Equal(f.st.ReleaseSince) || !tl.Refresh.OK || !tl.Refresh.NotModified || tl.Changes != 2 {
		t.Errorf("release_since %s refresh %+v changes %d", tl.ReleaseSince, tl.Refresh, tl.Changes)
	}

	// No release yet: 503, the error says why, the refresh status is there.
	st := &state.State{Refresh: state.RefreshStatus{LastAttempt: fixtureNow, Error: "not a trust list: HTML page", Failures: 3}}
	res, body = do(t, NewHandler(f.options(st)), "GET", "/api/v1/trustlist")
	wantJSON(t, res, 503)
	nr := decode[NoReleaseResponse](t, body)
	if !strings.Contains(nr.Error, "no trust-list release") || !strings.Contains(nr.Error, "HTML page") || nr.Refresh.Failures != 3 {
		t.Errorf("no release: %+v", nr)
	}
}

func TestAPIHistory(t *testing.T) {
	f := novFixture(t)
	o := f.options(f.st)
	mem := f.history()
	o.History = mem
	h := NewHandler(o)
	res, body := do(t, h, "GET", "/api/v1/trustlist/history")
	wantJSON(t, res, 200)
	hr := decode[HistoryResponse](t, body)
	if len(hr.Releases) != 2 || !hr.Releases[0].Current || hr.Releases[1].Current || hr.Releases[0].VersionDate != "2024-11-21" {
		t.Errorf("releases %+v", hr.Releases)
	}
	if hr.Releases[0].Signature.Status != trustlist.SignatureValid || hr.Releases[0].CommittedAt.IsZero() {
		t.Errorf("release info %+v", hr.Releases[0])
	}
	if len(hr.Diffs) != 2 || hr.Diffs[0].To.VersionDate != "2024-11-21" || hr.Diffs[0].From.VersionDate != "2024-06-11" {
		t.Fatalf("diffs %+v", hr.Diffs)
	}
	if d := hr.Diffs[0].Diff; len(d.AIKHostsAdded) != 31 || len(d.EKCAsAdded) != 34 || len(d.AIKHostsWithdrawn) != 0 {
		t.Errorf("Jun→Nov diff: +%d hosts, +%d EK CAs, -%d hosts", len(d.AIKHostsAdded), len(d.EKCAsAdded), len(d.AIKHostsWithdrawn))
	}
	if d := hr.Diffs[1].Diff; !slices.Equal(d.AIKHostsWithdrawn, []string{droppedHost, droppedHost2}) {
		t.Errorf("older diff withdrawn %v", d.AIKHostsWithdrawn)
	}
	if mem.limits[0] != defaultDiffLimit {
		t.Errorf("default limit %d", mem.limits[0])
	}

	_, body = do(t, h, "GET", "/api/v1/trustlist/history?limit=1")
	if hr := decode[HistoryResponse](t, body); len(hr.Diffs) != 1 || len(hr.Releases) != 2 {
		t.Errorf("limit=1: %d diffs", len(hr.Diffs))
	}
	_, body = do(t, h, "GET", "/api/v1/trustlist/history?limit=0")
	if hr := decode[HistoryResponse](t, body); len(hr.Diffs) != 0 || hr.Diffs == nil {
		t.Errorf("limit=0: %+v", hr.Diffs)
	}
	do(t, h, "GET", "/api/v1/trustlist/history?limit=100000")
	if got := mem.limits[len(mem.limits)-1]; got != maxDiffLimit {
		t.Errorf("limit=100000 asked the store for %d, want the cap %d", got, maxDiffLimit)
	}
	for _, bad := range []string{"-1", "ten", "1.5"} {
		res, body := do(t, h, "GET", "/api/v1/trustlist/history?limit="+bad)
		wantError(t, res, body, 400, "limit=")
	}

	// A store that fails: 500 with the store's error; none: 503.
	o.History = &memHistory{err: errors.New("bbolt: database not open")}
	res, body = do(t, NewHandler(o), "GET", "/api/v1/trustlist/history")
	wantError(t, res, body, 500, "database not open")
	o.History = nil
	res, body = do(t, NewHandler(o), "GET", "/api/v1/trustlist/history")
	wantError(t, res, body, 503, "not available")
}

func TestAPIHosts(t *testing.T) {
	f := novFixture(t)
	h := NewHandler(f.options(f.st))
	res, body := do(t, h, "GET", "/api/v1/hosts")
	wantJSON(t, res, 200)
	hr := decode[HostsResponse](t, body)
	if hr.Total != len(f.st.Hosts) || hr.Count != hr.Total || hr.Failing != 4 {
		t.Fatalf("total %d count %d failing %d", hr.Total, hr.Count, hr.Failing)
	}
	// Failing first, the fleet's first among them, then the longest streak.
	var first []string
	for _, hs := range hr.Hosts[:4] {
		if !hs.Failing() {
			t.Errorf("%s (%s) sorted among the first four", hs.Host, hs.Status)
		}
		first = append(first, hs.Host)
	}
	if want := []string{droppedHost, withdrawnHost, f.timeout, f.badReq}; !slices.Equal(first, want) {
		t.Errorf("failing order %v, want %v", first, want)
	}
	if !hr.Hosts[1].Fleet || hr.Hosts[1].Last == nil || hr.Hosts[1].Last.HTTPStatus != 404 {
		t.Errorf("withdrawn host %+v", hr.Hosts[1])
	}
	if hr.Hosts[3].Fleet {
		t.Errorf("the IFX host is not in the fleet: %+v", hr.Hosts[3])
	}
	rest := hr.Hosts[4:]
	if !slices.IsSortedFunc(rest, func(a, b state.HostState) int { return strings.Compare(a.Host, b.Host) }) {
		t.Error("the hosts that answer are not sorted by name")
	}

	count := func(q string) HostsResponse {
		t.Helper()
		res, body := do(t, h, "GET", "/api/v1/hosts?"+q)
		wantJSON(t, res, 200)
		return decode[HostsResponse](t, body)
	}
	if r := count("vendor=amd"); r.Count != 36 || r.Failing != 1 || r.Total != len(f.st.Hosts) {
		t.Errorf("vendor=amd: count %d failing %d", r.Count, r.Failing)
	}
	if r := count("vendor=AMD,IFX"); r.Count != 36+124 {
		t.Errorf("vendor=AMD,IFX: %d", r.Count)
	}
	if r := count("vendor=AMD&vendor=IFX"); r.Count != 36+124 {
		t.Errorf("vendor=AMD&vendor=IFX: %d", r.Count)
	}
	if r := count("status=withdrawn"); r.Count != 2 || r.Hosts[0].Host != droppedHost {
		t.Errorf("status=withdrawn: %d", r.Count)
	}
	if r := count("status=failing"); r.Count != 4 || r.Failing != 4 {
		t.Errorf("status=failing: %d", r.Count)
	}
	if r := count("status=timeout,http_error"); r.Count != 2 {
		t.Errorf("status=timeout,http_error: %d", r.Count)
	}
	if r := count("status=ok"); r.Count != len(f.st.Hosts)-4 || r.Failing != 0 {
		t.Errorf("status=ok: %d", r.Count)
	}
	if r := count("status=unprobed"); r.Count != 0 || r.Hosts == nil {
		t.Errorf("status=unprobed: %d %v", r.Count, r.Hosts)
	}
	// The fleet: the AMD host by name, the dropped Intel host by name, every INTC host by vendor.
	if r := count("fleet=true"); r.Count != 1+1+56 {
		t.Errorf("fleet=true: %d", r.Count)
	}
	if r := count("fleet=true&status=failing"); r.Count != 3 {
		t.Errorf("fleet=true&status=failing: %d", r.Count)
	}
	if r := count("fleet=false&vendor=intc"); r.Count != 0 {
		t.Errorf("fleet=false&vendor=intc: %d", r.Count)
	}
	if r := count("vendor=QCOM&status=failing"); r.Count != 0 || r.Hosts == nil {
		t.Errorf("vendor=QCOM&status=failing: %+v", r)
	}
	for q, want := range map[string]string{"status=broken": `status="broken"`, "fleet=maybe": `fleet="maybe"`} {
		res, body := do(t, h, "GET", "/api/v1/hosts?"+q)
		wantError(t, res, body, 400, want)
	}

	// An unprobed host sorts between the failing and the ok ones.
	st := f.clone()
	i := slices.IndexFunc(st.Hosts, func(h state.HostState) bool { return h.Vendor == "WEC" })
	st.Hosts[i].Status, st.Hosts[i].Last = "", nil
	_, body = do(t, NewHandler(f.options(st)), "GET", "/api/v1/hosts")
	hr = decode[HostsResponse](t, body)
	if hr.Hosts[4].Host != st.Hosts[i].Host {
		t.Errorf("unprobed host at %d", slices.IndexFunc(hr.Hosts, func(h state.HostState) bool { return h.Vendor == "WEC" }))
	}
	_, body = do(t, NewHandler(f.options(st)), "GET", "/api/v1/hosts?status=unprobed")
	if r := decode[HostsResponse](t, body); r.Count != 1 {
		t.Errorf("status=unprobed: %d", r.Count)
	}
}

func TestAPIHost(t *testing.T) {
	f := novFixture(t)
	h := NewHandler(f.options(f.st))
	for _, name := range []string{withdrawnHost, "AMD-KeyId-7ab56bd25cc6241caa15e568b691d9853a1459fe"} {
		res, body := do(t, h, "GET", "/api/v1/hosts/"+name)
		wantJSON(t, res, 200)
		if hs := decode[state.HostState](t, body); hs.Host != withdrawnHost || hs.Status != probes.StatusWithdrawn || !hs.Fleet {
			t.Errorf("%s: %+v", name, hs)
		}
	}
	res, body := do(t, h, "GET", "/api/v1/hosts/amd-keyid-0000000000000000000000000000000000000000")
	wantError(t, res, body, 404, "not known")
}

func TestAPIRefresh(t *testing.T) {
	f := novFixture(t)
	o := f.options(f.st)
	var calls atomic.Int32
	o.Refresh = func(ctx context.Context) error {
		calls.Add(1)
		if ctx == nil {
			return errors.New("no context")
		}
		return nil
	}
	h := NewHandler(o)
	res, body := do(t, h, "POST", "/api/v1/refresh")
	wantJSON(t, res, http.StatusAccepted)
	rr := decode[RefreshResponse](t, body)
	if rr.Status != "accepted" || !rr.RequestedAt.Equal(fixtureNow) || res.Header.Get("Location") != "/api/v1/trustlist" || calls.Load() != 1 {
		t.Errorf("refresh: %+v Location %q calls %d", rr, res.Header.Get("Location"), calls.Load())
	}
	// Same-origin browser requests pass; cross-site ones are refused before Refresh runs.
	res, _ = do(t, h, "POST", "http://aikwatch.example/api/v1/refresh", "Sec-Fetch-Site", "same-origin")
	if res.StatusCode != http.StatusAccepted {
		t.Errorf("same-origin: %d", res.StatusCode)
	}
	res, body = do(t, h, "POST", "http://aikwatch.example/api/v1/refresh", "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	wantError(t, res, body, http.StatusForbidden, "cross-origin")
	if calls.Load() != 2 {
		t.Errorf("Refresh called %d times, want 2", calls.Load())
	}
	res, body = do(t, h, "GET", "/api/v1/refresh")
	wantError(t, res, body, http.StatusMethodNotAllowed, "POST")

	o.Refresh = func(context.Context) error { return errors.New("the daemon is shutting down") }
	res, body = do(t, NewHandler(o), "POST", "/api/v1/refresh")
	wantError(t, res, body, http.StatusServiceUnavailable, "shutting down")
	o.Refresh = nil
	res, body = do(t, NewHandler(o), "POST", "/api/v1/refresh")
	wantError(t, res, body, http.StatusNotImplemented, "not enabled")
}

// TestAPIOverHTTP runs the API over a real loopback server: HEAD bodies are dropped, the
// request context reaches Refresh and is cancelled when the client gives up.
func TestAPIOverHTTP(t *testing.T) {
	f := novFixture(t)
	o := f.options(f.st)
	started := make(chan struct{})
	o.Refresh = func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}
	srv := httptest.NewServer(NewHandler(o))
	defer srv.Close()
	client := srv.Client()
	for _, p := range []string{"/", "/api/v1/", "/api/v1/status", "/api/v1/hosts", "/api/v1/trustlist", "/-/ready"} {
		res, err := client.Head(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || len(b) != 0 || res.Header.Get("Content-Type") == "" {
			t.Errorf("HEAD %s: %d, %d bytes, %q", p, res.StatusCode, len(b), res.Header.Get("Content-Type"))
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/api/v1/refresh", nil)
	errc := make(chan error, 1)
	go func() {
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("Refresh was not called")
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client: %v", err)
	}
}
