package alerts

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/probes"
)

// Probe categories counted per host.
const (
	catOK        = "ok"
	catWithdrawn = "withdrawn"
	catDown      = "down"
	catThrottled = "throttled"
	catOther     = "other"
)

// category sorts a probe result into what the endpoint rules count; "" for a result that
// says nothing about the host (cancelled).
func category(r *probes.Result) string {
	switch r.Status {
	case probes.StatusOK:
		return catOK
	case probes.StatusWithdrawn:
		return catWithdrawn
	case probes.StatusThrottled:
		return catThrottled
	case probes.StatusTimeout, probes.StatusTLSError, probes.StatusConnectError, probes.StatusDNSError:
		return catDown
	case probes.StatusHTTPError:
		if r.HTTPStatus >= 500 {
			return catDown
		}
		return catOther
	case probes.StatusCancelled, "":
		return ""
	}
	return catOther
}

// hostCounter counts one host's consecutive sweeps in a category, and its consecutive slow
// sweeps. Kept in alert_counters so that a restart does not start counting again.
type hostCounter struct {
	Sweep     time.Time `json:"sweep"`    // the probe start of the last sweep counted
	Category  string    `json:"category"` // of that sweep
	Count     int       `json:"count"`    // consecutive sweeps in Category
	Since     time.Time `json:"since"`    // when Category began
	Slow      int       `json:"slow"`     // consecutive ok sweeps slower than the threshold
	SlowSince time.Time `json:"slow_since,omitzero"`
}

// countSweep folds the host's last probe into its counter; it returns the counter and whether
// it changed. A sweep is recognised by its probe's start time (the sweep's, when the probe has
// none); a host seen for the first time starts from the daemon's consecutive failure count.
func countSweep(prev *hostCounter, h *state.HostState, st *state.State, slow time.Duration, now time.Time) (*hostCounter, bool) {
	if h.Last == nil {
		return prev, false
	}
	cat := category(h.Last)
	if cat == "" {
		return prev, false
	}
	id := h.Last.StartedAt
	if id.IsZero() {
		id = st.LastSweep.Started
	}
	if prev != nil && !id.IsZero() && prev.Sweep.Equal(id) && prev.Category == cat {
		return prev, false
	}
	since := h.Since
	if since.IsZero() {
		since = now
	}
	var n hostCounter
	switch {
	case prev == nil:
		n = hostCounter{Category: cat, Count: 1, Since: since}
		if cat != catOK {
			n.Count = max(1, h.Failures)
		}
	case prev.Category == cat:
		n = *prev
		n.Count++
	default:
		n = hostCounter{Category: cat, Count: 1, Since: since, Slow: prev.Slow, SlowSince: prev.SlowSince}
	}
	n.Sweep = id
	if cat == catOK && h.Last.DurationSeconds > slow.Seconds() {
		if n.Slow == 0 {
			n.SlowSince = h.Last.StartedAt
			if n.SlowSince.IsZero() {
				n.SlowSince = now
			}
		}
		n.Slow++
	} else {
		n.Slow, n.SlowSince = 0, time.Time{}
	}
	return &n, true
}

// probeEvidence describes a probe result in a line or two.
func probeEvidence(r *probes.Result) []string {
	if r == nil {
		return nil
	}
	var ev []string
	line := string(r.Status)
	if r.HTTPStatus != 0 {
		line += " HTTP " + strconv.Itoa(r.HTTPStatus)
	}
	switch {
	case r.Message != "":
		line += ": " + r.Message
	case r.Error != "":
		line += ": " + r.Error
	}
	ev = append(ev, line)
	if r.RetryAfterSeconds != nil {
		ev = append(ev, fmt.Sprintf("Retry-After %d s", *r.RetryAfterSeconds))
	}
	if !r.StartedAt.IsZero() {
		ev = append(ev, fmt.Sprintf("probed %s in %.1f s", r.StartedAt.UTC().Format(time.RFC3339), r.DurationSeconds))
	}
	return ev
}

func hostLabels(h *state.HostState) map[string]string {
	l := map[string]string{"status": string(h.Status)}
	if h.Last != nil && h.Last.HTTPStatus != 0 {
		l["http_status"] = strconv.Itoa(h.Last.HTTPStatus)
	}
	return l
}

// evalEndpoint makes the rule for hosts whose last sweeps fell in category cat.
func evalEndpoint(cat, name string, sev Severity) func(c *evalCtx) []condition {
	return func(c *evalCtx) []condition {
		var out []condition
		for i := range c.st.Hosts {
			h := &c.st.Hosts[i]
			cnt := c.counters[h.Host]
			if cnt == nil || cnt.Category != cat || h.Last == nil {
				continue
			}
			var summary string
			switch cat {
			case catWithdrawn:
				summary = "the AIK CA service answers that this authority does not exist: TPM attestation fails for devices whose EK certificate this CA issued"
			case catThrottled:
				summary = "the AIK CA service throttles requests for this host (HTTP 429): enrollments may time out"
			default:
				summary = fmt.Sprintf("the AIK CA host is failing (%s): devices retry and may time out (0x800705B4)", h.Status)
				if h.Status == probes.StatusHTTPError {
					summary = fmt.Sprintf("the AIK CA host answers HTTP %d: devices retry and may time out (0x800705B4)", h.Last.HTTPStatus)
				}
			}
			summary += " (" + sweeps(cnt.Count) + ")"
			out = append(out, condition{rule: name, key: name + "/" + h.Host, group: h.Vendor, severity: sev,
				fleet: c.fleetHost(h.Host, h.Vendor), vendor: h.Vendor, host: h.Host, subject: h.Host,
				summary: summary, evidence: probeEvidence(h.Last), labels: hostLabels(h), since: cnt.Since,
				count: cnt.Count, firing: cnt.Count >= c.cfg.ConsecutiveSweeps})
		}
		return out
	}
}

// evalSlow: hosts answering correctly but slowly for N sweeps.
func evalSlow(c *evalCtx) []condition {
	const name = RuleAIKEndpointSlow
	var out []condition
	for i := range c.st.Hosts {
		h := &c.st.Hosts[i]
		cnt := c.counters[h.Host]
		if cnt == nil || cnt.Slow == 0 || h.Last == nil {
			continue
		}
		out = append(out, condition{rule: name, key: name + "/" + h.Host, group: h.Vendor, severity: SeverityWarning,
			fleet: c.fleetHost(h.Host, h.Vendor), vendor: h.Vendor, host: h.Host, subject: h.Host,
			summary: fmt.Sprintf("the AIK CA host answered in %.1f s (threshold %s) for %s: enrollments may time out",
				h.Last.DurationSeconds, c.cfg.SlowThreshold, sweeps(cnt.Slow)),
			evidence: probeEvidence(h.Last), labels: hostLabels(h), since: cnt.SlowSince,
			count: cnt.Slow, firing: cnt.Slow >= c.cfg.ConsecutiveSweeps})
	}
	return out
}

// evalAIKCAExpiring: hosts whose latest AIK CA certificate expires within the window.
func evalAIKCAExpiring(c *evalCtx) []condition {
	const name = RuleAIKCAExpiring
	var out []condition
	for i := range c.st.Hosts {
		h := &c.st.Hosts[i]
		var latest time.Time
		var ev []string
		if h.Last != nil && h.Last.AIKCA != nil && !h.Last.AIKCA.NotAfter.IsZero() {
			latest = h.Last.AIKCA.NotAfter
			ev = append(ev, fmt.Sprintf("served AIK CA %q expires %s", h.Last.AIKCA.Subject, latest.UTC().Format(time.DateOnly)))
		}
		if a, ok := c.release[h.Host]; ok && !a.LatestNotAfter.IsZero() {
			ev = append(ev, "the trust list's newest AIK CA certificate for the host expires "+a.LatestNotAfter.UTC().Format(time.DateOnly))
			if a.LatestNotAfter.After(latest) {
				latest = a.LatestNotAfter
			}
		}
		if latest.IsZero() {
			continue
		}
		left := latest.Sub(c.now)
		if left > c.cfg.ExpiryWarn {
			continue
		}
		sev := SeverityWarning
		if left <= c.cfg.ExpiryCrit {
			sev = SeverityCritical
		}
		summary := fmt.Sprintf("the host will have no valid AIK CA certificate after %s (%d days)", latest.UTC().Format(time.DateOnly), int(left.Hours()/24))
		if left <= 0 {
			summary = "the host has no valid AIK CA certificate since " + latest.UTC().Format(time.DateOnly)
		}
		out = append(out, condition{rule: name, key: name + "/" + h.Host, group: h.Vendor, severity: sev,
			fleet: c.fleetHost(h.Host, h.Vendor), vendor: h.Vendor, host: h.Host, subject: h.Host,
			summary: summary, evidence: ev, labels: map[string]string{"not_after": latest.UTC().Format(time.RFC3339)},
			firing: true})
	}
	return out
}

// sweeps says "1 sweep", "3 consecutive sweeps".
func sweeps(n int) string {
	if n == 1 {
		return "1 sweep"
	}
	return strconv.Itoa(n) + " consecutive sweeps"
}
