package exporter

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// Where the cached values come from, appended to the HELP texts.
const (
	metricFromRelease = " (cached: from the trust-list release in force; see aikwatch_trustlist_committed_timestamp_seconds)"
	metricFromRefresh = " (cached: from the last trust-list refresh; see aikwatch_trustlist_refresh_last_attempt_timestamp_seconds)"
	metricFromSweep   = " (cached: from the last sweep; see aikwatch_sweep_last_completed_timestamp_seconds)"
	metricFromEKProbe = " (cached: from the last EK service probe; see aikwatch_ek_service_status_since_timestamp_seconds)"
	metricFromEKCheck = " (cached: from the last EK CA check; see aikwatch_ek_ca_check_timestamp_seconds)"
	metricFromAssess  = " (computed at scrape time from the cached state and the configured fleet)"
)

// metricDef is one metric of the exporter: its name, type, labels and pre-built Desc.
type metricDef struct {
	name   string
	help   string
	typ    prometheus.ValueType
	labels []string
	desc   *prometheus.Desc
}

// metricAll lists every metric the collector can emit, in declaration order.
var metricAll []*metricDef

func metricGauge(name, help string, labels ...string) *metricDef {
	d := &metricDef{name: name, help: help, typ: prometheus.GaugeValue, labels: labels,
		desc: prometheus.NewDesc(name, help, labels, nil)}
	metricAll = append(metricAll, d)
	return d
}

// Build.
var metricBuildInfo = metricGauge("aikwatch_build_info",
	"Always 1; the labels say which aikwatch build is running.", "version", "revision", "goversion")

// The trust-list release in force.
var (
	metricTrustlistInfo = metricGauge("aikwatch_trustlist_info",
		"Always 1; the labels identify the trust-list release in force (TrustedTpm.cab)"+metricFromRelease+".",
		"sha256", "version_date", "source", "format")
	metricTrustlistVersionDate = metricGauge("aikwatch_trustlist_version_date_timestamp_seconds",
		"The release's version.txt \"last updated on\" date, as a Unix timestamp (midnight UTC)"+metricFromRelease+".")
	metricTrustlistCommitted = metricGauge("aikwatch_trustlist_committed_timestamp_seconds",
		"When the daemon put the release in force, as a Unix timestamp.")
	metricTrustlistSignatureValid = metricGauge("aikwatch_trustlist_signature_valid",
		"1 if the release's Authenticode signature verified, 0 if it is invalid or missing"+metricFromRelease+".")
	metricTrustlistSignatureTime = metricGauge("aikwatch_trustlist_signature_timestamp_seconds",
		"The RFC 3161 time stamp of the release's Authenticode signature, as a Unix timestamp"+metricFromRelease+".")
	metricTrustlistSize = metricGauge("aikwatch_trustlist_size_bytes",
		"Size of the release as downloaded"+metricFromRelease+".")
	metricTrustlistMembers = metricGauge("aikwatch_trustlist_members",
		"Number of files in the release, certificates or not"+metricFromRelease+".")
	metricTrustlistCertificates = metricGauge("aikwatch_trustlist_certificates",
		"Number of certificate files in the release by vendor folder and kind (aik_ca, ek_root, ek_intermediate, other), parsed or not"+metricFromRelease+".",
		"vendor_folder", "kind")
	metricTrustlistAIKHosts = metricGauge("aikwatch_trustlist_aik_hosts",
		"Number of AIK CA hosts the release names"+metricFromRelease+".")
	metricTrustlistUnparseable = metricGauge("aikwatch_trustlist_unparseable_certificates",
		"Number of certificate files of the release that do not parse"+metricFromRelease+".")
	metricTrustlistAnomalies = metricGauge("aikwatch_trustlist_anomalies",
		"Number of places where the release disagrees with itself, by kind"+metricFromRelease+".", "kind")
	metricTrustlistChangelogMismatches = metricGauge("aikwatch_trustlist_changelog_mismatches",
		"Number of places where version.txt and the shipped files disagree, by kind: removed_but_shipped over the whole changelog, the other kinds against the previous release (0 when none is recorded)"+metricFromRelease+".",
		"kind")
)

// Trust-list refreshes.
var (
	metricRefreshLastAttempt = metricGauge("aikwatch_trustlist_refresh_last_attempt_timestamp_seconds",
		"When the daemon last tried to refresh the trust list, as a Unix timestamp.")
	metricRefreshLastSuccess = metricGauge("aikwatch_trustlist_refresh_last_success_timestamp_seconds",
		"When a refresh last had a verified release in hand (new or not modified), as a Unix timestamp.")
	metricRefreshNext = metricGauge("aikwatch_trustlist_refresh_next_timestamp_seconds",
		"When the next trust-list refresh is scheduled, as a Unix timestamp.")
	metricRefreshSuccess = metricGauge("aikwatch_trustlist_refresh_success",
		"1 if the last trust-list refresh attempt succeeded, 0 if it failed"+metricFromRefresh+".")
	metricRefreshFailures = metricGauge("aikwatch_trustlist_refresh_consecutive_failures",
		"Number of trust-list refresh attempts that failed in a row"+metricFromRefresh+".")
	metricRefreshRefused = metricGauge("aikwatch_trustlist_release_refused",
		"1 if the latest downloaded release was refused (bad signature, unreadable) and is newer than the release in force, else 0"+metricFromRefresh+".")
)

// The AIK host sweep.
var (
	metricSweepCompleted = metricGauge("aikwatch_sweep_last_completed_timestamp_seconds",
		"When the last sweep of the AIK CA hosts completed, as a Unix timestamp.")
	metricSweepDuration = metricGauge("aikwatch_sweep_last_duration_seconds",
		"How long the last completed sweep of the AIK CA hosts took"+metricFromSweep+".")
	metricSweepProbed = metricGauge("aikwatch_sweep_hosts_probed",
		"Number of AIK CA hosts the last sweep probed"+metricFromSweep+".")
	metricSweepFailing = metricGauge("aikwatch_sweep_hosts_failing",
		"Number of AIK CA hosts that failed in the last sweep"+metricFromSweep+".")
)

// Per AIK CA host.
var (
	metricHostUp = metricGauge("aikwatch_aik_host_up",
		"1 if the AIK CA host's last probe succeeded, 0 if it failed; absent before its first probe"+metricFromSweep+".",
		"host", "vendor", "fleet")
	metricHostStatus = metricGauge("aikwatch_aik_host_status",
		"Always 1; the status label is the outcome of the AIK CA host's last probe (ok, withdrawn, http_error, throttled, tls_error, dns_error, timeout, connect_error, bad_response, cancelled, or unprobed)"+metricFromSweep+".",
		"host", "vendor", "fleet", "status")
	metricHostDuration = metricGauge("aikwatch_aik_host_probe_duration_seconds",
		"How long the AIK CA host's last probe took, both SCEP requests included"+metricFromSweep+".",
		"host", "vendor", "fleet")
	metricHostFailures = metricGauge("aikwatch_aik_host_consecutive_failures",
		"Number of sweeps in a row in which the AIK CA host failed"+metricFromSweep+".",
		"host", "vendor", "fleet")
	metricHostSince = metricGauge("aikwatch_aik_host_status_since_timestamp_seconds",
		"When the AIK CA host's probe status last changed, as a Unix timestamp"+metricFromSweep+".",
		"host", "vendor", "fleet")
	metricHostLastOK = metricGauge("aikwatch_aik_host_last_success_timestamp_seconds",
		"When a probe of the AIK CA host last succeeded, as a Unix timestamp"+metricFromSweep+".",
		"host", "vendor", "fleet")
	metricHostCANotAfter = metricGauge("aikwatch_aik_host_ca_not_after_timestamp_seconds",
		"NotAfter of the AIK CA certificate the host returned in its last probe, as a Unix timestamp"+metricFromSweep+".",
		"host", "vendor", "fleet")
	metricHostInTrustList = metricGauge("aikwatch_aik_host_in_trust_list",
		"1 if the release in force has an AIK CA certificate for the host, 0 if it no longer has"+metricFromRelease+".",
		"host", "vendor", "fleet")
	metricHostHTTPStatus = metricGauge("aikwatch_aik_host_http_status",
		"HTTP status code of the last response the AIK CA host gave in its last probe; absent when none was received"+metricFromSweep+".",
		"host", "vendor", "fleet")
)

// Per fTPM EK certificate service.
var (
	metricEKServiceUp = metricGauge("aikwatch_ek_service_up",
		"1 if the fTPM EK certificate service's last probe succeeded, 0 if it failed; absent before its first probe"+metricFromEKProbe+".",
		"service")
	metricEKServiceStatus = metricGauge("aikwatch_ek_service_status",
		"Always 1; the labels are the outcome of the EK certificate service's last probe and its mode (known_key or reachability)"+metricFromEKProbe+".",
		"service", "status", "mode")
	metricEKServiceDuration = metricGauge("aikwatch_ek_service_probe_duration_seconds",
		"How long the EK certificate service's last probe took"+metricFromEKProbe+".", "service")
	metricEKServiceFailures = metricGauge("aikwatch_ek_service_consecutive_failures",
		"Number of probes in a row in which the EK certificate service failed"+metricFromEKProbe+".", "service")
	metricEKServiceSince = metricGauge("aikwatch_ek_service_status_since_timestamp_seconds",
		"When the EK certificate service's probe outcome last changed, as a Unix timestamp.", "service")
	metricEKServiceHTTPStatus = metricGauge("aikwatch_ek_service_http_status",
		"HTTP status code of the EK certificate service's last answer; absent when none was received"+metricFromEKProbe+".", "service")
	metricEKServiceCertNotAfter = metricGauge("aikwatch_ek_service_certificate_not_after_timestamp_seconds",
		"NotAfter of the EK certificate the service returned for the known key, as a Unix timestamp; absent in reachability mode"+metricFromEKProbe+".", "service")
)

// Per vendor EK CA certificate of the release in force.
var (
	metricEKCACheck = metricGauge("aikwatch_ek_ca_check_timestamp_seconds",
		"When the EK CA certificates of the release in force were last checked, as a Unix timestamp.")
	metricEKCANotAfter = metricGauge("aikwatch_ek_ca_not_after_timestamp_seconds",
		"NotAfter of the vendor EK CA certificate, as a Unix timestamp; aik_host is the AIK CA host serving the EK certificates it issues, empty if none"+metricFromEKCheck+".",
		"path", "vendor_folder", "aik_host")
	metricEKCAInfo = metricGauge("aikwatch_ek_ca_info",
		"Always 1; the labels describe the vendor EK CA certificate: role (RootCA, IntermediateCA), subject, chain verdict and whether it is SHA-1-signed"+metricFromEKCheck+".",
		"path", "role", "subject", "chain", "sha1_signature")
)

// The deployment-day verdict.
var (
	metricDeployVerdict = metricGauge("aikwatch_deploy_verdict",
		"1 for the current answer to \"can we deploy today?\" (go, degraded, no-go, unknown), 0 for the others"+metricFromAssess+".",
		"verdict")
	metricDeployReasons = metricGauge("aikwatch_deploy_reasons",
		"Number of reasons behind the deployment verdict, by the verdict each implies alone"+metricFromAssess+".",
		"verdict")
	metricVendorVerdict = metricGauge("aikwatch_vendor_verdict",
		"1 for the current deployment verdict of a TPM vendor's AIK CA hosts (go, degraded, no-go, unknown), 0 for the others; fleet is true for the configured fleet's vendors"+metricFromAssess+".",
		"vendor", "fleet", "verdict")
)

// metricTimestamp returns t as Unix seconds.
func metricTimestamp(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

// metricBool returns 1 for true and 0 for false.
func metricBool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metricLabel returns s as a valid label value: invalid UTF-8 is replaced.
func metricLabel(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// emit sends one sample of m. A sample that cannot be built (which the callers rule out) is
// sent as an invalid metric, so the scrape reports it instead of the daemon panicking.
func (m *metricDef) emit(ch chan<- prometheus.Metric, v float64, labels ...string) {
	c, err := prometheus.NewConstMetric(m.desc, m.typ, v, labels...)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(m.desc, err)
		return
	}
	ch <- c
}

// emitTime sends t as Unix seconds unless it is zero.
func (m *metricDef) emitTime(ch chan<- prometheus.Metric, t time.Time, labels ...string) {
	if t.IsZero() {
		return
	}
	m.emit(ch, metricTimestamp(t), labels...)
}
