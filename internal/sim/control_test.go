package sim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

// ctl sends a control API request and decodes the JSON answer into out (when not nil).
func ctl(t *testing.T, s *Sim, method, path string, body []byte, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.ControlURL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func TestControlHosts(t *testing.T) {
	s := startSim(t)
	var st HostState
	if code := ctl(t, s, "PUT", "/hosts/"+strings.ToUpper(novHost), []byte(`{"mode":"withdrawn","latency_ms":5}`), &st); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	if st.Host != novHost || st.Mode != ModeWithdrawn || st.LatencyMS != 5 || !st.Override || !st.Known || st.Kind != "aik" {
		t.Errorf("PUT answer %+v", st)
	}
	code, _, body := get(t, s.Client(), "GET", "https://"+novHost+SCEPPath+"?operation=GetCACaps", nil)
	if code != 404 || !strings.Contains(string(body), "does not exist") {
		t.Errorf("after PUT withdrawn: %d %s", code, body)
	}
	var hosts []HostState
	if code := ctl(t, s, "GET", "/hosts", nil, &hosts); code != 200 {
		t.Fatalf("GET /hosts: %d", code)
	}
	if len(hosts) != len(s.AIKHosts())+len(ServiceHosts) {
		t.Errorf("GET /hosts: %d hosts, want %d", len(hosts), len(s.AIKHosts())+len(ServiceHosts))
	}
	found := false
	for _, h := range hosts {
		if h.Host == novHost {
			found = true
			if h.Mode != ModeWithdrawn || h.Requests != 1 {
				t.Errorf("GET /hosts entry %+v", h)
			}
		}
	}
	if !found {
		t.Error("GET /hosts lacks the host")
	}
	// Unknown AIK hosts appear once asked for.
	other := "ifx-keyid-1111111111111111111111111111111111111111.microsoftaik.azure.net"
	get(t, s.Client(), "GET", "https://"+other+SCEPPath+"?operation=GetCACaps", nil)
	if code := ctl(t, s, "GET", "/hosts/"+other, nil, &st); code != 200 || st.Known || st.Kind != "aik-unknown" || st.Requests != 1 {
		t.Errorf("GET /hosts/%s: %d %+v", other, code, st)
	}
	if code := ctl(t, s, "DELETE", "/hosts/"+novHost, nil, &st); code != 200 || st.Mode != ModeOK || st.Override {
		t.Errorf("DELETE: %d %+v", code, st)
	}
	var d DefaultsState
	if code := ctl(t, s, "PUT", "/defaults", []byte(`{"latency_ms":50}`), &d); code != 200 || d.LatencyMS != 50 || d.Mode != ModeOK {
		t.Errorf("PUT /defaults: %d %+v", code, d)
	}
	if code := ctl(t, s, "PUT", "/hosts/*", []byte(`{"mode":"throttled"}`), &d); code != 200 || d.Mode != ModeThrottled || d.LatencyMS != 0 {
		t.Errorf("PUT /hosts/*: %d %+v", code, d)
	}
	if m, _ := s.modes.effective(HostQualcommEK); m != ModeThrottled {
		t.Errorf("PUT /hosts/* did not reach %s", HostQualcommEK)
	}
	for _, bad := range []struct{ path, body string }{
		{"/hosts/" + novHost, `{"mode":"sideways"}`},
		{"/hosts/" + novHost, `{"mode":"ok","latency_ms":-1}`},
		{"/hosts/" + novHost, `{"mode":"ok","extra":1}`},
		{"/hosts/" + novHost, ``},
		{"/hosts/" + novHost, `{"mode":"ok"} {}`},
		{"/hosts/example.com", `{"mode":"ok"}`},
		{"/defaults", `{"mode":"nope"}`},
		{"/defaults", `{"latency_ms":-5}`},
		{"/trustlist", `not a cab`},
	} {
		var e map[string]string
		if code := ctl(t, s, "PUT", bad.path, []byte(bad.body), &e); code != 400 || e["error"] == "" {
			t.Errorf("PUT %s %q: %d %v, want 400 with an error", bad.path, bad.body, code, e)
		}
	}
	if code := ctl(t, s, "GET", "/nothing", nil, nil); code != 404 {
		t.Errorf("GET /nothing: %d", code)
	}
	var eks []EKState
	if code := ctl(t, s, "GET", "/eks", nil, &eks); code != 200 || len(eks) != 2 || !strings.Contains(eks[0].CertPEM, "BEGIN CERTIFICATE") {
		t.Errorf("GET /eks: %d %+v", code, eks)
	}
}

// novOnlyHost returns a host the Nov-2024 release names and the Jun-2024 one does not.
func novOnlyHost(t *testing.T) string {
	t.Helper()
	jun, err := parseRelease(t.Context(), readCab(t, testutil.JunCab))
	if err != nil {
		t.Fatal(err)
	}
	nov, err := parseRelease(t.Context(), readCab(t, testutil.NovCab))
	if err != nil {
		t.Fatal(err)
	}
	added, _ := hostDelta(jun, nov)
	if len(added) == 0 {
		t.Fatal("no host is new in Nov-2024")
	}
	return added[0]
}

func TestControlPublish(t *testing.T) {
	s := startSim(t)
	host := novOnlyHost(t)
	url := "https://" + host + SCEPPath + "?operation=GetCACaps"
	if code, _, _ := get(t, s.Client(), "GET", url, nil); code != 200 {
		t.Fatalf("Nov-only host before publish: %d", code)
	}
	var before, after TrustListState
	ctl(t, s, "GET", "/trustlist", nil, &before)
	if before.SHA256 != s.TrustListSHA256() || before.AIKHosts != 332 {
		t.Errorf("GET /trustlist %+v", before)
	}
	if code := ctl(t, s, "PUT", "/trustlist", readCab(t, testutil.JunCab), &after); code != 200 {
		t.Fatalf("PUT /trustlist: %d", code)
	}
	if after.SHA256 == before.SHA256 || after.SHA256 != s.TrustListSHA256() || len(after.Removed) == 0 {
		t.Errorf("PUT /trustlist answer %+v", after)
	}
	code, _, body := get(t, s.Client(), "GET", url, nil)
	if want := `{"Message":"The authority \"` + host + `\" does not exist."}`; code != 404 || string(body) != want {
		t.Errorf("Nov-only host after publishing Jun: %d %s", code, body)
	}
	if st := s.HostState(host); st.Known {
		t.Errorf("withdrawn host still known: %+v", st)
	}
	// Hosts in both releases are still served, with the Jun release's certificate.
	code, _, b := get(t, s.Client(), "GET", "https://"+novHost+SCEPPath+"?operation=GetCACertChain&message=default", nil)
	if code != 200 || len(b) == 0 {
		t.Errorf("common host after publish: %d", code)
	}
	// The simulator's own EK CA hosts do not depend on the release.
	if code, _, _ := get(t, s.Client(), "GET", "https://"+s.EKs()[0].AIKHost+SCEPPath+"?operation=GetCACaps", nil); code != 200 {
		t.Errorf("simulator EK CA host after publish: %d", code)
	}
}
