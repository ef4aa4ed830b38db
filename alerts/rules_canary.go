package alerts

import (
	"fmt"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/canary"
)

// canaryServiceSide are the enrollment outcomes that point at the AIK CA service, not at the
// canary's device: they make a failing canary critical.
var canaryServiceSide = map[string]bool{
	canary.StatusNotFound: true, canary.StatusBadRequest: true, canary.StatusAttestationFailure: true,
	canary.StatusTimeout: true,
}

// evalCanaryFailing: one alert per canary whose last report has a failing check. Canaries are
// the organisation's own devices, but their alerts are not fleet-escalated: the severity already
// says whether the cause is the service's (critical) or the device's (warning).
func evalCanaryFailing(c *evalCtx) []condition {
	const name = RuleCanaryFailing
	var out []condition
	for _, k := range c.st.Canaries {
		failed := k.FailedChecks()
		if len(failed) == 0 || k.Stale(c.now) {
			continue
		}
		sev := SeverityWarning
		var what, ev []string
		for _, ch := range failed {
			if ch.Name == canary.CheckEnrollAIK && canaryServiceSide[ch.Status] {
				sev = SeverityCritical
			}
			line := ch.Name + ": " + ch.Status
			if ch.HRESULT != "" {
				line += " " + ch.HRESULT
			}
			what = append(what, ch.Name)
			ev = append(ev, line+": "+ch.Message)
		}
		ev = append(ev, "report received "+k.Received.UTC().Format(time.RFC3339))
		vendor := k.Vendor()
		summary := fmt.Sprintf("canary %s fails %s", k.Name, strings.Join(what, ", "))
		if sev == SeverityCritical {
			summary += ": a real AIK enrollment fails for a reason outside the device, devices with this TPM vendor will fail too"
		} else {
			summary += ": a device-side cause (TPM, clock, EK certificate); devices in the same condition fail attestation"
		}
		out = append(out, condition{rule: name, key: name + "/" + k.Name, group: groupOrCanary(vendor), severity: sev,
			fleet: false, vendor: vendor, host: k.Report.AIKHost, subject: "canary " + k.Name, summary: summary,
			evidence: ev, labels: map[string]string{"canary": k.Name, "checks": strings.Join(what, ",")},
			since: k.Since, count: k.Failures, firing: true})
	}
	return out
}

// evalCanaryStale: one alert per canary that stopped reporting.
func evalCanaryStale(c *evalCtx) []condition {
	const name = RuleCanaryStale
	var out []condition
	for _, k := range c.st.Canaries {
		if !k.Stale(c.now) {
			continue
		}
		vendor := k.Vendor()
		out = append(out, condition{rule: name, key: name + "/" + k.Name, group: groupOrCanary(vendor), severity: SeverityWarning,
			fleet: false, vendor: vendor, host: k.Report.AIKHost, subject: "canary " + k.Name,
			summary: fmt.Sprintf("canary %s has not reported for %s: its enrollments no longer vouch for the service", k.Name,
				c.now.Sub(k.Received).Round(time.Minute)),
			evidence: []string{"last report received " + k.Received.UTC().Format(time.RFC3339),
				"stale since " + k.StaleAt.UTC().Format(time.RFC3339)},
			labels: map[string]string{"canary": k.Name}, since: k.StaleAt, firing: true})
	}
	return out
}

// groupOrCanary groups canary alerts by TPM vendor, or together when the vendor is unknown.
func groupOrCanary(vendor string) string {
	if vendor == "" {
		return "canaries"
	}
	return vendor
}
