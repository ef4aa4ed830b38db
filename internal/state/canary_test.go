package state

import (
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/canary"
)

// canaryState is a canary that reported at now-10m with the given checks (name=status pairs).
func canaryState(name, vendor string, interval time.Duration, checks ...string) CanaryState {
	r := canary.Report{Version: canary.ReportVersion, Canary: name, Started: now.Add(-11 * time.Minute),
		Finished: now.Add(-10 * time.Minute), IntervalSeconds: interval.Seconds(), TPM: &canary.TPMInfo{ManufacturerID: vendor}}
	ok := true
	for i := 0; i+1 < len(checks); i += 2 {
		c := canary.Check{Name: checks[i], Status: checks[i+1], Message: "m"}
		if checks[i] == canary.CheckEnrollAIK && c.Status == canary.StatusNotFound {
			c.HRESULT = "0x80190194"
		}
		r.Checks = append(r.Checks, c)
		ok = ok && !CanaryCheckFailed(c)
	}
	rec := now.Add(-10 * time.Minute)
	return CanaryState{Name: name, Report: r, Received: rec, OK: ok, Since: rec, StaleAt: CanaryStaleAt(rec, r, 0)}
}

func TestAssessCanaries(t *testing.T) {
	st := healthy()
	st.Canaries = []CanaryState{canaryState("pc-ok", "AMD", time.Hour, "tpm", "ok", "enroll_aik", "ok", "ek_certificate", "unsupported")}
	if a := Assess(st, AssessOptions{Now: now}); a.Verdict != Go || len(a.Reasons) != 0 {
		t.Fatalf("passing canary (an unsupported check does not count): %+v", a)
	}

	// A device-side failure degrades; the vendor's verdict follows.
	st.Canaries = append(st.Canaries, canaryState("pc-clock", "IFX", time.Hour, "tpm", "ok", "clock", "clock_skew"))
	a := Assess(st, AssessOptions{Now: now})
	if a.Verdict != Degraded || len(a.Reasons) != 1 || !a.Reasons[0].Fleet || a.Reasons[0].Vendor != "IFX" ||
		!strings.Contains(a.Reasons[0].Message, "canary pc-clock: clock check failed") {
		t.Fatalf("clock skew: %+v", a)
	}
	for _, v := range a.Vendors {
		if v.Name == "IFX" && (v.Verdict != Degraded || !v.Fleet) {
			t.Errorf("IFX vendor verdict %+v", v)
		}
	}

	// A real enrollment refused by the service is no-go.
	st.Canaries = append(st.Canaries, canaryState("pc-nf", "INTC", time.Hour, "tpm", "ok", "enroll_aik", "not_found"))
	a = Assess(st, AssessOptions{Now: now})
	if a.Verdict != NoGo || a.Reasons[0].Verdict != NoGo || a.Reasons[0].Evidence != "not_found 0x80190194" {
		t.Fatalf("enrollment not found: %+v", a)
	}

	// Narrowed to AMD, the IFX and INTC canaries do not count.
	if a := Assess(st, AssessOptions{Now: now, Vendors: []string{"AMD"}}); a.Verdict != Go {
		t.Errorf("scoped to AMD: %+v", a)
	}

	// Silent for three intervals: stale, degraded, whatever its last report said.
	later := now.Add(3 * time.Hour)
	st.Refresh.LastSuccess = later
	a = Assess(st, AssessOptions{Now: later})
	stale := 0
	for _, r := range a.Reasons {
		if strings.Contains(r.Message, "has not reported for") {
			stale++
			if r.Verdict != Degraded {
				t.Errorf("stale reason %+v", r)
			}
		}
	}
	if stale != 3 || a.Verdict != Degraded {
		t.Errorf("after 3 h: %d stale reasons, verdict %s: %+v", stale, a.Verdict, a.Reasons)
	}
}

func TestCanaryStaleAt(t *testing.T) {
	r := canary.Report{IntervalSeconds: 3600}
	if got := CanaryStaleAt(now, r, 0); !got.Equal(now.Add(3 * time.Hour)) {
		t.Errorf("hourly: %s", got)
	}
	r.IntervalSeconds = 0
	if got := CanaryStaleAt(now, r, 0); !got.Equal(now.Add(DefaultCanaryStaleAfter)) {
		t.Errorf("once, default: %s", got)
	}
	if got := CanaryStaleAt(now, r, 2*time.Hour); !got.Equal(now.Add(2 * time.Hour)) {
		t.Errorf("once, 2h: %s", got)
	}
	c := CanaryState{Report: canary.Report{AIKHost: "stm-keyid-00.microsoftaik.azure.net"}}
	if c.Vendor() != "STM" {
		t.Errorf("vendor from AIK host: %q", c.Vendor())
	}
}
