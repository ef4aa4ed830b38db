package exporter

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aikwatch/aikwatch/canary"
	"github.com/aikwatch/aikwatch/internal/state"
)

// post sends body to h and returns the response with its body read.
func post(t *testing.T, h http.Handler, target string, body []byte, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func testCanaryReport(name, enroll string) canary.Report {
	return canary.Report{Version: canary.ReportVersion, Canary: name, Agent: "v1", Started: fixtureNow.Add(-time.Minute),
		Finished: fixtureNow, IntervalSeconds: 3600, TPM: &canary.TPMInfo{ManufacturerID: "IFX"},
		AIKHost: "ifx-keyid-0123456789abcdef0123456789abcdef01234567.microsoftaik.azure.net",
		Checks: []canary.Check{{Name: canary.CheckTPM, Status: canary.StatusOK, Message: "ready", DurationSeconds: 0.4},
			{Name: canary.CheckEnrollAIK, Status: enroll, HRESULT: "0x80190194", Message: "not found", DurationSeconds: 2.5},
			{Name: canary.CheckEKCert, Status: canary.StatusUnsupported, Message: "no PowerShell"}}}
}

// The canary endpoints: reports go in through POST (validated by the daemon's function), come
// out through GET failing first, and a canary can be forgotten; the metrics follow.
func TestAPICanaries(t *testing.T) {
	f := novFixture(t)
	st := *f.st
	cur := &st
	o := f.options(cur)
	o.State = func() *state.State { return cur }
	o.ReportCanary = func(r canary.Report) (state.CanaryState, error) {
		if err := r.Validate(); err != nil {
			return state.CanaryState{}, errors.Join(canary.ErrInvalidReport, err)
		}
		if r.Canary == "refused" {
			return state.CanaryState{}, canary.ErrRefused
		}
		ok := len(r.Failing()) == 1 // the unsupported check only
		c := state.CanaryState{Name: r.Canary, Report: r, Received: fixtureNow, OK: ok, Since: fixtureNow,
			StaleAt: state.CanaryStaleAt(fixtureNow, r, 0)}
		next := *cur
		next.Canaries = append(append([]state.CanaryState{}, cur.Canaries...), c)
		cur = &next
		return c, nil
	}
	o.ForgetCanary = func(name string) (bool, error) {
		for i, c := range cur.Canaries {
			if c.Name == name {
				next := *cur
				next.Canaries = append(append([]state.CanaryState{}, cur.Canaries[:i]...), cur.Canaries[i+1:]...)
				cur = &next
				return true, nil
			}
		}
		return false, nil
	}
	h := NewHandler(o)

	for _, name := range []string{"pc-ok", "pc-bad"} {
		status := canary.StatusOK
		if name == "pc-bad" {
			status = canary.StatusNotFound
		}
		b, _ := json.Marshal(testCanaryReport(name, status))
		res, body := post(t, h, "/api/v1/canaries", b)
		wantJSON(t, res, http.StatusOK)
		if acc := decode[CanaryAccepted](t, body); acc.Status != "accepted" || acc.Canary.Name != name || acc.Canary.Vendor != "IFX" {
			t.Errorf("accepted: %+v", acc)
		}
	}
	res, body := do(t, h, "GET", "/api/v1/canaries")
	wantJSON(t, res, http.StatusOK)
	list := decode[CanariesResponse](t, body)
	if list.Count != 2 || list.Failing != 1 || list.Stale != 0 || list.Canaries[0].Name != "pc-bad" {
		t.Fatalf("list: %+v", list)
	}
	res, body = do(t, h, "GET", "/api/v1/canaries/pc-bad")
	wantJSON(t, res, http.StatusOK)
	if v := decode[CanaryView](t, body); v.OK || v.Report.Checks[1].HRESULT != "0x80190194" {
		t.Errorf("one canary: %+v", v)
	}
	// The status page's verdict and the metrics see them.
	res, body = do(t, h, "GET", "/api/v1/status")
	if a := decode[state.Assessment](t, body); a.Verdict != state.NoGo || !strings.Contains(body2s(body), "canary pc-bad: enroll_aik check failed") {
		t.Errorf("status: %s", body)
	}
	reg := NewRegistry(func() *state.State { return cur }, CollectorOptions{Now: func() time.Time { return fixtureNow }})
	if n, err := testutil.GatherAndCount(reg, "aikwatch_canary_up", "aikwatch_canary_check_success", "aikwatch_canary_check_status"); err != nil || n != 2+4+6 {
		t.Errorf("canary series: %d %v", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP aikwatch_canary_up 1 if no check of the canary's last report failed, 0 otherwise (cached: from the canary's last report; see aikwatch_canary_last_report_timestamp_seconds).
# TYPE aikwatch_canary_up gauge
aikwatch_canary_up{canary="pc-bad"} 0
aikwatch_canary_up{canary="pc-ok"} 1
`), "aikwatch_canary_up"); err != nil {
		t.Error(err)
	}

	// The status page lists them, failing first, with the failing check's HRESULT.
	_, page := do(t, h, "GET", "/")
	ps := string(page)
	if i, j := strings.Index(ps, "pc-bad"), strings.Index(ps, "pc-ok"); !strings.Contains(ps, "Windows canaries") || i < 0 || j < i ||
		!strings.Contains(ps, "enroll_aik: not_found") || !strings.Contains(ps, "0x80190194") || !strings.Contains(ps, "1/2") {
		t.Errorf("status page canaries section missing or out of order")
	}

	// Errors: malformed JSON, an invalid report, a refused one, a body too large, a cross-site
	// browser request.
	res, body = post(t, h, "/api/v1/canaries", []byte("<html>"))
	wantError(t, res, body, http.StatusBadRequest, "decoding the canary report")
	bad := testCanaryReport("pc-x", canary.StatusOK)
	bad.Version = 99
	b, _ := json.Marshal(bad)
	res, body = post(t, h, "/api/v1/canaries", b)
	wantError(t, res, body, http.StatusBadRequest, "report version 99")
	b, _ = json.Marshal(testCanaryReport("refused", canary.StatusOK))
	res, body = post(t, h, "/api/v1/canaries", b)
	wantError(t, res, body, http.StatusForbidden, "refused")
	res, body = post(t, h, "/api/v1/canaries", bytes.Repeat([]byte(" "), canary.MaxReportBytes+1))
	wantError(t, res, body, http.StatusRequestEntityTooLarge, "larger than")
	res, body = post(t, h, "http://aikwatch.example/api/v1/canaries", b, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	wantError(t, res, body, http.StatusForbidden, "cross-origin")

	res, _ = do(t, h, "DELETE", "/api/v1/canaries/pc-bad")
	if res.StatusCode != http.StatusNoContent {
		t.Errorf("delete: %d", res.StatusCode)
	}
	res, body = do(t, h, "DELETE", "/api/v1/canaries/pc-bad")
	wantError(t, res, body, http.StatusNotFound, "no canary pc-bad")
	res, body = do(t, h, "GET", "/api/v1/canaries/pc-bad")
	wantError(t, res, body, http.StatusNotFound, "no canary")
	if n, _ := testutil.GatherAndCount(reg, "aikwatch_canary_up"); n != 1 {
		t.Errorf("a forgotten canary leaves /metrics: %d series", n)
	}

	o.ReportCanary, o.ForgetCanary = nil, nil
	res, body = post(t, NewHandler(o), "/api/v1/canaries", b)
	wantError(t, res, body, http.StatusNotImplemented, "canary")
}

func body2s(b []byte) string { return string(b) }
