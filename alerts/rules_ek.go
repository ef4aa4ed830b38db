package alerts

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/probes"
)

// evalEKServiceDown: EK services failing N checks in a row.
func evalEKServiceDown(c *evalCtx) []condition {
	const name = RuleEKServiceDown
	var out []condition
	for _, e := range c.st.EKServices {
		if e.OK || e.Last == nil {
			continue
		}
		vendor := probes.EKServiceVendor(e.Name)
		ev := []string{e.URL}
		line := string(e.Last.Status)
		if e.Last.HTTPStatus != 0 {
			line += " HTTP " + strconv.Itoa(e.Last.HTTPStatus)
		}
		if e.Last.Error != "" {
			line += ": " + e.Last.Error
		}
		ev = append(ev, line)
		out = append(out, condition{rule: name, key: name + "/" + strings.ToLower(e.Name), group: vendor, severity: SeverityWarning,
			fleet: c.cfg.Fleet.HasVendor(vendor), vendor: vendor, subject: e.Name + " EK certificate service",
			summary: fmt.Sprintf("the %s fTPM EK certificate service is failing (%s, %s): firmware TPMs without an EK certificate cannot fetch one",
				e.Name, e.Last.Status, strings.Replace(sweeps(e.Failures), "sweep", "check", 1)),
			evidence: ev, labels: map[string]string{"service": e.Name, "status": string(e.Last.Status)},
			since: e.Since, count: e.Failures, firing: e.Failures >= c.cfg.ConsecutiveSweeps})
	}
	return out
}

// ekcaCondition is the part of an EK CA alert both EK CA rules share.
func (c *evalCtx) ekcaCondition(name string, ca probes.EKCAStatus) condition {
	vendor := ""
	if h, ok := c.hosts[ca.AIKHost]; ok {
		vendor = h.Vendor
	}
	if vendor == "" {
		vendor = hostVendor(ca.AIKHost)
	}
	return condition{rule: name, key: name + "/" + ca.Path, group: vendor, fleet: c.fleetHost(ca.AIKHost, vendor),
		vendor: vendor, host: ca.AIKHost, subject: ca.Subject,
		evidence: []string{"path " + ca.Path, "backs AIK host " + ca.AIKHost, "notAfter " + ca.NotAfter.UTC().Format(time.RFC3339)},
		labels:   map[string]string{"path": ca.Path, "not_after": ca.NotAfter.UTC().Format(time.RFC3339)}, firing: true}
}

// evalEKCAExpiring: EK CAs backing an AIK host that expire within the window.
func evalEKCAExpiring(c *evalCtx) []condition {
	var out []condition
	for _, ca := range c.st.EKCAs {
		if ca.AIKHost == "" || ca.NotAfter.IsZero() || ca.Expired || !ca.NotAfter.After(c.now) {
			continue
		}
		left := ca.NotAfter.Sub(c.now)
		if left > c.cfg.ExpiryWarn {
			continue
		}
		cond := c.ekcaCondition(RuleEKCAExpiring, ca)
		cond.severity = SeverityWarning
		if left <= c.cfg.ExpiryCrit {
			cond.severity = SeverityCritical
		}
		cond.summary = fmt.Sprintf("EK CA %q expires on %s (%d days): devices whose EK certificate chains to it may fail attestation unless a renewed intermediate ships",
			ca.Subject, ca.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
		out = append(out, cond)
	}
	return out
}

// evalEKCAExpired: EK CAs backing an AIK host that have expired.
func evalEKCAExpired(c *evalCtx) []condition {
	var out []condition
	for _, ca := range c.st.EKCAs {
		if ca.AIKHost == "" || ca.NotAfter.IsZero() || !(ca.Expired || !ca.NotAfter.After(c.now)) {
			continue
		}
		cond := c.ekcaCondition(RuleEKCAExpired, ca)
		cond.severity = SeverityWarning
		cond.summary = fmt.Sprintf("EK CA %q expired on %s; it still backs AIK host %s (whose probe says whether attestation still works)",
			ca.Subject, ca.NotAfter.UTC().Format(time.DateOnly), ca.AIKHost)
		out = append(out, cond)
	}
	return out
}
