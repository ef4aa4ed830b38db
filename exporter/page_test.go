package exporter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/aikwatch/aikwatch/canary"
	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/testutil"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// TestPageServes checks the page's HTTP answer and what its HTML says of the Nov-2024 state.
func TestPageServes(t *testing.T) {
	f := novFixture(t)
	res, body := do(t, NewHandler(f.options(f.st)), "GET", "/")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "style-src 'sha256-") {
		t.Errorf("CSP %q", csp)
	}
	// The inline style is the one the CSP's hash allows.
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindSubmatch(body)
	if m == nil || !strings.Contains(csp, cspHash(string(m[1]))) {
		t.Errorf("the inline style does not match the CSP hash")
	}
	page := string(body)
	for _, want := range []string{
		`<title>NO-GO · aikwatch</title>`,
		fmt.Sprintf(`<meta http-equiv="refresh" content="%d">`, PageRefreshSeconds),
		`class="hero v-nogo"`, `<span class="verdict-text">NO-GO</span>`,
		">" + strings.TrimSuffix(withdrawnHost, trustlist.AIKHostSuffix) + "</code>",
		">" + strings.TrimSuffix(droppedHost, trustlist.AIKHostSuffix) + "</code>",
		"not in trust list", "HTTP 404 The authority", "Failed to parse SCEP request.",
		`<span class="code">AMD</span>`, `<span class="code">INTC</span> <span class="vname">Intel</span>`, `<span class="code">IFX</span> <span class="vname">Infineon</span>`,
		`<span class="big">2024-11-21</span>`, shortSHA(f.nov.SHA256), ">valid</span>",
		"2024-06-11 → 2024-11-21", "31</span> AIK hosts added", "34</span> EK CAs added",
		"2024-03-20 → 2024-06-11", "2</span> AIK hosts withdrawn",
		"AMD fTPM", ">down</span>", "Intel PTT", ">up</span>",
		"EK CAs expiring or expired",
		`<time datetime="2024-11-22T06:12:00Z" title="2024-11-22 06:12 UTC">3 days ago</time>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Vendors in the order of the assessment: fleet first, worst first.
	if a, i := strings.Index(page, `<span class="code">AMD</span>`), strings.Index(page, `<span class="code">IFX</span>`); a > i {
		t.Error("the fleet's AMD card comes after IFX")
	}
	// Only the failing hosts are listed, not the 329 that answer.
	if n := strings.Count(page, "<tr>"); n > 4+1+3+5 {
		t.Errorf("%d table rows", n)
	}
}

// TestPageStates renders the page for the other verdicts and for odd states.
func TestPageStates(t *testing.T) {
	f := novFixture(t)
	render := func(st *state.State) string {
		t.Helper()
		res, body := do(t, NewHandler(f.options(st)), "GET", "/")
		if res.StatusCode != 200 {
			t.Fatalf("status %d: %s", res.StatusCode, body)
		}
		return string(body)
	}

	// Nothing known yet.
	page := render(&state.State{Refresh: state.RefreshStatus{LastAttempt: fixtureNow, Error: "dial tcp: lookup go.microsoft.com: no such host", Failures: 2}})
	for _, want := range []string{"<title>UNKNOWN · aikwatch</title>", `class="hero v-unknown"`, "cannot decide: no trust list has been read yet",
		"No release committed yet.", "no such host", "<dd>—</dd>", "No AIK host known yet", "No AIK host is failing.", "No EK service is watched."} {
		if !strings.Contains(page, want) {
			t.Errorf("empty state: the page lacks %q", want)
		}
	}

	// Every host answers: go; the EK service recovered.
	st := f.clone()
	for i := range st.Hosts {
		if st.Hosts[i].InTrustList {
			st.Hosts[i].Status, st.Hosts[i].Failures = probes.StatusOK, 0
		}
	}
	st.Hosts = st.Hosts[:len(st.Hosts)-1]
	for i, h := range st.Hosts {
		if h.Host == droppedHost {
			st.Hosts = append(st.Hosts[:i], st.Hosts[i+1:]...)
			break
		}
	}
	st.EKServices[1].OK = true
	page = render(st)
	if !strings.Contains(page, `class="hero v-go"`) || !strings.Contains(page, "No AIK host is failing.") || strings.Contains(page, "What stands in the way") {
		t.Errorf("all ok: %s", extract(page, "hero"))
	}

	// Hostile text from the network is escaped, never markup.
	st = f.clone()
	st.Refresh.OK, st.Refresh.Error = false, `<script>alert(1)</script>`
	st.Refresh.Refused = &state.Refusal{At: fixtureNow, Reason: `not a trust list: <img src=x onerror=alert(1)>`}
	st.Hosts[0].Status, st.Hosts[0].Last = probes.StatusHTTPError, &probes.Result{HTTPStatus: 500, Message: `"><b>bold</b>`}
	page = render(st)
	for _, bad := range []string{"<script>alert", "<img src=x", "<b>bold</b>"} {
		if strings.Contains(page, bad) {
			t.Errorf("unescaped %q in the page", bad)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(page, "refused</span>") {
		t.Error("the escaped refresh error or the refusal is missing")
	}

	// Many failing hosts: the table is capped and says where the rest are.
	st = f.clone()
	for i := range st.Hosts {
		st.Hosts[i].Status = probes.StatusTimeout
	}
	page = render(st)
	if !strings.Contains(page, fmt.Sprintf("and %d more", len(st.Hosts)-pageMaxFailing)) || !strings.Contains(page, "/api/v1/hosts?status=failing") {
		t.Errorf("capped table: %s", extract(page, "failing-h"))
	}
}

// extract returns a little of page around marker, for failure messages.
func extract(page, marker string) string {
	i := strings.Index(page, marker)
	if i < 0 {
		return "(no " + marker + ")"
	}
	return page[i:min(len(page), i+600)]
}

func TestRelTime(t *testing.T) {
	now := fixtureNow
	for d, want := range map[time.Duration]string{
		-10 * time.Second: "just now", 10 * time.Second: "in under a minute",
		-5 * time.Minute: "5 min ago", -3 * time.Hour: "3 h ago", -47 * time.Hour: "47 h ago", -72 * time.Hour: "3 days ago",
		40 * time.Minute: "in 40 min", -200 * 24 * time.Hour: "7 months ago", 3 * 365 * 24 * time.Hour: "in 3 years",
	} {
		if got := relTime(now.Add(d), now); got != want {
			t.Errorf("%s: %q, want %q", d, got, want)
		}
	}
	if got := commonName(`CN=Foo\, Inc CA,O=Foo`); got != "Foo, Inc CA" {
		t.Errorf("commonName: %q", got)
	}
	if got := commonName("O=Foo"); got != "O=Foo" {
		t.Errorf("commonName without CN: %q", got)
	}
}

// TestPageChromium loads the status page in headless Chromium from a loopback server and
// checks what a person sees: the verdict, the withdrawn host, the vendor cards, the release;
// that the verdict is coloured, that a phone-sized screen needs no sideways scrolling and that
// dark mode applies. With AIKWATCH_UPDATE_SCREENSHOT=1 it writes docs/status-page.png.
func TestPageChromium(t *testing.T) {
	bin := testutil.RequireTool(t, "chromium")
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := novFixture(t)
	st := *f.st
	st.Canaries = pageCanaries()
	srv := httptest.NewServer(NewHandler(f.options(&st)))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("the test server is not on loopback: %s", srv.URL)
	}

	// The whole browser lives within this deadline: when it passes, Chromium is killed and
	// the actions fail.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(bin),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("force-color-profile", "srgb"),
		// Nothing but the loopback test server resolves.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	defer bcancel()

	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(bctx, 30*time.Second)
		defer scancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		sctx, scancel := context.WithTimeout(bctx, 30*time.Second)
		defer scancel()
		s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	eval := func(js string) string {
		t.Helper()
		sctx, scancel := context.WithTimeout(bctx, 30*time.Second)
		defer scancel()
		s, err := chromedp.Run(sctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluating %s: %v", js, err)
		}
		return s
	}

	// Start the browser on the context without a deadline of its own (a step's deadline would
	// stop the browser with it); the allocator's deadline bounds it.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	step("load the page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("verdict")),
		chromedp.WaitVisible(chromedp.CSS("section[aria-labelledby=failing-h] table")))

	if v := text("#verdict"); !strings.Contains(v, "NO-GO") {
		t.Errorf("verdict text %q", v)
	}
	if s := text(".hero .summary"); !strings.Contains(s, "no-go for") {
		t.Errorf("summary %q", s)
	}
	if bg := eval(`getComputedStyle(document.querySelector('.hero')).backgroundColor`); bg != "rgb(201, 37, 47)" {
		t.Errorf("the no-go banner's background is %s, want red", bg)
	}
	failing := text("section[aria-labelledby=failing-h] table")
	for _, h := range []string{withdrawnHost, droppedHost, f.timeout, f.badReq} {
		if !strings.Contains(failing, strings.TrimSuffix(h, trustlist.AIKHostSuffix)) {
			t.Errorf("the failing-hosts table lacks %s:\n%s", h, failing)
		}
	}
	if !strings.Contains(failing, "withdrawn") || !strings.Contains(failing, "fleet") {
		t.Errorf("the failing-hosts table lacks the status or the fleet badge:\n%s", failing)
	}
	vendors := text(".vendors")
	for _, v := range []string{"AMD", "INTC", "IFX", "NTC", "STM", "NO-GO", "DEGRADED", "GO", "fleet"} {
		if !strings.Contains(vendors, v) {
			t.Errorf("the vendor cards lack %q:\n%s", v, vendors)
		}
	}
	if r := text(".release-date"); !strings.Contains(r, "2024-11-21") {
		t.Errorf("release %q", r)
	}
	if c := text("section[aria-labelledby=changes-h]"); !strings.Contains(c, "2024-06-11 → 2024-11-21") || !strings.Contains(c, "31 AIK hosts added") {
		t.Errorf("changes %q", c)
	}
	if e := text("section[aria-labelledby=ek-h]"); !strings.Contains(e, "AMD fTPM") || !strings.Contains(e, "down") {
		t.Errorf("EK services %q", e)
	}

	if c := text("section[aria-labelledby=canaries-h]"); !strings.Contains(c, "lab-ifx-1") || !strings.Contains(c, "clock: clock_skew") ||
		!strings.Contains(c, "lab-amd-1") || !strings.Contains(c, "passing") {
		t.Errorf("canaries %q", c)
	}

	if os.Getenv("AIKWATCH_UPDATE_SCREENSHOT") == "1" {
		sctx, scancel := context.WithTimeout(bctx, 30*time.Second)
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		scancel()
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		out := filepath.Join(testutil.RepoRoot(), "docs", "status-page.png")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", out, len(png))
	}

	// A phone: one column, nothing wider than the screen.
	step("phone viewport", chromedp.EmulateViewport(375, 800, chromedp.EmulateMobile))
	if w := eval(`String(document.documentElement.scrollWidth) + "/" + String(window.innerWidth)`); !sameWidth(w) {
		t.Errorf("on a 375 px screen the page is wider than the screen (scrollWidth/innerWidth %s)", w)
	}
	shot(t, bctx, "phone")

	// Dark mode follows the system setting.
	step("dark mode", chromedp.EmulateViewport(1280, 900),
		chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
			return chromedp.Void{}, err
		}))
	if bg := eval(`getComputedStyle(document.body).backgroundColor`); bg != "rgb(13, 17, 23)" {
		t.Errorf("dark mode body background %s", bg)
	}
	shot(t, bctx, "dark")

	bcancel()
	acancel()
	srv.Close()
}

// sameWidth reports whether "scrollWidth/innerWidth" has no horizontal overflow.
func sameWidth(s string) bool {
	var sw, iw int
	if _, err := fmt.Sscanf(s, "%d/%d", &sw, &iw); err != nil {
		return false
	}
	return sw <= iw
}

// shot writes a screenshot to $AIKWATCH_SCREENSHOT_DIR/status-page-<name>.png when that is set
// (for looking at the phone and dark layouts while working on the page).
func shot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("AIKWATCH_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "status-page-"+name+".png"), png, 0o644); err != nil {
		t.Error(err)
	}
}

// BenchmarkPage renders the status page of the full Nov-2024 state (assessment included).
func BenchmarkPage(b *testing.B) {
	f := novFixture(b)
	h := NewHandler(f.options(f.st)).(*handler)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := h.renderPage(&buf, f.st, fixtureNow); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/page")
}

// BenchmarkPageHTTP serves the page through the handler, headers included.
func BenchmarkPageHTTP(b *testing.B) {
	f := novFixture(b)
	h := NewHandler(f.options(f.st))
	req := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
		io.Copy(io.Discard, rec.Body)
	}
}

// pageCanaries are two Windows canaries for the page: one whose clock is off, one passing.
func pageCanaries() []state.CanaryState {
	mk := func(name, vendor, host string, checks ...canary.Check) state.CanaryState {
		r := canary.Report{Version: canary.ReportVersion, Canary: name, Agent: "aikwatch-canary/v1", Started: fixtureNow.Add(-11 * time.Minute),
			Finished: fixtureNow.Add(-10 * time.Minute), IntervalSeconds: 3600, TPM: &canary.TPMInfo{ManufacturerID: vendor},
			AIKHost: host, Checks: checks}
		ok := true
		for _, c := range checks {
			ok = ok && !state.CanaryCheckFailed(c)
		}
		at := fixtureNow.Add(-10 * time.Minute)
		c := state.CanaryState{Name: name, Report: r, Received: at, OK: ok, Since: at.Add(-2 * time.Hour), StaleAt: state.CanaryStaleAt(at, r, 0)}
		if !ok {
			c.Failures = 2
		}
		return c
	}
	return []state.CanaryState{
		mk("lab-amd-1", "AMD", "amd-keyid-12fb8b78860586207cb1433c9253cdaf9ecaace5.microsoftaik.azure.net",
			canary.Check{Name: canary.CheckTPM, Status: canary.StatusOK}, canary.Check{Name: canary.CheckEnrollAIK, Status: canary.StatusOK}),
		mk("lab-ifx-1", "IFX", "ifx-keyid-43325af5500406548930cda9a67dc78067b97801.microsoftaik.azure.net",
			canary.Check{Name: canary.CheckTPM, Status: canary.StatusOK},
			canary.Check{Name: canary.CheckClock, Status: canary.StatusClockSkew, Message: "the device clock is 14 min slow: Windows rejects the AIK certificate (back-dated 10 min)"},
			canary.Check{Name: canary.CheckEKCert, Status: canary.StatusUnsupported, Message: "PowerShell is not available"}),
	}
}
