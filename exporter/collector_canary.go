package exporter

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aikwatch/aikwatch/internal/state"
)

const metricFromCanary = " (cached: from the canary's last report; see aikwatch_canary_last_report_timestamp_seconds)"

// Per Windows canary (cmd/aikwatch-canary), from its last report.
var (
	metricCanaryInfo = metricGauge("aikwatch_canary_info",
		"Always 1; the labels describe the canary: its TPM vendor, the AIK CA host its EK certificate names (empty if unknown) and the canary's version"+metricFromCanary+".",
		"canary", "vendor", "aik_host", "agent")
	metricCanaryUp = metricGauge("aikwatch_canary_up",
		"1 if no check of the canary's last report failed, 0 otherwise"+metricFromCanary+".", "canary")
	metricCanaryLastReport = metricGauge("aikwatch_canary_last_report_timestamp_seconds",
		"When the daemon received the canary's last report, as a Unix timestamp.", "canary")
	metricCanaryStale = metricGauge("aikwatch_canary_stale_timestamp_seconds",
		"When the canary counts as stale if it reports nothing more (three of its intervals, or canaries.stale_after for a canary that runs once), as a Unix timestamp.", "canary")
	metricCanarySince = metricGauge("aikwatch_canary_status_since_timestamp_seconds",
		"When aikwatch_canary_up last changed, as a Unix timestamp.", "canary")
	metricCanaryFailures = metricGauge("aikwatch_canary_consecutive_failures",
		"Number of consecutive reports of the canary with a failing check"+metricFromCanary+".", "canary")
	metricCanaryCheckSuccess = metricGauge("aikwatch_canary_check_success",
		"1 if the check passed in the canary's last report, 0 if it failed; absent when the check could not run there (unsupported)"+metricFromCanary+".",
		"canary", "check")
	metricCanaryCheckStatus = metricGauge("aikwatch_canary_check_status",
		"Always 1; one series per check of the canary's last report, its outcome in the status label (ok, not_found, bad_request, no_ek_certificate, cert_expired, timeout, attestation_failure, vulnerable_firmware, tpm_not_ready, clock_skew, command_failed, unsupported, error) and the Windows HRESULT, if any"+metricFromCanary+".",
		"canary", "check", "status", "hresult")
	metricCanaryCheckDuration = metricGauge("aikwatch_canary_check_duration_seconds",
		"How long the check took on the device in the canary's last report"+metricFromCanary+".", "canary", "check")
)

func (c *stateCollector) collectCanaries(ch chan<- prometheus.Metric, st *state.State) {
	for _, k := range st.Canaries {
		name := metricLabel(k.Name)
		metricCanaryInfo.emit(ch, 1, name, metricLabel(k.Vendor()), metricLabel(k.Report.AIKHost), metricLabel(k.Report.Agent))
		metricCanaryUp.emit(ch, metricBool(k.OK), name)
		metricCanaryLastReport.emitTime(ch, k.Received, name)
		metricCanaryStale.emitTime(ch, k.StaleAt, name)
		metricCanarySince.emitTime(ch, k.Since, name)
		metricCanaryFailures.emit(ch, float64(k.Failures), name)
		seen := map[string]bool{}
		for _, chk := range k.Report.Checks {
			if seen[chk.Name] {
				continue // a duplicate series would fail the whole scrape; reports are validated, but be sure
			}
			seen[chk.Name] = true
			check := metricLabel(chk.Name)
			if state.CanaryCheckFailed(chk) || chk.OK() {
				metricCanaryCheckSuccess.emit(ch, metricBool(chk.OK()), name, check)
			}
			metricCanaryCheckStatus.emit(ch, 1, name, check, metricLabel(chk.Status), metricLabel(chk.HRESULT))
			metricCanaryCheckDuration.emit(ch, chk.DurationSeconds, name, check)
		}
	}
}
