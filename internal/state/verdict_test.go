package state

import (
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

var now = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func host(name, vendor string, st probes.Status) HostState {
	h := HostState{Host: name + trustlist.AIKHostSuffix, Vendor: vendor, Status: st, InTrustList: true, Since: now.Add(-time.Hour)}
	if st != probes.StatusOK {
		h.Failures = 2
		h.Last = &probes.Result{Status: st, HTTPStatus: 404, Message: `The authority "x" does not exist.`}
	}
	return h
}

func healthy() *State {
	return &State{
		Release:      &trustlist.Snapshot{SHA256: "abc", VersionDate: time.Date(2024, 11, 21, 0, 0, 0, 0, time.UTC)},
		ReleaseSince: now.Add(-48 * time.Hour),
		Refresh:      RefreshStatus{LastSuccess: now.Add(-time.Hour), OK: true},
		Hosts: []HostState{
			host("amd-keyid-01", "AMD", probes.StatusOK),
			host("amd-keyid-02", "AMD", probes.StatusOK),
			host("ifx-keyid-01", "IFX", probes.StatusOK),
			host("intc-keyid-01", "INTC", probes.StatusOK),
		},
	}
}

func TestAssessGo(t *testing.T) {
	a := Assess(healthy(), AssessOptions{Now: now})
	if a.Verdict != Go || len(a.Reasons) != 0 || a.HostsProbed != 4 {
		t.Fatalf("%+v", a)
	}
}

func TestAssessWithdrawnFleetHostIsNoGo(t *testing.T) {
	st := healthy()
	st.Hosts[0] = host("amd-keyid-01", "AMD", probes.StatusWithdrawn)
	a := Assess(st, AssessOptions{Now: now, Fleet: Fleet{Hosts: []string{"AMD-KeyId-01"}}})
	if a.Verdict != NoGo {
		t.Fatalf("verdict %s, want no-go: %+v", a.Verdict, a.Reasons)
	}
	r := a.Reasons[0]
	if !r.Fleet || r.Host != "amd-keyid-01.microsoftaik.azure.net" || !strings.Contains(r.Message, "withdrawn") || !strings.Contains(r.Evidence, "HTTP 404") {
		t.Errorf("reason %+v", r)
	}
	if a.Vendors[0].Name != "AMD" || a.Vendors[0].Verdict != NoGo {
		t.Errorf("vendors %+v", a.Vendors)
	}
	// The same host outside the fleet only degrades.
	a = Assess(st, AssessOptions{Now: now, Fleet: Fleet{Vendors: []string{"IFX"}}})
	if a.Verdict != Degraded {
		t.Errorf("non-fleet failure: %s", a.Verdict)
	}
	// Narrowed to the vendor, as `check --vendor AMD`: no-go.
	a = Assess(st, AssessOptions{Now: now, Vendors: []string{"amd"}})
	if a.Verdict != NoGo || len(a.Vendors) != 1 {
		t.Errorf("scoped: %s %+v", a.Verdict, a.Vendors)
	}
	// Narrowed to a healthy vendor: go.
	if a = Assess(st, AssessOptions{Now: now, Vendors: []string{"IFX"}}); a.Verdict != Go {
		t.Errorf("scoped to IFX: %s %+v", a.Verdict, a.Reasons)
	}
}

func TestAssessVendorOutage(t *testing.T) {
	st := healthy()
	st.Hosts[0] = host("amd-keyid-01", "AMD", probes.StatusTimeout)
	st.Hosts[1] = host("amd-keyid-02", "AMD", probes.StatusTimeout)
	a := Assess(st, AssessOptions{Now: now})
	if a.Verdict != NoGo {
		t.Errorf("every AMD host down, no fleet: %s", a.Verdict)
	}
	a = Assess(st, AssessOptions{Now: now, Fleet: Fleet{Vendors: []string{"IFX"}}})
	if a.Verdict != Degraded {
		t.Errorf("outage of a vendor outside the fleet: %s", a.Verdict)
	}
}

func TestAssessUnknownAndStale(t *testing.T) {
	a := Assess(&State{Refresh: RefreshStatus{Error: "dial tcp: timeout"}}, AssessOptions{Now: now})
	if a.Verdict != Unknown || !strings.Contains(a.Summary, "no trust list") {
		t.Errorf("%+v", a)
	}
	st := healthy()
	st.Refresh.LastSuccess = now.Add(-30 * time.Hour)
	if a := Assess(st, AssessOptions{Now: now}); a.Verdict != Degraded || !strings.Contains(a.Reasons[0].Message, "not been refreshed") {
		t.Errorf("stale: %+v", a)
	}
	st = healthy()
	st.Refresh.Refused = &Refusal{At: now.Add(-time.Minute), Reason: "signature invalid (digest_mismatch)"}
	if a := Assess(st, AssessOptions{Now: now}); a.Verdict != Degraded || !strings.Contains(a.Reasons[0].Message, "refused") {
		t.Errorf("refused: %+v", a)
	}
	st = healthy()
	for i := range st.Hosts {
		st.Hosts[i].Status = ""
	}
	if a := Assess(st, AssessOptions{Now: now}); a.Verdict != Unknown {
		t.Errorf("nothing probed: %s", a.Verdict)
	}
}

func TestAssessHostDroppedFromTrustList(t *testing.T) {
	st := healthy()
	h := host("ntc-keyid-09", "NTC", probes.StatusWithdrawn)
	h.InTrustList = false
	st.Hosts = append(st.Hosts, h)
	a := Assess(st, AssessOptions{Now: now, Fleet: Fleet{Hosts: []string{"ntc-keyid-09.microsoftaik.azure.net"}}})
	if a.Verdict != NoGo || !strings.Contains(a.Reasons[0].Message, "no longer has an AIK CA") {
		t.Errorf("%+v", a.Reasons)
	}
}

func TestAssessEKServiceAndExpiringCA(t *testing.T) {
	st := healthy()
	st.EKServices = []EKServiceState{{Name: "intel", URL: "https://ekop.intel.com/ekcertservice/", Last: &probes.EKResult{Status: "timeout"}}}
	st.EKCAs = []probes.EKCAStatus{{Path: "Intel/IntermediateCA/x.cer", Subject: "CN=x", NotAfter: now.Add(10 * 24 * time.Hour), DaysLeft: 10, AIKHost: st.Hosts[3].Host}}
	a := Assess(st, AssessOptions{Now: now})
	if a.Verdict != Degraded || len(a.Reasons) != 2 {
		t.Fatalf("%s %+v", a.Verdict, a.Reasons)
	}
}
