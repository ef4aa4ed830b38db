package alerts

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/probes"
)

func apiDo(t *testing.T, srv *httptest.Server, method, path, body string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusNoContent && ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, resp.Header, b
}

func TestAPI(t *testing.T) {
	noLeaks(t)
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"IFX": 2, "AMD": 1})
	cfg := testConfig()
	cfg.Silences = []Silence{{ID: "planned", Vendor: "AMD", Until: t0.Add(24 * time.Hour), Comment: "AMD maintenance"}}
	e := newTestEngine(t, openStore(t), cfg, clk, &recorder{clk: clk})
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(srv.CloseClientConnections)

	down := map[string]result{hostName("IFX", 0): {status: probes.StatusTimeout}, hostName("AMD", 0): {status: probes.StatusTimeout},
		hostName("IFX", 1): {status: probes.StatusOK, http: 200, dur: 7}}
	mustEval(t, e, w.doSweep(down))
	clk.Advance(15 * time.Minute)
	mustEval(t, e, w.doSweep(down))

	code, _, body := apiDo(t, srv, "GET", PathAlerts, "")
	var ar AlertsResponse
	if err := json.Unmarshal(body, &ar); err != nil || code != 200 || len(ar.Alerts) != 3 {
		t.Fatalf("GET alerts: %d %s (%v)", code, body, err)
	}
	if ar.Alerts[0].State != StateFiring || ar.Alerts[0].Severity != SeverityCritical {
		t.Errorf("first alert %+v", ar.Alerts[0])
	}
	for _, a := range ar.Alerts {
		if a.Vendor == "AMD" && a.SilencedBy != "planned" {
			t.Errorf("AMD alert not silenced: %+v", a)
		}
	}
	code, _, body = apiDo(t, srv, "GET", PathAlerts+"?state=firing&rule=aikendpointslow", "")
	if err := json.Unmarshal(body, &ar); err != nil || code != 200 || len(ar.Alerts) != 1 || ar.Alerts[0].Rule != RuleAIKEndpointSlow {
		t.Fatalf("filtered: %d %s", code, body)
	}
	for _, q := range []string{"?state=burning", "?rule=Nope"} {
		if code, _, body := apiDo(t, srv, "GET", PathAlerts+q, ""); code != 400 || !strings.Contains(string(body), `"error"`) {
			t.Errorf("GET alerts%s: %d %s", q, code, body)
		}
	}
	if code, _, body := apiDo(t, srv, "GET", PathRules, ""); code != 200 || !strings.Contains(string(body), RuleTrustListStale) {
		t.Errorf("rules: %d", code)
	}

	// Silence the IFX host that is down.
	code, hdr, body := apiDo(t, srv, "POST", PathSilences, `{"host":"`+strings.ToUpper(strings.TrimSuffix(hostName("IFX", 0), ".microsoftaik.azure.net"))+`","duration":"2d","comment":"vendor ticket 42"}`)
	var s Silence
	if err := json.Unmarshal(body, &s); err != nil || code != 201 || s.Host != hostName("IFX", 0) || !s.Until.Equal(clk.Now().Add(48*time.Hour)) {
		t.Fatalf("POST silence: %d %s", code, body)
	}
	if hdr.Get("Location") != PathSilences+"/"+s.ID {
		t.Errorf("Location %q", hdr.Get("Location"))
	}
	code, _, body = apiDo(t, srv, "GET", PathAlerts+"?rule=AIKEndpointDown", "")
	if err := json.Unmarshal(body, &ar); err != nil {
		t.Fatal(err)
	}
	for _, a := range ar.Alerts {
		if a.Host == s.Host && a.SilencedBy != s.ID {
			t.Errorf("silenced at once? %+v", a)
		}
	}
	for _, bad := range []string{`{"duration":"1h"}`, `{"vendor":"IFX"}`, `{"vendor":"IFX","duration":"1h","until":"2030-01-01T00:00:00Z"}`,
		`{"vendor":"IFX","duration":"soon"}`, `{"vendor":"IFX","duration":"1h","extra":1}`, `not json`,
		`{"rule":"Nope","duration":"1h"}`, `{"vendor":"IFX","until":"2001-01-01T00:00:00Z"}`} {
		if code, _, body := apiDo(t, srv, "POST", PathSilences, bad); code != 400 || !strings.Contains(string(body), `"error"`) {
			t.Errorf("POST %s: %d %s", bad, code, body)
		}
	}
	code, _, body = apiDo(t, srv, "GET", PathSilences, "")
	var sr SilencesResponse
	if err := json.Unmarshal(body, &sr); err != nil || code != 200 || len(sr.Silences) != 2 || sr.Silences[0].ID != "planned" || sr.Silences[1].ID != s.ID {
		t.Fatalf("GET silences: %d %s", code, body)
	}
	if code, _, _ := apiDo(t, srv, "DELETE", PathSilences+"/"+s.ID, ""); code != 204 {
		t.Errorf("DELETE: %d", code)
	}
	if code, _, _ := apiDo(t, srv, "DELETE", PathSilences+"/"+s.ID, ""); code != 404 {
		t.Errorf("DELETE again: %d", code)
	}
	if code, _, _ := apiDo(t, srv, "DELETE", PathSilences+"/planned", ""); code != 409 {
		t.Errorf("DELETE a configured silence: %d", code)
	}
	if code, _, _ := apiDo(t, srv, "POST", PathSilences, `{"vendor":"IFX","duration":"1h"}`, "Content-Type", "text/plain"); code != 415 {
		t.Errorf("POST as text/plain: %d", code)
	}
	if code, _, _ := apiDo(t, srv, "POST", PathSilences, `{"vendor":"IFX","duration":"1h"}`, "Sec-Fetch-Site", "cross-site"); code != 403 {
		t.Errorf("cross-site POST: %d", code)
	}
	if code, _, _ := apiDo(t, srv, "DELETE", PathSilences+"/x", "", "Sec-Fetch-Site", "cross-site"); code != 403 {
		t.Errorf("cross-site DELETE: %d", code)
	}
	if code, _, _ := apiDo(t, srv, "PUT", PathSilences, "{}"); code != 405 {
		t.Errorf("PUT: %d", code)
	}
	if code, _, _ := apiDo(t, srv, "GET", "/api/v1/alertz", ""); code != 404 {
		t.Errorf("unknown path: %d", code)
	}

	code, _, body = apiDo(t, srv, "GET", PathOutbox, "")
	var or OutboxResponse
	if err := json.Unmarshal(body, &or); err != nil || code != 200 || len(or.Entries) == 0 {
		t.Fatalf("outbox: %d %s", code, body)
	}
	for _, o := range or.Entries {
		if o.AlertCount == 0 || o.Notification.Alerts != nil || o.Status != OutboxPending {
			t.Errorf("outbox entry %+v", o)
		}
	}
}
