package alerts

import (
	"fmt"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/trustlist"
)

// evalAIKCAWithdrawn: one alert per host the newest change withdrew, kept while the release in
// force still lacks the host.
func evalAIKCAWithdrawn(c *evalCtx) []condition {
	const name = RuleAIKCAWithdrawnFromTrustList
	if c.st.Release == nil {
		return c.keep(name)
	}
	var out []condition
	seen := map[string]bool{}
	if ch := c.newest(); ch != nil {
		for _, host := range ch.Diff.AIKHostsWithdrawn {
			if _, back := c.release[host]; back || seen[host] {
				continue
			}
			seen[host] = true
			vendor := hostVendor(host)
			ev := []string{fmt.Sprintf("release %s, committed %s, replaced %s and has no AIK CA certificate for this host",
				releaseName(ch.Diff.To), ch.At.UTC().Format(time.RFC3339), releaseName(ch.Diff.From))}
			if h, ok := c.hosts[host]; ok && h.Status != "" {
				ev = append(ev, "last probe: "+string(h.Status))
			}
			out = append(out, condition{rule: name, key: name + "/" + host, group: vendor, severity: SeverityCritical,
				fleet: c.fleetHost(host, vendor), vendor: vendor, host: host, subject: host,
				summary:  "the trust list no longer has an AIK CA for this host: TPMs whose EK CA it served cannot attest",
				evidence: ev, labels: map[string]string{"release": ch.Diff.To.SHA256}, since: ch.At, firing: true})
		}
	}
	for _, r := range c.activeOf(name) {
		if _, back := c.release[r.Host]; back || seen[r.Host] {
			continue
		}
		out = append(out, r.condition())
	}
	return out
}

// evalEKCARemoved: one alert per EK CA the newest change removed.
func evalEKCARemoved(c *evalCtx) []condition {
	const name = RuleEKCARemovedFromTrustList
	ch := c.newest()
	if ch == nil {
		return nil
	}
	var out []condition
	for _, e := range ch.Diff.EKCAsRemoved {
		vendor := hostVendor(e.AIKHost)
		fleet := vendor != "" && c.fleetHost(e.AIKHost, vendor)
		summary := fmt.Sprintf("EK CA %q is no longer in the trust list", e.Subject)
		if e.AIKHost != "" {
			summary += "; it backed AIK host " + e.AIKHost
		}
		ev := []string{"removed by release " + releaseName(ch.Diff.To), "path " + e.Path}
		if e.SKI != "" {
			ev = append(ev, "SKI "+e.SKI)
		}
		if !e.NotAfter.IsZero() {
			ev = append(ev, "notAfter "+e.NotAfter.UTC().Format(time.DateOnly))
		}
		out = append(out, condition{rule: name, key: name + "/" + ch.Diff.To.SHA256 + "/" + e.Path, group: ch.Diff.To.SHA256,
			severity: SeverityWarning, fleet: fleet, vendor: vendor, host: e.AIKHost, subject: e.Subject,
			summary: summary, evidence: ev, labels: map[string]string{"release": ch.Diff.To.SHA256, "path": e.Path},
			since: ch.At, firing: true})
	}
	return out
}

// evalTrustListChanged: one alert per release change that added or changed something.
func evalTrustListChanged(c *evalCtx) []condition {
	const name = RuleTrustListChanged
	ch := c.newest()
	if ch == nil {
		return nil
	}
	d := ch.Diff
	if len(d.Added)+len(d.Changed)+len(d.AIKHostsAdded)+len(d.EKCAsAdded) == 0 {
		return nil
	}
	fleet := false
	for _, h := range d.AIKHostsAdded {
		fleet = fleet || c.fleetHost(h, hostVendor(h))
	}
	var ekcas []string
	for _, e := range d.EKCAsAdded {
		if e.AIKHost != "" {
			fleet = fleet || c.fleetHost(e.AIKHost, hostVendor(e.AIKHost))
		}
		ekcas = append(ekcas, fmt.Sprintf("%s (%s)", e.Subject, e.Path))
	}
	summary := fmt.Sprintf("release %s replaced %s: %d AIK hosts and %d EK CAs added; %d members added, %d changed, %d removed",
		releaseName(d.To), releaseName(d.From), len(d.AIKHostsAdded), len(d.EKCAsAdded), len(d.Added), len(d.Changed), len(d.Removed))
	var ev []string
	ev = append(ev, listEvidence("AIK host added: ", d.AIKHostsAdded, 15)...)
	ev = append(ev, listEvidence("EK CA added: ", ekcas, 15)...)
	if len(d.AIKHostsAdded) == 0 && len(d.EKCAsAdded) == 0 {
		var paths []string
		for _, m := range d.Added {
			paths = append(paths, m.Path)
		}
		for _, m := range d.Changed {
			paths = append(paths, m.Path+" (changed)")
		}
		ev = append(ev, listEvidence("member: ", paths, 15)...)
	}
	for i, e := range d.Changelog {
		if i == 3 {
			break
		}
		var secs []string
		for _, s := range e.Sections {
			secs = append(secs, fmt.Sprintf("%s (%d)", strings.TrimSpace(s.Header), len(s.Items)))
		}
		ev = append(ev, fmt.Sprintf("changelog %s: %s", trustlist.DateString(e.Date), strings.Join(secs, "; ")))
	}
	return []condition{{rule: name, key: name + "/" + d.To.SHA256, group: d.To.SHA256, severity: SeverityInfo, fleet: fleet,
		subject: "trust list " + releaseName(d.To), summary: summary, evidence: ev,
		labels: map[string]string{"release": d.To.SHA256, "from": d.From.SHA256}, since: ch.At, firing: true}}
}

// evalChangelogMismatch: one alert per release change whose changelog disagrees with it.
func evalChangelogMismatch(c *evalCtx) []condition {
	const name = RuleTrustListChangelogMismatch
	ch := c.newest()
	if ch == nil || len(ch.Diff.ChangelogMismatches) == 0 {
		return nil
	}
	d := ch.Diff
	var items []string
	for _, m := range d.ChangelogMismatches {
		s := m.Kind + ": "
		switch {
		case m.Item != "" && m.Path != "":
			s += m.Item + " → " + m.Path
		case m.Item != "":
			s += m.Item
		default:
			s += m.Path
		}
		if m.Date != "" {
			s += " (" + m.Date + ")"
		}
		items = append(items, s)
	}
	return []condition{{rule: name, key: name + "/" + d.To.SHA256, group: d.To.SHA256, severity: SeverityInfo,
		subject:  "trust list " + releaseName(d.To),
		summary:  fmt.Sprintf("version.txt of release %s disagrees with the members it ships in %d places", releaseName(d.To), len(d.ChangelogMismatches)),
		evidence: listEvidence("", items, 20), labels: map[string]string{"release": d.To.SHA256}, since: ch.At, firing: true}}
}

// evalSignatureInvalid: a refused release newer than the one in force.
func evalSignatureInvalid(c *evalCtx) []condition {
	const name = RuleTrustListSignatureInvalid
	r := c.st.Refresh.Refused
	if r == nil || !r.At.After(c.st.ReleaseSince) {
		return nil
	}
	ev := []string{"refused at " + r.At.UTC().Format(time.RFC3339)}
	if r.SHA256 != "" {
		ev = append(ev, "sha256 "+r.SHA256)
	}
	if c.st.Release != nil {
		ev = append(ev, "in force: release "+releaseName(c.st.Release.Ref()))
	}
	if c.st.Refresh.Source != "" {
		ev = append(ev, "source "+c.st.Refresh.Source)
	}
	return []condition{{rule: name, key: name, group: "trustlist", severity: SeverityCritical, subject: "trust list",
		summary:  "a downloaded trust-list release was refused: " + r.Reason + "; the previous release stays in force",
		evidence: ev, labels: map[string]string{"sha256": r.SHA256}, since: r.At, firing: true}}
}

// evalStale: no successful refresh for StaleAfter.
func evalStale(c *evalCtx) []condition {
	const name = RuleTrustListStale
	ok := c.st.Refresh.LastSuccess
	if ok.IsZero() || c.now.Sub(ok) <= c.cfg.StaleAfter {
		return nil
	}
	ev := []string{"last successful refresh " + ok.UTC().Format(time.RFC3339)}
	if c.st.Refresh.Error != "" {
		ev = append(ev, fmt.Sprintf("last error (%d consecutive failures): %s", c.st.Refresh.Failures, c.st.Refresh.Error))
	}
	return []condition{{rule: name, key: name, group: "trustlist", severity: SeverityWarning, subject: "trust list",
		summary:  fmt.Sprintf("no successful trust-list refresh for %s: withdrawals would go unnoticed", c.now.Sub(ok).Round(time.Minute)),
		evidence: ev, since: ok, firing: true}}
}
