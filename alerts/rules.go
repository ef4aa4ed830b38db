package alerts

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/trustlist"
)

// Rule names. Each rule's runbook section is docs/runbook.md#<the name in lower case>.
const (
	// RuleAIKCAWithdrawnFromTrustList (critical): the newest trust-list release no longer ships
	// any AIK CA certificate for a host the previous release had: TPMs whose EK CA that host
	// served can no longer attest. One alert per host; the hosts of one vendor withdrawn by one
	// release make one notification. It resolves when a later release has the host again (not
	// when a newer release arrives without it: the host is still withdrawn).
	RuleAIKCAWithdrawnFromTrustList = "AIKCAWithdrawnFromTrustList"
	// RuleEKCARemovedFromTrustList (warning): the newest release dropped an EK CA certificate
	// (by fingerprint). An event about one release: it notifies once, does not repeat, sends
	// no resolved message, and is marked resolved when a newer release arrives.
	RuleEKCARemovedFromTrustList = "EKCARemovedFromTrustList"
	// RuleTrustListChanged (info): a new release added or changed something (AIK hosts, EK
	// CAs, other members); the message lists what was added. Releases that only remove things
	// are covered by the two rules above. An event: one notification per release, no repeat,
	// no resolved message; marked resolved when a newer release arrives.
	RuleTrustListChanged = "TrustListChanged"
	// RuleAIKEndpointWithdrawn (critical): the AIK CA service answers "the authority does not
	// exist" (HTTP 404) for a host, for ConsecutiveSweeps sweeps in a row (pending before).
	RuleAIKEndpointWithdrawn = "AIKEndpointWithdrawn"
	// RuleAIKEndpointDown (critical): a host times out, answers 5xx, fails the TLS handshake,
	// refuses or drops the connection, or does not resolve, for ConsecutiveSweeps sweeps in a
	// row. Other failures (4xx other than 404-withdrawn and 429, unusable 2xx answers) raise no
	// alert of their own: the verdict reports them.
	RuleAIKEndpointDown = "AIKEndpointDown"
	// RuleAIKEndpointSlow (warning): a host answers correctly but slower than SlowThreshold
	// (both requests together), for ConsecutiveSweeps sweeps in a row.
	RuleAIKEndpointSlow = "AIKEndpointSlow"
	// RuleAIKEndpointThrottled (warning): the service answers HTTP 429 for a host, for
	// ConsecutiveSweeps sweeps in a row.
	RuleAIKEndpointThrottled = "AIKEndpointThrottled"
	// RuleEKServiceDown (warning): an fTPM EK certificate service (Intel, AMD, Qualcomm) has
	// failed ConsecutiveSweeps checks in a row.
	RuleEKServiceDown = "EKServiceDown"
	// RuleEKCAExpiring (warning; critical within ExpiryCrit): an EK CA that backs an AIK host
	// expires within ExpiryWarn. EK CAs that back no AIK host are ignored.
	RuleEKCAExpiring = "EKCAExpiring"
	// RuleEKCAExpired (warning): an EK CA that backs an AIK host has expired. Shipped expired
	// CAs are common and the AIK host's own probe says whether it still works, so it does not
	// repeat.
	RuleEKCAExpired = "EKCAExpired"
	// RuleAIKCAExpiring (warning; critical within ExpiryCrit or once expired): a host will
	// have no valid AIK CA certificate within ExpiryWarn: the later of the certificate the
	// service serves and the trust list's newest one for the host expires.
	RuleAIKCAExpiring = "AIKCAExpiring"
	// RuleTrustListSignatureInvalid (critical): a downloaded release newer than the one in
	// force was refused (bad signature, not a trust list); the previous release stays in
	// force. Resolves when a release is committed after the refusal.
	RuleTrustListSignatureInvalid = "TrustListSignatureInvalid"
	// RuleTrustListStale (warning): no successful trust-list refresh for StaleAfter.
	RuleTrustListStale = "TrustListStale"
	// RuleTrustListChangelogMismatch (info): the newest release's version.txt disagrees with
	// the members it ships (listed as removed but shipped, removed without a changelog line,
	// listed as added but absent). An event, like TrustListChanged.
	RuleTrustListChangelogMismatch = "TrustListChangelogMismatch"
	// RuleCanaryFailing (warning; critical when a real AIK enrollment fails for a service-side
	// cause: not found, bad request, attestation refused, timeout): a Windows canary's last
	// report has a failing check.
	RuleCanaryFailing = "CanaryFailing"
	// RuleCanaryStale (warning): a Windows canary stopped reporting (three of its intervals,
	// or 25 h for one that runs once).
	RuleCanaryStale = "CanaryStale"
)

// RuleInfo describes one rule, for the README and the API.
type RuleInfo struct {
	Name        string   `json:"name"`
	Severity    Severity `json:"severity"` // before fleet escalation
	Description string   `json:"description"`
	// Resolves says when an alert of the rule resolves.
	Resolves string `json:"resolves"`
	// Repeats: a notification is sent again every RepeatInterval while it fires.
	Repeats bool `json:"repeats"`
	// ResolvedMessage: a message is sent (in the thread) when the alerts resolve.
	ResolvedMessage bool `json:"resolved_message"`
	// Runbook is the anchor of the rule's section in docs/runbook.md.
	Runbook string `json:"runbook"`
}

// rule is one rule with how it is evaluated and worded.
type rule struct {
	info   RuleInfo
	title  string // what happened, for message titles
	noun   string // what one alert is about, plural
	event  bool   // about the newest release change: no repeats, no resolved message
	probe  bool   // about an AIK host's probe: resolves when the host is no longer watched
	eval   func(c *evalCtx) []condition
	repeat bool
}

// condition is one alert instance whose condition holds now.
type condition struct {
	rule     string
	key      string
	group    string   // the grouping label within the rule: a vendor, a release
	severity Severity // before fleet escalation
	fleet    bool
	vendor   string
	host     string
	subject  string
	summary  string
	evidence []string
	labels   map[string]string
	since    time.Time // zero: when first seen
	count    int
	firing   bool // the threshold is reached; otherwise pending
}

// evalCtx is what the rules see of one evaluation.
type evalCtx struct {
	st       *state.State
	now      time.Time
	cfg      *Config
	active   map[string]*alertRecord // pending or firing alerts, by key
	counters map[string]*hostCounter // by host, updated for this state
	release  map[string]*trustlist.AIKHost
	hosts    map[string]*state.HostState
}

func newEvalCtx(st *state.State, now time.Time, cfg *Config, active map[string]*alertRecord, counters map[string]*hostCounter) *evalCtx {
	c := &evalCtx{st: st, now: now, cfg: cfg, active: active, counters: counters,
		release: map[string]*trustlist.AIKHost{}, hosts: make(map[string]*state.HostState, len(st.Hosts))}
	if st.Release != nil {
		for i := range st.Release.AIKHosts {
			a := &st.Release.AIKHosts[i]
			c.release[a.Host] = a
		}
	}
	for i := range st.Hosts {
		c.hosts[st.Hosts[i].Host] = &st.Hosts[i]
	}
	return c
}

// newest returns the newest release change, nil if none.
func (c *evalCtx) newest() *state.ReleaseChange {
	if len(c.st.Changes) == 0 || c.st.Changes[0].Diff == nil {
		return nil
	}
	return &c.st.Changes[0]
}

// fleetHost reports whether host (of vendor) belongs to the fleet, by its state or the
// configuration.
func (c *evalCtx) fleetHost(host, vendor string) bool {
	if h, ok := c.hosts[host]; ok && h.Fleet {
		return true
	}
	return c.cfg.Fleet.HasHost(host, vendor)
}

// activeOf returns the rule's pending and firing alerts.
func (c *evalCtx) activeOf(name string) []*alertRecord {
	var out []*alertRecord
	for _, r := range c.active {
		if r.Rule == name {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// keep re-emits the rule's active alerts unchanged: for rules that cannot decide on this state.
func (c *evalCtx) keep(name string) []condition {
	var out []condition
	for _, r := range c.activeOf(name) {
		out = append(out, r.condition())
	}
	return out
}

// condition rebuilds the condition an alert was made from.
func (r *alertRecord) condition() condition {
	return condition{rule: r.Rule, key: r.Key, group: r.Natural, severity: r.Base, fleet: r.Fleet,
		vendor: r.Vendor, host: r.Host, subject: r.Subject, summary: r.Summary,
		evidence: r.Evidence, labels: r.Labels, since: r.Since, firing: r.State == StateFiring}
}

// allRules are the rules, in the order Rules lists them.
var allRules = []*rule{
	{info: RuleInfo{Name: RuleAIKCAWithdrawnFromTrustList, Severity: SeverityCritical,
		Description: "The newest trust-list release no longer has an AIK CA certificate for a host the previous release had: TPMs whose EK CA it served cannot attest. The hosts of one vendor withdrawn by one release make one message.",
		Resolves:    "when a later release has the host again"},
		title: "AIK CA withdrawn from the trust list", noun: "AIK hosts", repeat: true, eval: evalAIKCAWithdrawn},
	{info: RuleInfo{Name: RuleEKCARemovedFromTrustList, Severity: SeverityWarning,
		Description: "The newest release dropped an EK CA certificate (by fingerprint); the message says which AIK host it backed.",
		Resolves:    "silently, when a newer release arrives (an event about one release)"},
		title: "EK CA removed from the trust list", noun: "EK CAs", event: true, eval: evalEKCARemoved},
	{info: RuleInfo{Name: RuleTrustListChanged, Severity: SeverityInfo,
		Description: "A new release added or changed AIK hosts, EK CAs or other members; the message lists what was added. One message per release.",
		Resolves:    "silently, when a newer release arrives (an event about one release)"},
		title: "Trust list changed", noun: "releases", event: true, eval: evalTrustListChanged},
	{info: RuleInfo{Name: RuleAIKEndpointWithdrawn, Severity: SeverityCritical,
		Description: "The AIK CA service answers that the authority does not exist (HTTP 404) for a host, for N consecutive sweeps.",
		Resolves:    "at the first sweep the host answers otherwise, or when it is no longer watched"},
		title: "AIK CA service says withdrawn", noun: "AIK hosts", probe: true, repeat: true, eval: evalEndpoint(catWithdrawn, RuleAIKEndpointWithdrawn, SeverityCritical)},
	{info: RuleInfo{Name: RuleAIKEndpointDown, Severity: SeverityCritical,
		Description: "An AIK CA host times out, answers 5xx, fails TLS, refuses or drops the connection or does not resolve, for N consecutive sweeps.",
		Resolves:    "at the first sweep the host answers otherwise, or when it is no longer watched"},
		title: "AIK CA host down", noun: "AIK hosts", probe: true, repeat: true, eval: evalEndpoint(catDown, RuleAIKEndpointDown, SeverityCritical)},
	{info: RuleInfo{Name: RuleAIKEndpointSlow, Severity: SeverityWarning,
		Description: "An AIK CA host answers correctly but slower than the threshold (default 5 s), for N consecutive sweeps.",
		Resolves:    "at the first sweep it is fast again or fails, or when it is no longer watched"},
		title: "AIK CA host slow", noun: "AIK hosts", probe: true, repeat: true, eval: evalSlow},
	{info: RuleInfo{Name: RuleAIKEndpointThrottled, Severity: SeverityWarning,
		Description: "The AIK CA service throttles requests for a host (HTTP 429), for N consecutive sweeps.",
		Resolves:    "at the first sweep the host answers otherwise, or when it is no longer watched"},
		title: "AIK CA service throttling", noun: "AIK hosts", probe: true, repeat: true, eval: evalEndpoint(catThrottled, RuleAIKEndpointThrottled, SeverityWarning)},
	{info: RuleInfo{Name: RuleEKServiceDown, Severity: SeverityWarning,
		Description: "An fTPM EK certificate service (Intel, AMD, Qualcomm) failed N consecutive checks: firmware TPMs without an EK certificate cannot fetch one.",
		Resolves:    "at the first successful check"},
		title: "EK certificate service down", noun: "EK services", repeat: true, eval: evalEKServiceDown},
	{info: RuleInfo{Name: RuleEKCAExpiring, Severity: SeverityWarning,
		Description: "An EK CA that backs an AIK host expires within 30 days (critical within 7 days).",
		Resolves:    "when it no longer expires within the window (renewed, or dropped from the release), or once expired (EKCAExpired takes over)"},
		title: "EK CA expiring", noun: "EK CAs", repeat: true, eval: evalEKCAExpiring},
	{info: RuleInfo{Name: RuleEKCAExpired, Severity: SeverityWarning,
		Description: "An EK CA that backs an AIK host has expired. Does not repeat: shipped expired CAs are common, the AIK host's probe says whether it still works.",
		Resolves:    "when the release no longer ships it or no longer ties it to an AIK host"},
		title: "EK CA expired", noun: "EK CAs", eval: evalEKCAExpired},
	{info: RuleInfo{Name: RuleAIKCAExpiring, Severity: SeverityWarning,
		Description: "An AIK host will have no valid AIK CA certificate within 30 days (critical within 7 days or once expired): the later of the served certificate and the trust list's newest one expires.",
		Resolves:    "when a later certificate is served or shipped, or the host is no longer watched"},
		title: "AIK CA certificate expiring", noun: "AIK hosts", repeat: true, eval: evalAIKCAExpiring},
	{info: RuleInfo{Name: RuleTrustListSignatureInvalid, Severity: SeverityCritical,
		Description: "A downloaded trust-list release newer than the one in force was refused (bad signature, not a trust list); the previous release stays in force.",
		Resolves:    "when a release is committed after the refusal"},
		title: "Trust-list release refused", noun: "refusals", repeat: true, eval: evalSignatureInvalid},
	{info: RuleInfo{Name: RuleTrustListStale, Severity: SeverityWarning,
		Description: "No successful trust-list refresh for 24 hours: withdrawals would go unnoticed.",
		Resolves:    "at the next successful refresh"},
		title: "Trust list stale", noun: "trust lists", repeat: true, eval: evalStale},
	{info: RuleInfo{Name: RuleTrustListChangelogMismatch, Severity: SeverityInfo,
		Description: "The newest release's version.txt disagrees with the members it ships (removed but shipped, removed without a changelog line, added but absent).",
		Resolves:    "silently, when a newer release arrives (an event about one release)"},
		title: "Trust-list changelog mismatch", noun: "releases", event: true, eval: evalChangelogMismatch},
	{info: RuleInfo{Name: RuleCanaryFailing, Severity: SeverityWarning,
		Description: "A Windows canary's last report has a failing check (TPM not ready, no EK certificate, clock skew, enrollment failed). Critical when the real AIK enrollment fails for a service-side cause (404 not found, 400, attestation refused, timeout).",
		Resolves:    "at the canary's first report with no failing check, when it goes stale (CanaryStale takes over) or is forgotten"},
		title: "Windows canary failing", noun: "canaries", repeat: true, eval: evalCanaryFailing},
	{info: RuleInfo{Name: RuleCanaryStale, Severity: SeverityWarning,
		Description: "A Windows canary has not reported for three of its intervals (25 h for one that runs once): its enrollments no longer vouch for the service.",
		Resolves:    "at its next report, or when it is forgotten (DELETE /api/v1/canaries/{name})"},
		title: "Windows canary silent", noun: "canaries", repeat: true, eval: evalCanaryStale},
}

var rulesByName = func() map[string]*rule {
	m := make(map[string]*rule, len(allRules))
	for _, r := range allRules {
		r.info.Repeats = r.repeat
		r.info.ResolvedMessage = !r.event
		r.info.Runbook = strings.ToLower(r.info.Name)
		m[r.info.Name] = r
	}
	return m
}()

// Rules lists every rule with its severity and meaning, for the README and the API.
func Rules() []RuleInfo {
	out := make([]RuleInfo, len(allRules))
	for i, r := range allRules {
		out[i] = r.info
	}
	return out
}

// RuleName returns the canonical name of a rule given in any letter case, and whether it
// exists.
func RuleName(name string) (string, bool) {
	for _, r := range allRules {
		if strings.EqualFold(r.info.Name, strings.TrimSpace(name)) {
			return r.info.Name, true
		}
	}
	return "", false
}

// escalate raises a severity one step (fleet escalation).
func escalate(s Severity) Severity {
	switch s {
	case SeverityInfo:
		return SeverityWarning
	default:
		return SeverityCritical
	}
}

// rank orders severities; "" (not announced) is below info.
func (s Severity) rank() int {
	switch s {
	case SeverityInfo:
		return 1
	case SeverityWarning:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}

// hostVendor returns the vendor code of an AIK host name, "" if it is not one.
func hostVendor(host string) string {
	n, err := trustlist.ParseAIKHost(host)
	if err != nil {
		return ""
	}
	return n.Vendor
}

// releaseName names a release for people: its date and the start of its digest.
func releaseName(r trustlist.ReleaseRef) string {
	sha := r.SHA256
	if len(sha) > 12 {
		sha = sha[:12]
	}
	if r.VersionDate == "" {
		return "sha256 " + sha
	}
	return r.VersionDate + " (sha256 " + sha + ")"
}

// listEvidence formats up to limit items, then how many more there are.
func listEvidence(prefix string, items []string, limit int) []string {
	var out []string
	for i, it := range items {
		if i == limit {
			out = append(out, fmt.Sprintf("… and %d more", len(items)-limit))
			break
		}
		out = append(out, prefix+it)
	}
	return out
}

func sortConditions(cs []condition) []condition {
	sort.Slice(cs, func(i, j int) bool { return cs[i].key < cs[j].key })
	return slices.CompactFunc(cs, func(a, b condition) bool { return a.key == b.key })
}
