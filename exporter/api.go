package exporter

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// Endpoint describes one API endpoint in the index at /api/v1/.
type Endpoint struct {
	Path        string   `json:"path"`
	Methods     []string `json:"methods"`
	Description string   `json:"description"`
	Parameters  []string `json:"parameters,omitempty"` // query parameters, "name: meaning"
}

// IndexResponse is the body of GET /api/v1/.
type IndexResponse struct {
	Service   string     `json:"service"`
	Version   string     `json:"version,omitempty"`
	Endpoints []Endpoint `json:"endpoints"`
}

// TrustlistResponse is the body of GET /api/v1/trustlist: the release in force and how the
// refreshes go.
type TrustlistResponse struct {
	trustlist.Summary
	ReleaseSince time.Time           `json:"release_since"` // when the release was committed
	Refresh      state.RefreshStatus `json:"refresh"`
	Changes      int                 `json:"changes"` // release changes the daemon remembers (see /api/v1/trustlist/history)
}

// NoReleaseResponse is the 503 body of GET /api/v1/trustlist before the first release.
type NoReleaseResponse struct {
	Error   string              `json:"error"`
	Refresh state.RefreshStatus `json:"refresh"`
}

// HostsResponse is the body of GET /api/v1/hosts.
type HostsResponse struct {
	Total   int               `json:"total"`   // hosts known, before filtering
	Count   int               `json:"count"`   // hosts in this answer
	Failing int               `json:"failing"` // of those in this answer
	Hosts   []state.HostState `json:"hosts"`   // failing first (fleet first among them), then unprobed, then ok
}

// RefreshResponse is the 202 body of POST /api/v1/refresh.
type RefreshResponse struct {
	Status      string    `json:"status"` // "accepted"
	RequestedAt time.Time `json:"requested_at"`
	Message     string    `json:"message"`
}

// apiEndpoint is one route of the API with its index entry.
type apiEndpoint struct {
	Endpoint
	handler func(*handler) http.HandlerFunc
}

var (
	readMethods = []string{http.MethodGet, http.MethodHead}
	postMethods = []string{http.MethodPost}
)

// apiEndpoints are the API's routes; the index at /api/v1/ lists them in this order.
var apiEndpoints = append([]apiEndpoint{
	{Endpoint{Path: "/api/v1/status", Methods: readMethods,
		Description: "can we deploy today: overall verdict (go, degraded, no-go, unknown), per TPM vendor, with reasons and actions",
		Parameters:  []string{"vendor: narrow to these vendors (comma-separated, e.g. AMD,IFX)", "host: narrow to these AIK hosts (comma-separated)", "pretty: indent the JSON"}},
		func(h *handler) http.HandlerFunc { return h.serveStatus }},
	{Endpoint{Path: "/api/v1/trustlist", Methods: readMethods,
		Description: "the trust-list release in force (TrustedTpm.cab summary), when it was committed and the refresh status",
		Parameters:  []string{"pretty: indent the JSON"}},
		func(h *handler) http.HandlerFunc { return h.serveTrustlist }},
	{Endpoint{Path: "/api/v1/trustlist/history", Methods: readMethods,
		Description: "the releases the daemon has seen and what changed between them",
		Parameters:  []string{fmt.Sprintf("limit: at most this many diffs (default %d, at most %d)", defaultDiffLimit, maxDiffLimit), "pretty: indent the JSON"}},
		func(h *handler) http.HandlerFunc { return h.serveHistory }},
	{Endpoint{Path: "/api/v1/hosts", Methods: readMethods,
		Description: "every AIK CA host's last probe, failing first",
		Parameters: []string{"vendor: only these vendors (comma-separated)",
			"status: only these statuses (comma-separated: " + strings.Join(statusFilterValues(), ", ") + ")",
			"fleet: true for the fleet's hosts only, false for the others", "pretty: indent the JSON"}},
		func(h *handler) http.HandlerFunc { return h.serveHosts }},
	{Endpoint{Path: "/api/v1/hosts/{host}", Methods: readMethods,
		Description: "one AIK CA host (the name with or without .microsoftaik.azure.net, any case)"},
		func(h *handler) http.HandlerFunc { return h.serveHost }},
	{Endpoint{Path: "/api/v1/refresh", Methods: postMethods,
		Description: "ask for a trust-list refresh now; answers 202 Accepted"},
		func(h *handler) http.HandlerFunc { return h.serveRefresh }},
}, canaryEndpoints...)

const (
	defaultDiffLimit = 20
	maxDiffLimit     = 500
)

// apiIndex is what /api/v1/ lists (filled in init, from apiEndpoints).
var apiIndex []Endpoint

func init() {
	apiIndex = append(apiIndex, Endpoint{Path: "/api/v1/", Methods: readMethods, Description: "this index"})
	for _, e := range apiEndpoints {
		apiIndex = append(apiIndex, e.Endpoint)
	}
	apiIndex = append(apiIndex,
		Endpoint{Path: "/", Methods: readMethods, Description: "the status page (HTML)"},
		Endpoint{Path: "/metrics", Methods: readMethods, Description: "Prometheus metrics"},
		Endpoint{Path: "/-/healthy", Methods: readMethods, Description: "200 while the process serves"},
		Endpoint{Path: "/-/ready", Methods: readMethods, Description: "200 once a release is committed and a first sweep has finished, else 503 with the reason"},
	)
}

func (h *handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, IndexResponse{Service: "aikwatch", Version: h.o.Version, Endpoints: apiIndex}, pretty(r))
}

func (h *handler) serveStatus(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a := h.assess(h.state(), h.o.Now(), listParam(q["vendor"]), listParam(q["host"]))
	w.Header().Set("X-Aikwatch-Verdict", string(a.Verdict))
	writeJSON(w, http.StatusOK, a, pretty(r))
}

func (h *handler) serveTrustlist(w http.ResponseWriter, r *http.Request) {
	st := h.state()
	if st.Release == nil {
		msg := "no trust-list release has been committed yet"
		if st.Refresh.Error != "" {
			msg += ": " + st.Refresh.Error
		}
		writeJSON(w, http.StatusServiceUnavailable, NoReleaseResponse{Error: msg, Refresh: st.Refresh}, pretty(r))
		return
	}
	h.writeCachedJSON(w, r, "trustlist", st, func() any {
		return TrustlistResponse{Summary: st.Release.Summary(), ReleaseSince: st.ReleaseSince,
			Refresh: st.Refresh, Changes: len(st.Changes)}
	})
}

func (h *handler) serveHistory(w http.ResponseWriter, r *http.Request) {
	if h.o.History == nil {
		writeError(w, http.StatusServiceUnavailable, "the release history is not available (no store configured)")
		return
	}
	limit := defaultDiffLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("query parameter limit=%q: want a whole number from 0 to %d", s, maxDiffLimit))
			return
		}
		limit = min(n, maxDiffLimit)
	}
	rels, err := h.o.History.Releases()
	if err != nil {
		h.log.Error("reading the release history", "err", err)
		writeError(w, http.StatusInternalServerError, "reading the release history: "+err.Error())
		return
	}
	var diffs []DiffInfo
	if limit > 0 {
		if diffs, err = h.o.History.Diffs(limit); err != nil {
			h.log.Error("reading the release diffs", "err", err)
			writeError(w, http.StatusInternalServerError, "reading the release diffs: "+err.Error())
			return
		}
	}
	out := HistoryResponse{Releases: make([]ReleaseInfo, len(rels)), Diffs: make([]DiffInfo, 0, len(diffs))}
	copy(out.Releases, rels)
	if st := h.state(); st.Release != nil {
		for i := range out.Releases {
			out.Releases[i].Current = out.Releases[i].SHA256 == st.Release.SHA256
		}
	}
	out.Diffs = append(out.Diffs, diffs[:min(len(diffs), limit)]...)
	writeJSON(w, http.StatusOK, out, pretty(r))
}

// hostFilter selects hosts for /api/v1/hosts.
type hostFilter struct {
	vendors  []string        // upper case; empty: any
	statuses map[string]bool // status filter values; empty: any
	fleet    *bool
}

// statusFilterValues are the values ?status= accepts: every probe status, "failing" (any
// failure) and "unprobed" (no probe yet).
func statusFilterValues() []string {
	return []string{string(probes.StatusOK), "failing", "unprobed", string(probes.StatusWithdrawn), string(probes.StatusHTTPError),
		string(probes.StatusThrottled), string(probes.StatusTLSError), string(probes.StatusDNSError), string(probes.StatusTimeout),
		string(probes.StatusConnectError), string(probes.StatusBadResponse), string(probes.StatusCancelled)}
}

// parseHostFilter reads the query of /api/v1/hosts; a bad value is an error naming it.
func parseHostFilter(q map[string][]string) (hostFilter, error) {
	var f hostFilter
	for _, v := range listParam(q["vendor"]) {
		f.vendors = append(f.vendors, strings.ToUpper(v))
	}
	allowed := statusFilterValues()
	for _, s := range listParam(q["status"]) {
		s = strings.ToLower(s)
		if !slices.Contains(allowed, s) {
			return f, fmt.Errorf("query parameter status=%q: want one of %s", s, strings.Join(allowed, ", "))
		}
		if f.statuses == nil {
			f.statuses = map[string]bool{}
		}
		f.statuses[s] = true
	}
	if vs := q["fleet"]; len(vs) > 0 {
		b, err := strconv.ParseBool(vs[len(vs)-1])
		if err != nil {
			return f, fmt.Errorf("query parameter fleet=%q: want true or false", vs[len(vs)-1])
		}
		f.fleet = &b
	}
	return f, nil
}

func (f hostFilter) match(h state.HostState) bool {
	if len(f.vendors) > 0 && !slices.Contains(f.vendors, strings.ToUpper(h.Vendor)) {
		return false
	}
	if f.fleet != nil && h.Fleet != *f.fleet {
		return false
	}
	if len(f.statuses) > 0 {
		unprobed := h.Status == ""
		if !(f.statuses[string(h.Status)] && !unprobed || f.statuses["failing"] && h.Failing() || f.statuses["unprobed"] && unprobed) {
			return false
		}
	}
	return true
}

// withFleet returns a copy of hosts with Fleet also set for those the handler's fleet names.
func (h *handler) withFleet(hosts []state.HostState) []state.HostState {
	out := make([]state.HostState, len(hosts))
	copy(out, hosts)
	for i := range out {
		out[i].Fleet = out[i].Fleet || h.inFleet(out[i].Host, out[i].Vendor)
	}
	return out
}

// inFleet reports whether the handler's fleet names host, by name or by vendor (as
// [state.Fleet.HasHost], with the fleet's names normalised once).
func (h *handler) inFleet(host, vendor string) bool {
	if h.o.Fleet.HasVendor(vendor) {
		return true
	}
	if h.fleetHosts[host] {
		return true
	}
	return h.fleetHosts[state.NormalizeHost(host)]
}

// hostRank orders hosts for people: failing first, then unprobed, then ok.
func hostRank(h state.HostState) int {
	switch {
	case h.Failing():
		return 0
	case h.Status == "" || h.Status == probes.StatusCancelled:
		return 1
	}
	return 2
}

// sortHosts orders hosts failing first; among the failing, the fleet's first, then the longest
// failing streak; then by name.
func sortHosts(hosts []state.HostState) {
	sort.SliceStable(hosts, func(i, j int) bool {
		a, b := hosts[i], hosts[j]
		if ra, rb := hostRank(a), hostRank(b); ra != rb {
			return ra < rb
		}
		if a.Failing() {
			if a.Fleet != b.Fleet {
				return a.Fleet
			}
			if a.Failures != b.Failures {
				return a.Failures > b.Failures
			}
		}
		return a.Host < b.Host
	})
}

func (h *handler) serveHosts(w http.ResponseWriter, r *http.Request) {
	f, err := parseHostFilter(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	st := h.state()
	build := func() any {
		all := h.withFleet(st.Hosts)
		out := HostsResponse{Total: len(all), Hosts: make([]state.HostState, 0, len(all))}
		for _, hs := range all {
			if f.match(hs) {
				out.Hosts = append(out.Hosts, hs)
				if hs.Failing() {
					out.Failing++
				}
			}
		}
		sortHosts(out.Hosts)
		out.Count = len(out.Hosts)
		return out
	}
	if r.URL.RawQuery == "" || r.URL.RawQuery == "pretty" {
		h.writeCachedJSON(w, r, "hosts", st, build) // the full list: the same until the state changes
		return
	}
	writeJSON(w, http.StatusOK, build(), pretty(r))
}

func (h *handler) serveHost(w http.ResponseWriter, r *http.Request) {
	name := state.NormalizeHost(r.PathValue("host"))
	st := h.state()
	hs, ok := st.Host(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("AIK host %q is not known (not in the trust list in force, nor in the fleet)", name))
		return
	}
	writeJSON(w, http.StatusOK, h.withFleet([]state.HostState{hs})[0], pretty(r))
}

// crossOrigin refuses cross-site browser requests to the state-changing endpoints, so that a
// web page elsewhere cannot make a visitor's browser trigger refreshes.
var crossOrigin = http.NewCrossOriginProtection()

// refuseCrossOrigin answers 403 to a cross-site browser request and reports whether it did.
func refuseCrossOrigin(w http.ResponseWriter, r *http.Request) bool {
	if err := crossOrigin.Check(r); err != nil {
		writeError(w, http.StatusForbidden, "cross-origin request refused: "+err.Error())
		return true
	}
	return false
}

func (h *handler) serveRefresh(w http.ResponseWriter, r *http.Request) {
	if h.o.Refresh == nil {
		writeError(w, http.StatusNotImplemented, "refresh on demand is not enabled in this daemon")
		return
	}
	if refuseCrossOrigin(w, r) {
		return
	}
	if err := h.o.Refresh(r.Context()); err != nil {
		code := http.StatusServiceUnavailable
		if errors.Is(err, r.Context().Err()) && r.Context().Err() != nil {
			code = http.StatusRequestTimeout
		}
		h.log.Warn("refresh on demand refused", "err", err, "remote", r.RemoteAddr)
		writeError(w, code, "refresh not started: "+err.Error())
		return
	}
	h.log.Info("trust-list refresh requested over the API", "remote", r.RemoteAddr)
	w.Header().Set("Location", "/api/v1/trustlist")
	writeJSON(w, http.StatusAccepted, RefreshResponse{Status: "accepted", RequestedAt: h.o.Now().UTC(),
		Message: "trust-list refresh requested; GET /api/v1/trustlist shows the outcome (refresh.last_attempt)"}, pretty(r))
}

// listParam splits repeated and comma-separated query values, dropping empty ones.
func listParam(vs []string) []string {
	var out []string
	for _, v := range vs {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// pretty reports whether the client asked for indented JSON (?pretty, ?pretty=1, ?pretty=true).
func pretty(r *http.Request) bool {
	q := r.URL.Query()
	if !q.Has("pretty") {
		return false
	}
	v := q.Get("pretty")
	b, err := strconv.ParseBool(v)
	return v == "" || err == nil && b
}
