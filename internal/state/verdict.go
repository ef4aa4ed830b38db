package state

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// Verdict answers "can we deploy today?".
type Verdict string

// Verdicts, from best to worst. Unknown means the question cannot be answered (no trust list
// yet, nothing probed).
const (
	Go       Verdict = "go"
	Degraded Verdict = "degraded"
	NoGo     Verdict = "no-go"
	Unknown  Verdict = "unknown"
)

func (v Verdict) rank() int {
	switch v {
	case Go:
		return 0
	case Degraded:
		return 1
	case Unknown:
		return 2
	case NoGo:
		return 3
	}
	return 2
}

// Worse returns the worse of v and w.
func (v Verdict) Worse(w Verdict) Verdict {
	if w.rank() > v.rank() {
		return w
	}
	return v
}

// Fleet names the AIK hosts and TPM vendors that matter to the organisation. Hosts derived from
// the fleet's own EK certificates belong in Hosts.
type Fleet struct {
	Hosts   []string `json:"hosts,omitempty" yaml:"hosts"`     // AIK hosts, any case, with or without the service suffix
	Vendors []string `json:"vendors,omitempty" yaml:"vendors"` // vendor codes as in host names: IFX, INTC, AMD, NTC, STM, ...
}

// Empty reports whether the fleet names nothing.
func (f Fleet) Empty() bool { return len(f.Hosts) == 0 && len(f.Vendors) == 0 }

// HasHost reports whether host is in the fleet, by name or by vendor.
func (f Fleet) HasHost(host, vendor string) bool {
	return slices.Contains(f.normalHosts(), NormalizeHost(host)) || f.HasVendor(vendor)
}

// HasVendor reports whether the fleet names vendor (case-insensitive).
func (f Fleet) HasVendor(vendor string) bool {
	for _, v := range f.Vendors {
		if strings.EqualFold(v, vendor) {
			return true
		}
	}
	return false
}

func (f Fleet) normalHosts() []string {
	out := make([]string, len(f.Hosts))
	for i, h := range f.Hosts {
		out[i] = NormalizeHost(h)
	}
	return out
}

// NormalizeHost lower-cases an AIK host name and adds the service suffix when it is missing.
func NormalizeHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	if h != "" && !strings.Contains(h, ".") {
		h += trustlist.AIKHostSuffix
	}
	return h
}

// Reason is one thing that makes the verdict what it is, in words a person can act on.
type Reason struct {
	Verdict  Verdict   `json:"verdict"` // what this reason alone implies
	Fleet    bool      `json:"fleet"`   // concerns the organisation's own hosts or vendors
	Vendor   string    `json:"vendor,omitempty"`
	Host     string    `json:"host,omitempty"`
	Message  string    `json:"message"`            // what is wrong
	Action   string    `json:"action,omitempty"`   // what to do
	Evidence string    `json:"evidence,omitempty"` // HTTP status and body, release and date, ...
	Since    time.Time `json:"since,omitzero"`
}

// VendorVerdict is the verdict for one TPM vendor's AIK hosts.
type VendorVerdict struct {
	Name    string  `json:"vendor"`
	Verdict Verdict `json:"verdict"`
	Fleet   bool    `json:"fleet"`
	Hosts   int     `json:"hosts"`
	Failing int     `json:"failing"`
	Unknown int     `json:"unprobed"`
}

// Assessment is the deployment-day answer with its reasons.
type Assessment struct {
	Verdict       Verdict         `json:"verdict"`
	Summary       string          `json:"summary"`
	At            time.Time       `json:"at"`
	ReleaseSHA256 string          `json:"release_sha256,omitempty"`
	ReleaseDate   string          `json:"release_date,omitempty"`
	FleetKnown    bool            `json:"fleet_configured"`
	Reasons       []Reason        `json:"reasons"`
	Vendors       []VendorVerdict `json:"vendors"`
	HostsProbed   int             `json:"hosts_probed"`
	HostsFailing  int             `json:"hosts_failing"`
	LastSweep     time.Time       `json:"last_sweep,omitzero"`
	LastRefreshAt time.Time       `json:"last_refresh,omitzero"`
	ScopeHosts    []string        `json:"scope_hosts,omitempty"`
	ScopeVendors  []string        `json:"scope_vendors,omitempty"`
}

// AssessOptions tune [Assess].
type AssessOptions struct {
	Fleet        Fleet
	Now          time.Time     // zero: time.Now()
	StaleAfter   time.Duration // no successful refresh for this long degrades; 0: 24 h
	ExpiryWindow time.Duration // EK CAs expiring within it degrade; 0: 30 days
	// Vendors and Hosts narrow the question to these (as `aikwatch check --vendor/--host`);
	// what they name counts as fleet for this assessment.
	Vendors []string
	Hosts   []string
}

// Assess answers "can we deploy today?" from st.
//
// A failing AIK host of the fleet (or of a vendor whose every host fails) is no-go for its
// vendor and overall; a failing host outside the fleet degrades. No release yet, or nothing
// probed, is unknown. A stale or refused trust list, a failing EK service and an expiring EK CA
// that backs an AIK host degrade. A Windows canary whose real AIK enrollment fails for a
// service-side cause is no-go; its other failures, or a canary gone silent, degrade.
func Assess(st *State, o AssessOptions) Assessment {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 24 * time.Hour
	}
	if o.ExpiryWindow <= 0 {
		o.ExpiryWindow = 30 * 24 * time.Hour
	}
	fleet := o.Fleet
	scoped := len(o.Vendors) > 0 || len(o.Hosts) > 0
	if scoped {
		fleet = Fleet{Hosts: o.Hosts, Vendors: o.Vendors}
	}
	a := Assessment{At: now.UTC(), FleetKnown: !fleet.Empty(), Reasons: []Reason{}, Vendors: []VendorVerdict{},
		LastSweep: st.LastSweep.Finished, LastRefreshAt: st.Refresh.LastAttempt, ScopeHosts: o.Hosts, ScopeVendors: o.Vendors}
	verdict := Go
	add := func(r Reason) {
		a.Reasons = append(a.Reasons, r)
	}

	if st.Release == nil {
		add(Reason{Verdict: Unknown, Message: "no trust list has been read yet",
			Action: "check that the daemon can download TrustedTpm.cab (see the refresh error)", Evidence: st.Refresh.Error})
		verdict = Unknown
	} else {
		a.ReleaseSHA256, a.ReleaseDate = st.Release.SHA256, trustlist.DateString(st.Release.VersionDate)
		if !st.Refresh.LastSuccess.IsZero() && now.Sub(st.Refresh.LastSuccess) > o.StaleAfter {
			add(Reason{Verdict: Degraded, Since: st.Refresh.LastSuccess,
				Message:  fmt.Sprintf("the trust list has not been refreshed for %s", now.Sub(st.Refresh.LastSuccess).Round(time.Minute)),
				Action:   "check the daemon's network access to go.microsoft.com and download.microsoft.com",
				Evidence: st.Refresh.Error})
			verdict = verdict.Worse(Degraded)
		}
		if r := st.Refresh.Refused; r != nil && r.At.After(st.ReleaseSince) {
			add(Reason{Verdict: Degraded, Since: r.At, Message: "a new trust-list release was refused: " + r.Reason,
				Action: "the previous release stays in force; compare the download with Microsoft's published one", Evidence: r.SHA256})
			verdict = verdict.Worse(Degraded)
		}
	}

	// AIK hosts, grouped by vendor.
	type vendorAcc struct {
		v       VendorVerdict
		fleet   bool
		failing []HostState
	}
	vendors := map[string]*vendorAcc{}
	for _, h := range st.Hosts {
		if scoped && !fleet.HasHost(h.Host, h.Vendor) {
			continue
		}
		inFleet := fleet.HasHost(h.Host, h.Vendor)
		acc := vendors[h.Vendor]
		if acc == nil {
			acc = &vendorAcc{v: VendorVerdict{Name: h.Vendor, Verdict: Go}}
			vendors[h.Vendor] = acc
		}
		acc.v.Hosts++
		acc.fleet = acc.fleet || inFleet || fleet.HasVendor(h.Vendor)
		switch {
		case h.Status == "" || h.Status == probes.StatusCancelled:
			acc.v.Unknown++
			continue
		case !h.Failing() && h.InTrustList:
			a.HostsProbed++
			continue
		}
		a.HostsProbed++
		if h.Failing() {
			a.HostsFailing++
			acc.v.Failing++
		}
		acc.failing = append(acc.failing, h)
		sev := Degraded
		if inFleet {
			sev = NoGo
		}
		add(hostReason(h, sev, inFleet, st.Release != nil))
	}
	for _, acc := range vendors {
		v := acc.v
		v.Fleet = acc.fleet
		switch {
		case v.Unknown == v.Hosts:
			v.Verdict = Unknown
		case len(acc.failing) == 0:
			v.Verdict = Go
		case v.Failing > 0 && v.Failing == v.Hosts-v.Unknown:
			v.Verdict = NoGo // every probed host of the vendor fails: an outage, whatever the fleet
		default:
			v.Verdict = Degraded
			for _, h := range acc.failing {
				if fleet.HasHost(h.Host, h.Vendor) {
					v.Verdict = NoGo
				}
			}
		}
		a.Vendors = append(a.Vendors, v)
		switch {
		case v.Verdict == NoGo && (v.Fleet || !a.FleetKnown):
			verdict = verdict.Worse(NoGo)
		case v.Verdict == NoGo || v.Verdict == Degraded:
			verdict = verdict.Worse(Degraded)
		}
	}
	if st.Release != nil && a.HostsProbed == 0 {
		add(Reason{Verdict: Unknown, Message: "no AIK host has been probed yet", Action: "wait for the first sweep"})
		verdict = verdict.Worse(Unknown)
	}

	for _, e := range st.EKServices {
		if e.OK || e.Last == nil {
			continue
		}
		vendor := probes.EKServiceVendor(e.Name)
		if scoped && !fleet.HasVendor(vendor) {
			continue
		}
		ev := e.URL
		if e.Last.HTTPStatus != 0 {
			ev += fmt.Sprintf(" HTTP %d", e.Last.HTTPStatus)
		}
		if e.Last.Error != "" {
			ev += " " + e.Last.Error
		}
		add(Reason{Verdict: Degraded, Vendor: vendor, Fleet: fleet.HasVendor(vendor), Since: e.Since,
			Message:  fmt.Sprintf("the %s fTPM EK certificate service is failing (%s)", probes.EKServiceTitle(e.Name), e.Last.Status),
			Action:   "devices with a firmware TPM that have no EK certificate yet cannot fetch one; devices that already have one are not affected",
			Evidence: ev})
		verdict = verdict.Worse(Degraded)
	}
	for _, c := range st.EKCAs {
		if c.AIKHost == "" || !(c.Expired || c.NotAfter.Before(now.Add(o.ExpiryWindow))) {
			continue
		}
		h, _ := st.Host(c.AIKHost)
		if scoped && !fleet.HasHost(c.AIKHost, h.Vendor) {
			continue
		}
		if c.Expired {
			continue // shipped expired CAs are common; the AIK host's own probe says whether it still works
		}
		add(Reason{Verdict: Degraded, Vendor: h.Vendor, Host: c.AIKHost, Fleet: fleet.HasHost(c.AIKHost, h.Vendor),
			Message:  fmt.Sprintf("EK CA %q expires on %s (%d days)", c.Subject, c.NotAfter.Format(time.DateOnly), c.DaysLeft),
			Action:   "devices whose EK certificate chains to it may fail attestation once it expires unless the vendor and Microsoft ship a renewed intermediate",
			Evidence: c.Path})
		verdict = verdict.Worse(Degraded)
	}

	for _, r := range canaryReasons(st, now, scoped, fleet) {
		add(r)
		verdict = verdict.Worse(r.Verdict)
		for i := range a.Vendors { // a canary's vendor is the fleet's, and shares its verdict
			if r.Vendor != "" && strings.EqualFold(a.Vendors[i].Name, r.Vendor) {
				a.Vendors[i].Fleet = true
				a.Vendors[i].Verdict = a.Vendors[i].Verdict.Worse(r.Verdict)
			}
		}
	}

	sort.SliceStable(a.Reasons, func(i, j int) bool {
		ri, rj := a.Reasons[i], a.Reasons[j]
		if ri.Verdict.rank() != rj.Verdict.rank() {
			return ri.Verdict.rank() > rj.Verdict.rank()
		}
		if ri.Fleet != rj.Fleet {
			return ri.Fleet
		}
		return ri.Host < rj.Host
	})
	sort.Slice(a.Vendors, func(i, j int) bool {
		vi, vj := a.Vendors[i], a.Vendors[j]
		if vi.Fleet != vj.Fleet {
			return vi.Fleet
		}
		if vi.Verdict.rank() != vj.Verdict.rank() {
			return vi.Verdict.rank() > vj.Verdict.rank()
		}
		return vi.Name < vj.Name
	})
	a.Verdict = verdict
	a.Summary = summary(a)
	return a
}

func hostReason(h HostState, sev Verdict, fleet, haveRelease bool) Reason {
	r := Reason{Verdict: sev, Fleet: fleet, Vendor: h.Vendor, Host: h.Host, Since: h.Since}
	if h.Last != nil {
		ev := h.Last.Error
		if h.Last.HTTPStatus != 0 {
			ev = strings.TrimSpace(fmt.Sprintf("HTTP %d %s", h.Last.HTTPStatus, firstNonEmpty(h.Last.Message, h.Last.Error)))
		}
		r.Evidence = ev
	}
	switch {
	case haveRelease && !h.InTrustList:
		r.Message = "the trust list in force no longer has an AIK CA for this host"
		r.Action = "devices whose EK CA this host served cannot attest; check the vendor's firmware advisories and Microsoft's release notes"
	case h.Status == probes.StatusWithdrawn:
		r.Message = "the AIK CA service answers that this authority does not exist: the AIK CA is withdrawn"
		r.Action = "TPM attestation fails for every device whose EK certificate this CA issued; postpone their deployment and open a case with Microsoft"
	case h.Status == probes.StatusThrottled:
		r.Message = "the AIK CA service is throttling requests for this host"
		r.Action = "stagger enrollments; devices retry, but a mass deployment may time out"
	case h.Status == probes.StatusTimeout:
		r.Message = "the AIK CA host does not answer in time"
		r.Action = "devices will retry and may time out (0x800705B4); check Microsoft 365 service health and retry later"
	default:
		r.Message = fmt.Sprintf("the AIK CA host is failing: %s", h.Status)
		r.Action = "TPM attestation for devices of this EK CA is likely to fail until it recovers"
	}
	if h.Failures > 1 {
		r.Message += fmt.Sprintf(" (%d consecutive sweeps)", h.Failures)
	}
	return r
}

func summary(a Assessment) string {
	switch a.Verdict {
	case Go:
		return fmt.Sprintf("go: %d AIK hosts answer, nothing stands in the way", a.HostsProbed)
	case Unknown:
		if len(a.Reasons) > 0 {
			return "cannot decide: " + a.Reasons[0].Message
		}
		return "cannot decide"
	}
	var nogo []string
	for _, v := range a.Vendors {
		if v.Verdict == NoGo {
			nogo = append(nogo, v.Name)
		}
	}
	s := fmt.Sprintf("%s: %d of %d AIK hosts failing", a.Verdict, a.HostsFailing, a.HostsProbed)
	if len(nogo) > 0 {
		s += "; no-go for " + strings.Join(nogo, ", ")
	}
	if len(a.Reasons) > 0 {
		s += "; " + a.Reasons[0].Message
	}
	return s
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
