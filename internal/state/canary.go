package state

import (
	"fmt"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/canary"
)

// DefaultCanaryStaleAfter is how long a canary that runs once (no interval in its reports) may
// stay silent before it counts as stale.
const DefaultCanaryStaleAfter = 25 * time.Hour

// CanaryState is what is known of one Windows canary: its last report and how long it has
// been passing or failing.
type CanaryState struct {
	// Name is the canary's name, from its reports.
	Name string `json:"name"`
	// Report is the last report received.
	Report canary.Report `json:"report"`
	// Received is when the daemon received the last report, in the daemon's clock.
	Received time.Time `json:"received"`
	// OK is true when no check of the last report failed (unsupported checks do not count).
	OK bool `json:"ok"`
	// Since is when OK last changed (the first report counts as a change).
	Since time.Time `json:"since"`
	// Failures counts the consecutive failing reports.
	Failures int `json:"consecutive_failures"`
	// LastOK is when the last passing report was received; zero if none was.
	LastOK time.Time `json:"last_ok,omitzero"`
	// StaleAt is when the canary counts as stale if no report arrives before ([CanaryStaleAt]).
	StaleAt time.Time `json:"stale_at"`
}

// CanaryCheckFailed reports whether a check counts as failing: any status but ok and
// unsupported.
func CanaryCheckFailed(c canary.Check) bool {
	return c.Status != canary.StatusOK && c.Status != canary.StatusUnsupported
}

// FailedChecks returns the checks of the last report that failed, in order.
func (c CanaryState) FailedChecks() []canary.Check {
	var out []canary.Check
	for _, ch := range c.Report.Checks {
		if CanaryCheckFailed(ch) {
			out = append(out, ch)
		}
	}
	return out
}

// Vendor is the canary's TPM vendor code: the TPM manufacturer ID, or the vendor of the AIK
// host its EK certificate names; "" when neither is known.
func (c CanaryState) Vendor() string {
	if c.Report.TPM != nil && c.Report.TPM.ManufacturerID != "" {
		return strings.ToUpper(strings.TrimSpace(c.Report.TPM.ManufacturerID))
	}
	if h := c.Report.AIKHost; h != "" {
		if i := strings.Index(h, "-"); i > 0 {
			return strings.ToUpper(h[:i])
		}
	}
	return ""
}

// CanaryStaleAt is when a canary that reported r at received counts as stale if it sends
// nothing more: three of its intervals later, or def (0: [DefaultCanaryStaleAfter]) later for a
// canary that runs once.
func CanaryStaleAt(received time.Time, r canary.Report, def time.Duration) time.Time {
	if def <= 0 {
		def = DefaultCanaryStaleAfter
	}
	after := def
	if iv := r.IntervalSeconds; iv > 0 {
		after = time.Duration(3 * iv * float64(time.Second))
	}
	return received.Add(after)
}

// Stale reports whether the canary has been silent past StaleAt at now.
func (c CanaryState) Stale(now time.Time) bool {
	return !c.StaleAt.IsZero() && now.After(c.StaleAt)
}

// Canary returns the state of the canary called name and whether it is known.
func (s *State) Canary(name string) (CanaryState, bool) {
	for _, c := range s.Canaries {
		if c.Name == name {
			return c, true
		}
	}
	return CanaryState{}, false
}

// canaryServiceSide lists the enrollment statuses that point at the AIK CA service rather
// than at the device: a canary failing with one of them is a no-go.
var canaryServiceSide = map[string]bool{
	canary.StatusNotFound: true, canary.StatusBadRequest: true, canary.StatusAttestationFailure: true,
	canary.StatusTimeout: true,
}

// canaryReasons adds the reasons of failing and stale canaries. Canaries are the
// organisation's own devices: their reasons are fleet reasons. A real enrollment failing for
// a service-side cause is no-go; a device-side cause or a silent canary degrades.
func canaryReasons(st *State, now time.Time, scoped bool, fleet Fleet) []Reason {
	var out []Reason
	for _, c := range st.Canaries {
		vendor := c.Vendor()
		if scoped && !fleet.HasVendor(vendor) && !(c.Report.AIKHost != "" && fleet.HasHost(c.Report.AIKHost, vendor)) {
			continue
		}
		if c.Stale(now) {
			every := "once"
			if c.Report.IntervalSeconds > 0 {
				every = "every " + (time.Duration(c.Report.IntervalSeconds * float64(time.Second))).String()
			}
			out = append(out, Reason{Verdict: Degraded, Fleet: true, Vendor: vendor, Host: c.Report.AIKHost, Since: c.Received,
				Message:  fmt.Sprintf("canary %s has not reported for %s (it runs %s)", c.Name, now.Sub(c.Received).Round(time.Minute), every),
				Action:   "check that the aikwatch-canary task still runs on that device and can reach the daemon",
				Evidence: "last report received " + c.Received.UTC().Format(time.RFC3339)})
			continue
		}
		for _, ch := range c.FailedChecks() {
			v := Degraded
			action := "fix the device (its TPM, clock or EK certificate): devices in the same condition fail attestation too"
			if ch.Name == canary.CheckEnrollAIK && canaryServiceSide[ch.Status] {
				v = NoGo
				action = "a real AIK enrollment fails for a reason outside the device: postpone deployments of devices with this TPM vendor"
			}
			ev := ch.Status
			if ch.HRESULT != "" {
				ev += " " + ch.HRESULT
			}
			msg := fmt.Sprintf("canary %s: %s check failed: %s", c.Name, ch.Name, ch.Message)
			if c.Failures > 1 {
				msg += fmt.Sprintf(" (%d consecutive runs)", c.Failures)
			}
			out = append(out, Reason{Verdict: v, Fleet: true, Vendor: vendor, Host: c.Report.AIKHost, Since: c.Since,
				Message: msg, Action: action, Evidence: ev})
		}
	}
	return out
}
