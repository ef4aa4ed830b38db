package exporter

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

//go:embed web/page.html.tmpl web/page.css
var webFS embed.FS

// Page limits: the page shows what a person takes in at a glance; the API has the rest.
const (
	pageMaxReasons     = 6
	pageMaxFailing     = 50
	pageMaxChanges     = 4
	pageMaxExpiring    = 20
	pageMaxChangeNames = 12 // host or CA names listed openly per change; the rest fold away
)

var (
	pageCSS       = mustRead("web/page.css")
	pageCSSHash   = cspHash(pageCSS)
	pageTemplate  = template.Must(template.New("page.html.tmpl").Funcs(pageFuncs).ParseFS(webFS, "web/page.html.tmpl"))
	pageCSPHeader = "default-src 'none'; style-src '" + pageCSSHash + "'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

func mustRead(name string) string {
	b, err := webFS.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("exporter: embedded %s: %v", name, err))
	}
	return string(b)
}

// cspHash is the Content-Security-Policy source expression for an inline element's content.
func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

var pageFuncs = template.FuncMap{
	"verdict":  verdictOf,
	"breakURL": breakURL,
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	},
}

func (h *handler) servePage(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := h.renderPage(&buf, h.state(), h.o.Now()); err != nil {
		h.log.Error("rendering the status page", "err", err)
		writeText(w, http.StatusInternalServerError, "rendering the status page failed: "+err.Error()+"\n")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", pageCSPHeader)
	hd.Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

// renderPage writes the status page for st as of now.
func (h *handler) renderPage(w io.Writer, st *state.State, now time.Time) error {
	return pageTemplate.Execute(w, h.pageData(st, now))
}

// pageData is everything the status page shows, formatted.
type pageData struct {
	Version        string
	RefreshSeconds int
	CSS            template.CSS
	Favicon        template.URL
	Generated      stamp

	Verdict     verdictView
	Summary     string
	FleetKnown  bool
	Stats       []statView
	Reasons     []reasonView
	MoreReasons int

	Vendors []vendorView

	Release *releaseView
	Refresh refreshView
	Changes []changeView

	Failing     []hostView
	MoreFailing int
	HostsTotal  int
	HostsOK     int

	EKServices []ekServiceView

	Canaries []canaryView

	Expiring     []ekcaView
	MoreExpiring int
	ExpiryDays   int
}

// stamp is a time shown to people: relative ("3 h ago"), absolute (UTC) and machine-readable.
type stamp struct {
	ISO string // RFC 3339, "" for the zero time
	Abs string // 2006-01-02 15:04 UTC
	Rel string // "3 h ago", "in 5 min"
}

// Zero reports whether the stamp is of the zero time.
func (s stamp) Zero() bool { return s.ISO == "" }

func mkStamp(t, now time.Time) stamp {
	if t.IsZero() {
		return stamp{}
	}
	return stamp{ISO: t.UTC().Format(time.RFC3339), Abs: t.UTC().Format("2006-01-02 15:04 UTC"), Rel: relTime(t, now)}
}

// relTime says how long ago (or how far ahead) t is from now, coarsely.
func relTime(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		if future {
			return "in under a minute"
		}
		return "just now"
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d/time.Hour))
	case d < 120*24*time.Hour:
		s = fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	default:
		months := int(math.Round(d.Hours() / 24 / 30.44))
		if months < 24 {
			s = fmt.Sprintf("%d months", months)
		} else {
			s = fmt.Sprintf("%d years", int(math.Round(d.Hours()/24/365.25)))
		}
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// verdictView is a verdict as the page shows it: CSS class, label and a symbol, so that colour
// is never the only signal.
type verdictView struct {
	Class string // v-go, v-degraded, v-nogo, v-unknown
	Label string // GO, DEGRADED, NO-GO, UNKNOWN
	Icon  string // ✓ ! ✕ ?
	Word  string // what it means, for people
}

func verdictOf(v state.Verdict) verdictView {
	switch v {
	case state.Go:
		return verdictView{"v-go", "GO", "✓", "deploy"}
	case state.Degraded:
		return verdictView{"v-degraded", "DEGRADED", "!", "deploy with care"}
	case state.NoGo:
		return verdictView{"v-nogo", "NO-GO", "✕", "do not deploy"}
	}
	return verdictView{"v-unknown", "UNKNOWN", "?", "cannot decide yet"}
}

type statView struct {
	Label, Value, Note string
	Class              string // a verdict class when the value is a judgement, else ""
}

type reasonView struct {
	Verdict  verdictView
	Fleet    bool
	Vendor   string
	Host     string
	Message  string
	Action   string
	Evidence string
	Since    stamp
}

type vendorView struct {
	Code, Name string
	Verdict    verdictView
	Fleet      bool
	Hosts      int
	OK         int
	Failing    int
	Unprobed   int
	Breakdown  string // "1 withdrawn · 2 timeout"
}

type releaseView struct {
	VersionDate  string
	SHA256       string
	SHAShort     string
	Signature    string // valid, invalid, unsigned
	SigClass     string
	SigDetail    string
	Signer       string
	Timestamp    stamp
	Committed    stamp
	Members      int
	Certificates int
	AIKHosts     int
	EKCAs        int
	Anomalies    int
	Unparseable  int
	Source       string
}

type refreshView struct {
	State       string // "ok", "not modified", "failing", "never"
	Class       string
	LastAttempt stamp
	LastSuccess stamp
	Next        stamp
	Error       string
	Failures    int
	Refused     *refusalView
}

type refusalView struct {
	At     stamp
	SHA256 string
	Reason string
}

type changeView struct {
	At                 stamp
	From, To           string
	Withdrawn, Added   []string
	EKRemoved, EKAdded []ekChangeView
	MembersAdded       int
	MembersRemoved     int
	MembersChanged     int
	Changelog          []changelogView
	Mismatches         int
	Quiet              bool // nothing AIK- or EK-relevant changed
}

type ekChangeView struct {
	Name, Vendor, NotAfter, AIKHost string
}

type changelogView struct {
	Date    string
	Headers []string
}

type hostView struct {
	Host, Short  string
	Vendor       string
	Status       string
	StatusClass  string
	Fleet        bool
	InTrustList  bool
	Since        stamp
	Failures     int
	LastOK       stamp
	Evidence     string
	DurationText string
}

type ekServiceView struct {
	Name     string
	URL      string
	State    string // up, down, not probed
	Class    string
	Since    stamp
	Duration string
	Failures int
	Detail   string
}

type ekcaView struct {
	Name, Subject string
	Vendor, Role  string
	NotAfter      string
	When          string // "expires in 12 days", "expired 3 months ago"
	Class         string
	Expired       bool
	AIKHost       string
	HostStatus    string
	Chain         string
}

// pageData builds the page's view of st as of now.
func (h *handler) pageData(st *state.State, now time.Time) *pageData {
	a := h.assess(st, now, nil, nil)
	d := &pageData{
		Version: h.o.Version, RefreshSeconds: PageRefreshSeconds, CSS: template.CSS(pageCSS),
		Generated: mkStamp(now, now), Verdict: verdictOf(a.Verdict), Summary: a.Summary, FleetKnown: a.FleetKnown,
	}
	d.Favicon = favicon(a.Verdict)

	for i, r := range a.Reasons {
		if i == pageMaxReasons {
			d.MoreReasons = len(a.Reasons) - i
			break
		}
		d.Reasons = append(d.Reasons, reasonView{Verdict: verdictOf(r.Verdict), Fleet: r.Fleet, Vendor: r.Vendor,
			Host: shortHost(r.Host), Message: r.Message, Action: r.Action, Evidence: r.Evidence, Since: mkStamp(r.Since, now)})
	}

	hosts := h.withFleet(st.Hosts)
	sortHosts(hosts)
	breakdown := map[string]map[probes.Status]int{}
	for _, hs := range hosts {
		if hs.Failing() {
			if breakdown[hs.Vendor] == nil {
				breakdown[hs.Vendor] = map[probes.Status]int{}
			}
			breakdown[hs.Vendor][hs.Status]++
		}
	}
	nogoVendors := 0
	for _, v := range a.Vendors {
		if v.Verdict == state.NoGo {
			nogoVendors++
		}
		d.Vendors = append(d.Vendors, vendorView{Code: v.Name, Name: vendorName(v.Name), Verdict: verdictOf(v.Verdict), Fleet: v.Fleet,
			Hosts: v.Hosts, OK: v.Hosts - v.Failing - v.Unknown, Failing: v.Failing, Unprobed: v.Unknown, Breakdown: statusBreakdown(breakdown[v.Name])})
	}

	d.HostsTotal = len(hosts)
	for _, hs := range hosts {
		if !hs.Failing() && !(st.Release != nil && !hs.InTrustList && hs.Status != "") {
			if hs.Status == probes.StatusOK {
				d.HostsOK++
			}
			continue
		}
		if len(d.Failing) == pageMaxFailing {
			d.MoreFailing++
			continue
		}
		d.Failing = append(d.Failing, hostRow(hs, now))
	}

	d.Stats = []statView{
		{Label: "AIK hosts answering", Value: ratio(a.HostsProbed-a.HostsFailing, a.HostsProbed), Note: unprobedNote(len(hosts) - a.HostsProbed)},
		{Label: "AIK hosts failing", Value: fmt.Sprint(a.HostsFailing), Class: classIf(a.HostsFailing > 0, "v-nogo")},
		{Label: "Vendors no-go", Value: ratio(nogoVendors, len(a.Vendors)), Class: classIf(nogoVendors > 0, "v-nogo")},
		{Label: "Last sweep", Value: orDash(mkStamp(st.LastSweep.Finished, now).Rel), Note: mkStamp(st.LastSweep.Finished, now).Abs},
	}
	if !a.FleetKnown {
		d.Stats = append(d.Stats, statView{Label: "Fleet", Value: "not configured", Note: "every vendor counts"})
	}

	if s := st.Release; s != nil {
		rv := &releaseView{VersionDate: orDash(trustlist.DateString(s.VersionDate)), SHA256: s.SHA256, SHAShort: shortSHA(s.SHA256),
			Signature: s.Signature.Status, SigDetail: s.Signature.Detail, Signer: s.Signature.Signer,
			Timestamp: mkStamp(s.Signature.Timestamp, now), Committed: mkStamp(st.ReleaseSince, now),
			Members: len(s.Members), Certificates: s.CertificateCount(), AIKHosts: len(s.AIKHosts), EKCAs: len(s.EKCAs),
			Anomalies: len(s.Anomalies), Source: s.Source}
		for _, m := range s.Members {
			if m.ParseError != "" {
				rv.Unparseable++
			}
		}
		switch s.Signature.Status {
		case trustlist.SignatureValid:
			rv.SigClass = "v-go"
		case trustlist.SignatureInvalid:
			rv.SigClass = "v-nogo"
		default:
			rv.SigClass = "v-degraded"
		}
		if rv.Signature == "" {
			rv.Signature = "unknown"
		}
		d.Release = rv
		d.Stats = append(d.Stats, statView{Label: "Trust list", Value: rv.VersionDate, Note: "committed " + orDash(rv.Committed.Rel)})
	}
	d.Refresh = refreshOf(st.Refresh, now)

	for i, c := range st.Changes {
		if i == pageMaxChanges || c.Diff == nil {
			break
		}
		d.Changes = append(d.Changes, changeOf(c, now))
	}

	for _, e := range st.EKServices {
		d.EKServices = append(d.EKServices, ekServiceOf(e, now))
	}

	d.Canaries = canariesOf(st, now)
	if sv, ok := canaryStat(d.Canaries); ok {
		d.Stats = append(d.Stats, sv)
	}

	d.ExpiryDays = int(h.expiryWindow() / (24 * time.Hour))
	d.Expiring, d.MoreExpiring = h.expiring(st, now)
	return d
}

func (h *handler) expiryWindow() time.Duration {
	if h.o.ExpiryWindow > 0 {
		return h.o.ExpiryWindow
	}
	return probes.EKDefaultExpiryWindow
}

// expiring lists the EK CAs that back an AIK host and expire within the window or have
// expired: the soonest to expire first, then the most recently expired.
func (h *handler) expiring(st *state.State, now time.Time) ([]ekcaView, int) {
	limit := now.Add(h.expiryWindow())
	var cas []probes.EKCAStatus
	for _, c := range st.EKCAs {
		if c.AIKHost != "" && (c.Expired || c.NotAfter.Before(limit)) {
			cas = append(cas, c)
		}
	}
	sort.SliceStable(cas, func(i, j int) bool {
		a, b := cas[i], cas[j]
		if a.Expired != b.Expired {
			return !a.Expired
		}
		if a.Expired {
			return a.NotAfter.After(b.NotAfter)
		}
		return a.NotAfter.Before(b.NotAfter)
	})
	var out []ekcaView
	for i, c := range cas {
		if i == pageMaxExpiring {
			return out, len(cas) - i
		}
		v := ekcaView{Name: commonName(c.Subject), Subject: c.Subject, Vendor: c.VendorFolder, Role: c.Role,
			NotAfter: c.NotAfter.UTC().Format(time.DateOnly), Expired: c.Expired || !now.Before(c.NotAfter),
			AIKHost: shortHost(c.AIKHost), Chain: c.Chain}
		if v.Expired {
			v.When, v.Class = "expired "+relTime(c.NotAfter, now), "v-nogo"
		} else {
			v.When, v.Class = "expires "+relTime(c.NotAfter, now), "v-degraded"
		}
		if hs, ok := st.Host(c.AIKHost); ok {
			v.HostStatus = orDash(string(hs.Status))
		}
		out = append(out, v)
	}
	return out, 0
}

func hostRow(hs state.HostState, now time.Time) hostView {
	v := hostView{Host: hs.Host, Short: shortHost(hs.Host), Vendor: hs.Vendor, Status: string(hs.Status), Fleet: hs.Fleet,
		InTrustList: hs.InTrustList, Since: mkStamp(hs.Since, now), Failures: hs.Failures, LastOK: mkStamp(hs.LastOK, now)}
	switch hs.Status {
	case probes.StatusWithdrawn:
		v.StatusClass = "v-nogo"
	case probes.StatusOK:
		v.StatusClass = "v-go"
	case "":
		v.Status, v.StatusClass = "not probed", "v-unknown"
	default:
		v.StatusClass = "v-degraded"
	}
	if !hs.InTrustList {
		v.StatusClass = "v-nogo"
	}
	if l := hs.Last; l != nil {
		switch {
		case l.HTTPStatus != 0:
			v.Evidence = strings.TrimSpace(fmt.Sprintf("HTTP %d %s", l.HTTPStatus, firstNonEmpty(l.Message, l.Error)))
		default:
			v.Evidence = l.Error
		}
		if l.DurationSeconds > 0 {
			v.DurationText = fmt.Sprintf("%.2f s", l.DurationSeconds)
		}
	}
	return v
}

func refreshOf(r state.RefreshStatus, now time.Time) refreshView {
	v := refreshView{LastAttempt: mkStamp(r.LastAttempt, now), LastSuccess: mkStamp(r.LastSuccess, now),
		Next: mkStamp(r.NextScheduled, now), Error: r.Error, Failures: r.Failures}
	switch {
	case r.LastAttempt.IsZero():
		v.State, v.Class = "not yet attempted", "v-unknown"
	case r.OK && r.NotModified:
		v.State, v.Class = "ok (not modified)", "v-go"
	case r.OK:
		v.State, v.Class = "ok", "v-go"
	default:
		v.State, v.Class = "failing", "v-nogo"
	}
	if f := r.Refused; f != nil {
		v.Refused = &refusalView{At: mkStamp(f.At, now), SHA256: shortSHA(f.SHA256), Reason: f.Reason}
	}
	return v
}

func changeOf(c state.ReleaseChange, now time.Time) changeView {
	d := c.Diff
	v := changeView{At: mkStamp(c.At, now), From: orDash(d.From.VersionDate), To: orDash(d.To.VersionDate),
		MembersAdded: len(d.Added), MembersRemoved: len(d.Removed), MembersChanged: len(d.Changed), Mismatches: len(d.ChangelogMismatches)}
	for _, h := range d.AIKHostsWithdrawn {
		v.Withdrawn = append(v.Withdrawn, shortHost(h))
	}
	for _, h := range d.AIKHostsAdded {
		v.Added = append(v.Added, shortHost(h))
	}
	ek := func(e trustlist.EKCAChange) ekChangeView {
		return ekChangeView{Name: commonName(e.Subject), Vendor: e.VendorFolder, NotAfter: trustlist.DateString(e.NotAfter), AIKHost: shortHost(e.AIKHost)}
	}
	for _, e := range d.EKCAsRemoved {
		v.EKRemoved = append(v.EKRemoved, ek(e))
	}
	for _, e := range d.EKCAsAdded {
		v.EKAdded = append(v.EKAdded, ek(e))
	}
	for _, e := range d.Changelog {
		cv := changelogView{Date: orDash(trustlist.DateString(e.Date))}
		for _, s := range e.Sections {
			hd := strings.TrimSpace(s.Header)
			if len(s.Items) > 0 {
				hd = fmt.Sprintf("%s (%d)", strings.TrimSuffix(hd, ":"), len(s.Items))
			}
			cv.Headers = append(cv.Headers, hd)
		}
		v.Changelog = append(v.Changelog, cv)
	}
	v.Quiet = len(v.Withdrawn)+len(v.Added)+len(v.EKRemoved)+len(v.EKAdded) == 0
	return v
}

func ekServiceOf(e state.EKServiceState, now time.Time) ekServiceView {
	v := ekServiceView{Name: ekServiceName(e.Name), URL: e.URL, Since: mkStamp(e.Since, now), Failures: e.Failures}
	switch {
	case e.Last == nil:
		v.State, v.Class = "not probed", "v-unknown"
	case e.OK:
		v.State, v.Class = "up", "v-go"
	default:
		v.State, v.Class = "down", "v-nogo"
	}
	if l := e.Last; l != nil {
		v.Duration = fmt.Sprintf("%.2f s", l.DurationSeconds)
		parts := []string{string(l.Status)}
		if l.HTTPStatus != 0 {
			parts = append(parts, fmt.Sprintf("HTTP %d", l.HTTPStatus))
		}
		if l.Error != "" {
			parts = append(parts, l.Error)
		}
		if e.OK && l.Mode == probes.EKModeReachability {
			parts = append(parts, "reachability only (no known EK key)")
		}
		v.Detail = strings.Join(parts, " · ")
	}
	return v
}

// statusBreakdown says how a vendor's failing hosts fail: "1 withdrawn · 2 timeout".
func statusBreakdown(m map[probes.Status]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for s := range m {
		keys = append(keys, string(s))
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[probes.Status(k)], strings.ReplaceAll(k, "_", " "))
	}
	return strings.Join(parts, " · ")
}

// vendorNames are the TPM vendors behind the codes of AIK host names.
var vendorNames = map[string]string{
	"AMD": "AMD", "ATML": "Atmel", "IFX": "Infineon", "INTC": "Intel", "INTL": "Intel", "MSFT": "Microsoft Pluton",
	"NTC": "Nuvoton", "NTZ": "Nationz", "QCOM": "Qualcomm", "STM": "STMicroelectronics", "WEC": "Winbond",
}

func vendorName(code string) string {
	if n, ok := vendorNames[strings.ToUpper(code)]; ok {
		return n
	}
	return code
}

func ekServiceName(n string) string {
	switch strings.ToLower(n) {
	case probes.EKServiceIntel:
		return "Intel PTT"
	case probes.EKServiceAMD:
		return "AMD fTPM"
	case probes.EKServiceQualcomm:
		return "Qualcomm"
	}
	return n
}

// breakURL escapes a URL and lets it wrap after its slashes and dots rather than anywhere.
func breakURL(u string) template.HTML {
	var b strings.Builder
	for i, part := range strings.SplitAfter(u, "/") {
		if i > 2 { // not within "https://host/"
			b.WriteString("<wbr>")
		}
		b.WriteString(template.HTMLEscapeString(part))
	}
	return template.HTML(b.String())
}

// shortHost drops the AIK service's DNS suffix.
func shortHost(h string) string { return strings.TrimSuffix(h, trustlist.AIKHostSuffix) }

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// commonName returns the CN of a subject as crypto/x509 prints it ("CN=x,OU=y,..."), or the
// whole subject when it has none first.
func commonName(subject string) string {
	if !strings.HasPrefix(subject, "CN=") {
		return subject
	}
	s := subject[3:]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case s[i] == ',' || s[i] == '+':
			return b.String()
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func unprobedNote(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("%d not probed yet", n)
}

// ratio is "n / of", or a dash when there is nothing to count.
func ratio(n, of int) string {
	if of == 0 {
		return "—"
	}
	return fmt.Sprintf("%d / %d", n, of)
}

func classIf(b bool, class string) string {
	if b {
		return class
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "—"
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

// favicon is a small disc of the verdict's colour, as a data: URL.
func favicon(v state.Verdict) template.URL {
	colour := map[state.Verdict]string{state.Go: "#1a7f37", state.Degraded: "#d4a72c", state.NoGo: "#cf222e"}[v]
	if colour == "" {
		colour = "#6e7781"
	}
	svg := `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="` + colour + `"/></svg>`
	return template.URL("data:image/svg+xml," + url.PathEscape(svg))
}
