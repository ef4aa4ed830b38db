package alerts

import (
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/canary"
	"github.com/aikwatch/aikwatch/internal/state"
)

func canaryAt(name string, received time.Time, checks ...canary.Check) state.CanaryState {
	r := canary.Report{Version: canary.ReportVersion, Canary: name, Started: received.Add(-time.Minute), Finished: received,
		IntervalSeconds: 3600, TPM: &canary.TPMInfo{ManufacturerID: "INTC"}, Checks: checks}
	ok := true
	for _, c := range checks {
		ok = ok && !state.CanaryCheckFailed(c)
	}
	return state.CanaryState{Name: name, Report: r, Received: received, OK: ok, Since: received,
		StaleAt: state.CanaryStaleAt(received, r, 0)}
}

// A canary whose real enrollment gets 404 is critical, a device-side failure a warning; both
// resolve at the next passing report; a silent canary goes stale instead.
func TestRuleCanaries(t *testing.T) {
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"INTC": 1})
	rec := &recorder{clk: clk}
	e := newTestEngine(t, openStore(t), testConfig(), clk, rec)
	now := clk.Now()
	tpmOK := canary.Check{Name: canary.CheckTPM, Status: canary.StatusOK}
	w.st.Canaries = []state.CanaryState{
		canaryAt("pc-1", now, tpmOK, canary.Check{Name: canary.CheckEnrollAIK, Status: canary.StatusNotFound, HRESULT: "0x80190194", Message: "the AIK CA does not exist"}),
		canaryAt("pc-2", now, tpmOK, canary.Check{Name: canary.CheckClock, Status: canary.StatusClockSkew, Message: "14 min slow"}),
		canaryAt("pc-3", now, tpmOK, canary.Check{Name: canary.CheckEKCert, Status: canary.StatusUnsupported}),
	}
	mustEval(t, e, w.snapshot())
	got := keyed(t, e, RuleCanaryFailing)
	if len(got) != 2 {
		t.Fatalf("canary alerts: %+v", got)
	}
	if a := got["pc-1"]; a.State != StateFiring || a.Severity != SeverityCritical || a.Vendor != "INTC" ||
		!strings.Contains(strings.Join(a.Evidence, "\n"), "enroll_aik: not_found 0x80190194") {
		t.Errorf("pc-1: %+v", a)
	}
	if a := got["pc-2"]; a.State != StateFiring || a.Severity != SeverityWarning {
		t.Errorf("pc-2: %+v", a)
	}

	// pc-1 passes again; pc-2 and pc-3 go silent for three hours.
	clk.Advance(3*time.Hour + time.Minute)
	now = clk.Now()
	w.st.Canaries[0] = canaryAt("pc-1", now, tpmOK, canary.Check{Name: canary.CheckEnrollAIK, Status: canary.StatusOK})
	mustEval(t, e, w.snapshot())
	got = keyed(t, e, RuleCanaryFailing)
	if got["pc-1"].State != StateResolved || got["pc-2"].State != StateResolved {
		t.Errorf("after recovery and silence: pc-1 %s, pc-2 %s (stale takes over)", got["pc-1"].State, got["pc-2"].State)
	}
	stale := keyed(t, e, RuleCanaryStale)
	if len(stale) != 2 || stale["pc-2"].State != StateFiring || stale["pc-3"].State != StateFiring || stale["pc-2"].Severity != SeverityWarning {
		t.Errorf("stale: %+v", stale)
	}
	// Forgotten: resolved.
	w.st.Canaries = w.st.Canaries[:1]
	mustEval(t, e, w.snapshot())
	if s := keyed(t, e, RuleCanaryStale); s["pc-2"].State != StateResolved || s["pc-3"].State != StateResolved {
		t.Errorf("forgotten canaries: %+v", s)
	}
}
