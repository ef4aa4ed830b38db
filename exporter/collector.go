package exporter

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// StateFunc returns the daemon's current state, an immutable copy the caller must not modify.
// It may return nil before the daemon has any state.
type StateFunc func() *state.State

// CollectorOptions configure the metrics collector.
type CollectorOptions struct {
	// Fleet names the organisation's AIK hosts and vendors: it sets the fleet label and the
	// deployment verdict.
	Fleet state.Fleet
	// Version and Revision label aikwatch_build_info; when empty they are taken from the
	// binary's build information.
	Version, Revision string
	// Now is the clock the verdict is assessed at; nil means time.Now.
	Now func() time.Time
}

// NewCollector returns a Prometheus collector that builds the aikwatch_* metrics at scrape
// time from the state fn returns. Nothing is probed during a scrape.
func NewCollector(fn StateFunc, o CollectorOptions) prometheus.Collector {
	c := &stateCollector{state: fn, opts: o, fleetHosts: map[string]bool{}}
	if c.opts.Now == nil {
		c.opts.Now = time.Now
	}
	for _, h := range o.Fleet.Hosts {
		c.fleetHosts[state.NormalizeHost(h)] = true
	}
	c.version, c.revision = collectorBuildVersion(o.Version, o.Revision)
	return c
}

// NewRegistry returns a registry holding the aikwatch collector for fn and the Go runtime and
// process collectors, ready for promhttp.HandlerFor.
func NewRegistry(fn StateFunc, o CollectorOptions) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(
		NewCollector(fn, o),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return r
}

// collectorBuildVersion fills in the version and revision the caller did not give from the
// binary's build information.
func collectorBuildVersion(version, revision string) (string, string) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" && bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if revision == "" && s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	if version == "" {
		version = "unknown"
	}
	if revision == "" {
		revision = "unknown"
	}
	return metricLabel(version), metricLabel(revision)
}

// stateCollector is the aikwatch collector. It is safe for concurrent scrapes.
type stateCollector struct {
	state             StateFunc
	opts              CollectorOptions
	fleetHosts        map[string]bool // normalised fleet host names
	version, revision string

	part collectorPart // which metrics this collector emits

	mu      sync.Mutex
	derived *collectorRelease // of the release last seen
}

// collectorPart splits the metrics between those that depend on the state only (encoded once
// per state by [NewMetricsHandler]) and those that change between states (the build, the
// verdict, which depends on the clock).
type collectorPart int

const (
	partAll collectorPart = iota
	partState
	partLive
)

// collectorRelease holds the figures derived from one release, computed once per release
// rather than once per scrape.
type collectorRelease struct {
	snap              *trustlist.Snapshot
	infoLabels        []string
	certs             []collectorCount // by vendor folder and kind
	unparseable       int
	anomalies         map[string]int
	shippedButRemoved int
}

type collectorCount struct {
	vendorFolder, kind string
	n                  int
}

// Anomaly and changelog-mismatch kinds, always all emitted so the series do not come and go.
var (
	collectorAnomalyKinds = []string{trustlist.AnomalyUnparseable, trustlist.AnomalyNameMismatch,
		trustlist.AnomalyBadAIKName, trustlist.AnomalyAIKHostWithoutEK, trustlist.AnomalyEKCAWithoutAIK}
	collectorMismatchKinds = []string{trustlist.MismatchRemovedButShipped, trustlist.MismatchRemovedNoEntry,
		trustlist.MismatchAddedNotShipped}
	collectorVerdicts = []state.Verdict{state.Go, state.Degraded, state.NoGo, state.Unknown}
)

// Describe sends the Desc of every metric the collector can emit.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range metricAll {
		ch <- m.desc
	}
}

// Collect sends the metrics of the current state.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.collect(ch, c.state())
}

// collect sends the metrics of st (nil: the build only) that belong to the collector's part.
func (c *stateCollector) collect(ch chan<- prometheus.Metric, st *state.State) {
	if c.part != partState {
		metricBuildInfo.emit(ch, 1, c.version, c.revision, runtime.Version())
	}
	if st == nil {
		return
	}
	if c.part != partLive {
		c.collectRelease(ch, st)
		c.collectRefresh(ch, st)
		c.collectHosts(ch, st)
		c.collectEKServices(ch, st)
		c.collectEKCAs(ch, st)
		c.collectCanaries(ch, st)
	}
	if c.part != partState {
		c.collectVerdict(ch, st)
	}
}

// release returns the figures derived from s, computing them when s is new.
func (c *stateCollector) release(s *trustlist.Snapshot) *collectorRelease {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.derived != nil && c.derived.snap == s {
		return c.derived
	}
	d := &collectorRelease{snap: s, anomalies: map[string]int{},
		infoLabels: []string{metricLabel(s.SHA256), trustlist.DateString(s.VersionDate), metricLabel(s.Source), metricLabel(s.Format)}}
	type key struct{ v, k string }
	idx := map[key]int{}
	for _, m := range s.Members {
		if m.ParseError != "" {
			d.unparseable++
		}
		if !m.IsCertificateFile() {
			continue
		}
		k := key{metricLabel(m.VendorFolder), string(m.Kind)}
		i, ok := idx[k]
		if !ok {
			i = len(d.certs)
			idx[k] = i
			d.certs = append(d.certs, collectorCount{vendorFolder: k.v, kind: k.k})
		}
		d.certs[i].n++
	}
	for _, a := range s.Anomalies {
		d.anomalies[a.Kind]++
	}
	d.shippedButRemoved = len(s.ShippedButRemoved())
	c.derived = d
	return d
}

func (c *stateCollector) collectRelease(ch chan<- prometheus.Metric, st *state.State) {
	metricTrustlistCommitted.emitTime(ch, st.ReleaseSince)
	s := st.Release
	if s == nil {
		return
	}
	d := c.release(s)
	metricTrustlistInfo.emit(ch, 1, d.infoLabels...)
	metricTrustlistVersionDate.emitTime(ch, s.VersionDate)
	metricTrustlistSignatureValid.emit(ch, metricBool(s.Signature.Status == trustlist.SignatureValid))
	metricTrustlistSignatureTime.emitTime(ch, s.Signature.Timestamp)
	metricTrustlistSize.emit(ch, float64(s.Size))
	metricTrustlistMembers.emit(ch, float64(len(s.Members)))
	for _, n := range d.certs {
		metricTrustlistCertificates.emit(ch, float64(n.n), n.vendorFolder, n.kind)
	}
	metricTrustlistAIKHosts.emit(ch, float64(len(s.AIKHosts)))
	metricTrustlistUnparseable.emit(ch, float64(d.unparseable))
	for _, k := range collectorAnomalyKinds {
		metricTrustlistAnomalies.emit(ch, float64(d.anomalies[k]), k)
	}
	mismatches := map[string]int{trustlist.MismatchRemovedButShipped: d.shippedButRemoved}
	if len(st.Changes) > 0 && st.Changes[0].Diff != nil && st.Changes[0].Diff.To.SHA256 == s.SHA256 {
		for _, m := range st.Changes[0].Diff.ChangelogMismatches {
			if m.Kind != trustlist.MismatchRemovedButShipped {
				mismatches[m.Kind]++
			}
		}
	}
	for _, k := range collectorMismatchKinds {
		metricTrustlistChangelogMismatches.emit(ch, float64(mismatches[k]), k)
	}
}

func (c *stateCollector) collectRefresh(ch chan<- prometheus.Metric, st *state.State) {
	r := st.Refresh
	metricRefreshLastAttempt.emitTime(ch, r.LastAttempt)
	metricRefreshLastSuccess.emitTime(ch, r.LastSuccess)
	metricRefreshNext.emitTime(ch, r.NextScheduled)
	if !r.LastAttempt.IsZero() {
		metricRefreshSuccess.emit(ch, metricBool(r.OK))
	}
	metricRefreshFailures.emit(ch, float64(r.Failures))
	metricRefreshRefused.emit(ch, metricBool(r.Refused != nil && r.Refused.At.After(st.ReleaseSince)))
}

func (c *stateCollector) collectHosts(ch chan<- prometheus.Metric, st *state.State) {
	sw := st.LastSweep
	metricSweepCompleted.emitTime(ch, sw.Finished)
	if !sw.Finished.IsZero() {
		if !sw.Started.IsZero() && !sw.Finished.Before(sw.Started) {
			metricSweepDuration.emit(ch, sw.Finished.Sub(sw.Started).Seconds())
		}
		metricSweepProbed.emit(ch, float64(sw.Probed))
		metricSweepFailing.emit(ch, float64(sw.Failing))
	}
	seen := make(map[string]bool, len(st.Hosts))
	for _, h := range st.Hosts {
		if seen[h.Host] {
			continue // the same host twice would make the whole scrape fail
		}
		seen[h.Host] = true
		l := []string{metricLabel(h.Host), metricLabel(h.Vendor), collectorBoolLabel(h.Fleet || c.inFleet(h))}
		status := string(h.Status)
		if status == "" {
			status = "unprobed"
		} else if h.Status != probes.StatusCancelled {
			metricHostUp.emit(ch, metricBool(h.Status == probes.StatusOK), l...)
		}
		metricHostStatus.emit(ch, 1, l[0], l[1], l[2], metricLabel(status))
		metricHostFailures.emit(ch, float64(h.Failures), l...)
		metricHostSince.emitTime(ch, h.Since, l...)
		metricHostLastOK.emitTime(ch, h.LastOK, l...)
		metricHostInTrustList.emit(ch, metricBool(h.InTrustList), l...)
		if p := h.Last; p != nil {
			metricHostDuration.emit(ch, p.DurationSeconds, l...)
			if p.HTTPStatus != 0 {
				metricHostHTTPStatus.emit(ch, float64(p.HTTPStatus), l...)
			}
			if p.AIKCA != nil {
				metricHostCANotAfter.emitTime(ch, p.AIKCA.NotAfter, l...)
			}
		}
	}
}

// inFleet reports whether the configured fleet names h, by host or by vendor.
func (c *stateCollector) inFleet(h state.HostState) bool {
	return c.fleetHosts[state.NormalizeHost(h.Host)] || c.opts.Fleet.HasVendor(h.Vendor)
}

func collectorBoolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func (c *stateCollector) collectEKServices(ch chan<- prometheus.Metric, st *state.State) {
	seen := make(map[string]bool, len(st.EKServices))
	for _, e := range st.EKServices {
		name := metricLabel(strings.ToLower(e.Name))
		if seen[name] {
			continue
		}
		seen[name] = true
		metricEKServiceFailures.emit(ch, float64(e.Failures), name)
		metricEKServiceSince.emitTime(ch, e.Since, name)
		p := e.Last
		if p == nil {
			continue
		}
		metricEKServiceUp.emit(ch, metricBool(e.OK), name)
		metricEKServiceStatus.emit(ch, 1, name, metricLabel(string(p.Status)), metricLabel(p.Mode))
		metricEKServiceDuration.emit(ch, p.DurationSeconds, name)
		if p.HTTPStatus != 0 {
			metricEKServiceHTTPStatus.emit(ch, float64(p.HTTPStatus), name)
		}
		metricEKServiceCertNotAfter.emitTime(ch, p.CertificateNotAfter, name)
	}
}

func (c *stateCollector) collectEKCAs(ch chan<- prometheus.Metric, st *state.State) {
	metricEKCACheck.emitTime(ch, st.EKCAsAt)
	seen := make(map[string]bool, len(st.EKCAs))
	for _, e := range st.EKCAs {
		if seen[e.Path] {
			continue
		}
		seen[e.Path] = true
		path := metricLabel(e.Path)
		metricEKCANotAfter.emitTime(ch, e.NotAfter, path, metricLabel(e.VendorFolder), metricLabel(e.AIKHost))
		metricEKCAInfo.emit(ch, 1, path, metricLabel(e.Role), metricLabel(e.Subject), metricLabel(e.Chain),
			collectorBoolLabel(e.SHA1Signature))
	}
}

func (c *stateCollector) collectVerdict(ch chan<- prometheus.Metric, st *state.State) {
	a := state.Assess(st, state.AssessOptions{Fleet: c.opts.Fleet, Now: c.opts.Now()})
	reasons := map[state.Verdict]int{}
	for _, r := range a.Reasons {
		reasons[r.Verdict]++
	}
	for _, v := range collectorVerdicts {
		metricDeployVerdict.emit(ch, metricBool(a.Verdict == v), string(v))
		metricDeployReasons.emit(ch, float64(reasons[v]), string(v))
	}
	seen := make(map[string]bool, len(a.Vendors))
	for _, vv := range a.Vendors {
		name := metricLabel(vv.Name)
		if seen[name] {
			continue
		}
		seen[name] = true
		fleet := collectorBoolLabel(vv.Fleet)
		for _, v := range collectorVerdicts {
			metricVendorVerdict.emit(ch, metricBool(vv.Verdict == v), name, fleet, string(v))
		}
	}
}
