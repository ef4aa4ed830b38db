package alerts

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

func TestRulesListing(t *testing.T) {
	rules := Rules()
	if len(rules) != 16 {
		t.Fatalf("%d rules", len(rules))
	}
	seen := map[string]bool{}
	for _, r := range rules {
		if r.Name == "" || r.Description == "" || r.Resolves == "" || r.Severity.rank() == 0 || r.Runbook != strings.ToLower(r.Name) || seen[r.Name] {
			t.Errorf("rule %+v", r)
		}
		seen[r.Name] = true
		if n, ok := RuleName(strings.ToUpper(r.Name)); !ok || n != r.Name {
			t.Errorf("RuleName(%s) = %q %v", strings.ToUpper(r.Name), n, ok)
		}
	}
	if _, ok := RuleName("nope"); ok {
		t.Error("unknown rule found")
	}
}

// keyed returns the alerts of rule by subject key suffix.
func keyed(t *testing.T, e *Engine, rule string) map[string]Alert {
	t.Helper()
	out := map[string]Alert{}
	for k, a := range alertsByKey(t, e) {
		if a.Rule == rule {
			out[strings.TrimPrefix(k, rule+"/")] = a
		}
	}
	return out
}

func TestRuleEKCAExpiry(t *testing.T) {
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"INTC": 3})
	cfg := testConfig()
	cfg.Fleet = state.Fleet{Hosts: []string{hostName("INTC", 2)}}
	rec := &recorder{clk: clk}
	e := newTestEngine(t, openStore(t), cfg, clk, rec)
	now := clk.Now()
	w.st.EKCAs = []probes.EKCAStatus{
		{Path: "Intel/IntermediateCA/a.cer", Subject: "CN=A", NotAfter: now.Add(20 * 24 * time.Hour), AIKHost: hostName("INTC", 0)},
		{Path: "Intel/IntermediateCA/b.cer", Subject: "CN=B", NotAfter: now.Add(5 * 24 * time.Hour), AIKHost: hostName("INTC", 1)},
		{Path: "Intel/IntermediateCA/c.cer", Subject: "CN=C", NotAfter: now.Add(-24 * time.Hour), Expired: true, AIKHost: hostName("INTC", 1)},
		{Path: "Intel/IntermediateCA/d.cer", Subject: "CN=D", NotAfter: now.Add(5 * 24 * time.Hour)},
		{Path: "Intel/IntermediateCA/e.cer", Subject: "CN=E", NotAfter: now.Add(40 * 24 * time.Hour), AIKHost: hostName("INTC", 0)},
		{Path: "Intel/IntermediateCA/f.cer", Subject: "CN=F", NotAfter: now.Add(25 * 24 * time.Hour), AIKHost: hostName("INTC", 2)},
	}
	mustEval(t, e, w.doSweep(nil))
	exp := keyed(t, e, RuleEKCAExpiring)
	want := map[string]Severity{"Intel/IntermediateCA/a.cer": SeverityWarning, "Intel/IntermediateCA/b.cer": SeverityCritical,
		"Intel/IntermediateCA/f.cer": SeverityCritical /* fleet */}
	if len(exp) != len(want) {
		t.Fatalf("expiring: %v", exp)
	}
	for k, sev := range want {
		if a := exp[k]; a.Severity != sev || a.State != StateFiring || a.Vendor != "INTC" {
			t.Errorf("%s: %s %s vendor %q, want %s", k, a.State, a.Severity, a.Vendor, sev)
		}
	}
	if ex := keyed(t, e, RuleEKCAExpired); len(ex) != 1 || ex["Intel/IntermediateCA/c.cer"].Severity != SeverityWarning {
		t.Fatalf("expired: %v", ex)
	}

	// 16 days later A is within 7 days: critical now, announced again in its group's thread.
	clk.Advance(16 * 24 * time.Hour)
	mustEval(t, e, w.doSweep(nil))
	if a := keyed(t, e, RuleEKCAExpiring)["Intel/IntermediateCA/a.cer"]; a.Severity != SeverityCritical {
		t.Fatalf("A after 16 days: %s", a.Severity)
	}
	var aNotes []Notification
	for _, o := range outbox(t, e) {
		for _, a := range o.Notification.Alerts {
			if a.Key == RuleEKCAExpiring+"/Intel/IntermediateCA/a.cer" {
				aNotes = append(aNotes, o.Notification)
			}
		}
	}
	if len(aNotes) != 2 || aNotes[1].Kind != KindFiring || aNotes[1].Severity != SeverityCritical || aNotes[0].ThreadKey != aNotes[1].ThreadKey {
		t.Fatalf("A's notifications: %+v", aNotes)
	}
	// B expired in the meantime: EKCAExpired takes over, EKCAExpiring resolves.
	if _, ok := keyed(t, e, RuleEKCAExpired)["Intel/IntermediateCA/b.cer"]; !ok {
		t.Error("B expired but no EKCAExpired")
	}
	if a := keyed(t, e, RuleEKCAExpiring)["Intel/IntermediateCA/b.cer"]; a.State != StateResolved {
		t.Errorf("B expiring: %s", a.State)
	}
}

func TestRuleAIKCAExpiring(t *testing.T) {
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"AMD": 3})
	e := newTestEngine(t, openStore(t), testConfig(), clk)
	now := clk.Now()
	rel := *w.st.Release
	rel.AIKHosts = append([]trustlist.AIKHost(nil), rel.AIKHosts...)
	rel.AIKHosts[0].LatestNotAfter = now.Add(20 * 24 * time.Hour) // the service serves a later one
	rel.AIKHosts[1].LatestNotAfter = now.Add(3 * 24 * time.Hour)
	rel.AIKHosts[2].LatestNotAfter = now.Add(-time.Hour)
	w.st.Release = &rel
	st := w.doSweep(nil)
	st.Hosts[0].Last.AIKCA = &probes.AIKCA{Subject: "CN=AMD-KEYID-0", NotAfter: now.Add(90 * 24 * time.Hour)}
	st.Hosts[1].Last.AIKCA = &probes.AIKCA{Subject: "CN=AMD-KEYID-1", NotAfter: now.Add(2 * 24 * time.Hour)}
	mustEval(t, e, st)
	got := keyed(t, e, RuleAIKCAExpiring)
	if len(got) != 2 || got[hostName("AMD", 1)].Severity != SeverityCritical || got[hostName("AMD", 2)].Severity != SeverityCritical {
		t.Fatalf("%v", got)
	}
	if s := got[hostName("AMD", 2)].Summary; !strings.Contains(s, "has no valid AIK CA certificate since") {
		t.Errorf("expired summary %q", s)
	}
}

func TestRuleTrustListSignatureAndStale(t *testing.T) {
	noLeaks(t)
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"IFX": 1})
	rec := &recorder{clk: clk}
	cfg := testConfig()
	cfg.EvalInterval = time.Minute
	e := newTestEngine(t, openStore(t), cfg, clk, rec)
	w.st.Refresh.Refused = &state.Refusal{At: clk.Now(), SHA256: strings.Repeat("f", 64), Reason: "signature invalid (digest_mismatch)"}
	mustEval(t, e, w.snapshot())
	a := alertsByKey(t, e)[RuleTrustListSignatureInvalid]
	if a.State != StateFiring || a.Severity != SeverityCritical || !strings.Contains(a.Summary, "digest_mismatch") {
		t.Fatalf("refused: %+v", a)
	}
	// A good release committed later resolves it.
	w.st.ReleaseSince = clk.Now().Add(time.Second)
	mustEval(t, e, w.snapshot())
	if a := alertsByKey(t, e)[RuleTrustListSignatureInvalid]; a.State != StateResolved {
		t.Fatalf("after a good release: %s", a.State)
	}

	// No refresh for over 24 hours: the periodic evaluation notices without a state change.
	e.Start(context.Background())
	clk.Advance(24 * time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for alertsByKey(t, e)[RuleTrustListStale].State != StateFiring {
		if time.Now().After(deadline) {
			t.Fatal("no stale alert from the periodic evaluation")
		}
		clk.Advance(time.Minute)
		time.Sleep(time.Millisecond)
	}
	if since := clk.Now().Sub(w.st.Refresh.LastSuccess); since <= 24*time.Hour {
		t.Errorf("stale after %s", since)
	}
	w.st.Refresh.LastSuccess = clk.Now()
	mustEval(t, e, w.snapshot())
	if a := alertsByKey(t, e)[RuleTrustListStale]; a.State != StateResolved {
		t.Fatalf("after a refresh: %s", a.State)
	}
}

func TestRuleReleaseEvents(t *testing.T) {
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"IFX": 2})
	rec := &recorder{clk: clk}
	e := newTestEngine(t, openStore(t), testConfig(), clk, rec)
	d1 := diffAdding(hostName("NTC", 1))
	d1.EKCAsRemoved = []trustlist.EKCAChange{{Path: "Nuvoton/IntermediateCA/x.cer", Subject: "CN=NTC X", AIKHost: hostName("NTC", 9)}}
	d1.ChangelogMismatches = []trustlist.ChangelogMismatch{{Kind: trustlist.MismatchRemovedButShipped, Item: "IFX-KEYID-1", Path: "Microsoft/IntermediateCA/IFX-KEYID-1.cer", Date: "2025-02-01"}}
	w.st.Changes = []state.ReleaseChange{{At: clk.Now(), Diff: d1}}
	mustEval(t, e, w.snapshot())
	as := alertsByKey(t, e)
	sha := d1.To.SHA256
	for key, sev := range map[string]Severity{RuleTrustListChanged + "/" + sha: SeverityInfo,
		RuleTrustListChangelogMismatch + "/" + sha:                                 SeverityInfo,
		RuleEKCARemovedFromTrustList + "/" + sha + "/Nuvoton/IntermediateCA/x.cer": SeverityWarning} {
		if a := as[key]; a.State != StateFiring || a.Severity != sev {
			t.Errorf("%s: %s %s", key, a.State, a.Severity)
		}
	}
	if ch := as[RuleTrustListChanged+"/"+sha]; !strings.Contains(strings.Join(ch.Evidence, "\n"), "AIK host added: "+hostName("NTC", 1)) {
		t.Errorf("changed evidence %q", ch.Evidence)
	}
	if n := len(outbox(t, e)); n != 3 {
		t.Fatalf("%d notifications, want 3 (one per event rule)", n)
	}
	// Re-evaluating does not notify again; a newer release resolves them silently.
	mustEval(t, e, w.snapshot())
	d2 := diffAdding(hostName("NTC", 2))
	d2.To.SHA256 = strings.Repeat("d", 64)
	w.st.Changes = append([]state.ReleaseChange{{At: clk.Now(), Diff: d2}}, w.st.Changes...)
	mustEval(t, e, w.snapshot())
	as = alertsByKey(t, e)
	if as[RuleTrustListChanged+"/"+sha].State != StateResolved || as[RuleTrustListChangelogMismatch+"/"+sha].State != StateResolved ||
		as[RuleTrustListChanged+"/"+d2.To.SHA256].State != StateFiring {
		t.Fatalf("after a newer release: %v", as)
	}
	o := outbox(t, e)
	if len(o) != 4 || o[3].Notification.Kind != KindFiring || o[3].Notification.Rule != RuleTrustListChanged {
		t.Fatalf("outbox after a newer release: %d entries", len(o))
	}
	// A release that only removes things is not a TrustListChanged.
	d3 := &trustlist.Diff{From: d2.To, To: trustlist.ReleaseRef{SHA256: strings.Repeat("e", 64)},
		Removed: []trustlist.MemberChange{{Path: "x.cer"}}}
	w.st.Changes = append([]state.ReleaseChange{{At: clk.Now(), Diff: d3}}, w.st.Changes...)
	mustEval(t, e, w.snapshot())
	if _, ok := alertsByKey(t, e)[RuleTrustListChanged+"/"+d3.To.SHA256]; ok {
		t.Error("TrustListChanged for a release that only removes")
	}
}

func TestRuleEKServiceDown(t *testing.T) {
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"IFX": 1})
	cfg := testConfig()
	cfg.Fleet = state.Fleet{Vendors: []string{"INTC"}}
	e := newTestEngine(t, openStore(t), cfg, clk)
	svc := func(failures int) []state.EKServiceState {
		return []state.EKServiceState{
			{Name: "Intel", URL: "https://ekop.intel.com/ekcertservice/", OK: failures == 0, Failures: failures,
				Last: &probes.EKResult{Service: "Intel", Status: "http_error", HTTPStatus: 503, Error: "HTTP 503"}},
			{Name: "AMD", URL: "https://ftpm.amd.com/pki/aia/", OK: true, Last: &probes.EKResult{Service: "AMD", Status: "ok"}},
		}
	}
	w.st.EKServices = svc(1)
	mustEval(t, e, w.snapshot())
	if a := alertsByKey(t, e)[RuleEKServiceDown+"/intel"]; a.State != StatePending {
		t.Fatalf("one failure: %s", a.State)
	}
	w.st.EKServices = svc(2)
	mustEval(t, e, w.snapshot())
	a := alertsByKey(t, e)[RuleEKServiceDown+"/intel"]
	if a.State != StateFiring || a.Vendor != "INTC" || a.Severity != SeverityCritical || !a.Fleet {
		t.Fatalf("two failures: %+v", a)
	}
	w.st.EKServices = svc(0)
	mustEval(t, e, w.snapshot())
	if a := alertsByKey(t, e)[RuleEKServiceDown+"/intel"]; a.State != StateResolved {
		t.Fatalf("recovered: %s", a.State)
	}
}

func TestRuleEndpointCategories(t *testing.T) {
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"STM": 6})
	cfg := testConfig()
	cfg.SlowThreshold = 2 * time.Second
	e := newTestEngine(t, openStore(t), cfg, clk)
	h := func(i int) string { return hostName("STM", i) }
	fails := map[string]result{
		h(0): {status: probes.StatusHTTPError, http: 400},
		h(1): {status: probes.StatusHTTPError, http: 502},
		h(2): {status: probes.StatusDNSError},
		h(3): {status: probes.StatusBadResponse, http: 200},
		h(4): {status: probes.StatusOK, http: 200, dur: 3},
		h(5): {status: probes.StatusThrottled, http: 429},
	}
	for range 2 {
		clk.Advance(15 * time.Minute)
		mustEval(t, e, w.doSweep(fails))
	}
	got := map[string]string{}
	for _, a := range alertsByKey(t, e) {
		got[a.Host] = a.Rule + " " + string(a.State)
	}
	want := map[string]string{
		h(1): RuleAIKEndpointDown + " firing",
		h(2): RuleAIKEndpointDown + " firing",
		h(4): RuleAIKEndpointSlow + " firing",
		h(5): RuleAIKEndpointThrottled + " firing",
	}
	if len(got) != len(want) {
		t.Fatalf("alerts %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	// The status changes from down to withdrawn: withdrawn counts its own sweeps.
	fails[h(1)] = result{status: probes.StatusWithdrawn, http: 404}
	clk.Advance(15 * time.Minute)
	mustEval(t, e, w.doSweep(fails))
	as := alertsByKey(t, e)
	if a := as[RuleAIKEndpointWithdrawn+"/"+h(1)]; a.State != StatePending || a.Count != 1 {
		t.Errorf("withdrawn after down: %s count %d", a.State, a.Count)
	}
	if a := as[RuleAIKEndpointDown+"/"+h(1)]; a.State != StateResolved {
		t.Errorf("down after withdrawn: %s", a.State)
	}

	// A host the daemon stops watching resolves, saying so.
	w.st.Hosts = w.st.Hosts[:5]
	mustEval(t, e, w.snapshot())
	if a := alertsByKey(t, e)[RuleAIKEndpointThrottled+"/"+h(5)]; a.State != StateResolved || !strings.HasPrefix(a.Summary, "no longer watched") {
		t.Errorf("unwatched host: %s %q", a.State, a.Summary)
	}
}

func TestCountersSurviveRestart(t *testing.T) {
	clk := newFakeClock()
	st := openStore(t)
	w := newWorld(clk, map[string]int{"WEC": 2})
	slow := map[string]result{hostName("WEC", 1): {status: probes.StatusOK, http: 200, dur: 8}}
	e1 := newTestEngine(t, st, testConfig(), clk)
	mustEval(t, e1, w.doSweep(slow))
	e1.Close()
	clk.Advance(15 * time.Minute)
	e2 := newTestEngine(t, st, testConfig(), clk)
	mustEval(t, e2, w.doSweep(slow))
	if a := alertsByKey(t, e2)[RuleAIKEndpointSlow+"/"+hostName("WEC", 1)]; a.State != StateFiring || a.Count != 2 {
		t.Fatalf("slow across a restart: %s count %d", a.State, a.Count)
	}
}

func TestNewEngineRefusesBadConfig(t *testing.T) {
	st := openStore(t)
	for name, tc := range map[string]struct {
		cfg Config
		ns  []Notifier
	}{
		"crit longer than warn": {cfg: Config{ExpiryWarn: time.Hour, ExpiryCrit: 2 * time.Hour}},
		"negative sweeps":       {cfg: Config{ConsecutiveSweeps: -1}},
		"negative rate":         {cfg: Config{RatePerSecond: -1}},
		"bad silence":           {cfg: Config{Silences: []Silence{{Rule: "Nope", Until: t0.Add(time.Hour)}}}},
		"empty silence":         {cfg: Config{Silences: []Silence{{Until: t0.Add(time.Hour)}}}},
		"duplicate notifiers":   {ns: []Notifier{&recorder{}, &recorder{}}},
	} {
		if _, err := NewEngine(st, tc.cfg, tc.ns, nil, newFakeClock()); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewEngine(nil, Config{}, nil, nil, nil); err == nil {
		t.Error("no store: no error")
	}
}

func TestPruneHistory(t *testing.T) {
	noLeaks(t)
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"IFX": 1})
	rec := &recorder{clk: clk}
	cfg := testConfig()
	cfg.KeepHistory = 2 * time.Hour
	e := newTestEngine(t, openStore(t), cfg, clk, rec)
	e.Start(context.Background())
	down := map[string]result{hostName("IFX", 0): {status: probes.StatusTimeout}}
	for range 2 {
		clk.Advance(15 * time.Minute)
		mustEval(t, e, w.doSweep(down))
	}
	clk.Advance(15 * time.Minute)
	mustEval(t, e, w.doSweep(nil))
	runUntil(t, clk, idle(e))
	if _, err := e.Silence(Silence{Vendor: "AMD", Until: clk.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if len(outbox(t, e)) != 2 || len(alertsByKey(t, e)) != 1 {
		t.Fatal("nothing to prune")
	}
	clk.Advance(3 * time.Hour)
	mustEval(t, e, w.doSweep(nil))
	if n, a := len(outbox(t, e)), len(alertsByKey(t, e)); n != 0 || a != 0 {
		t.Fatalf("after pruning: %d outbox entries, %d alerts", n, a)
	}
	var n int
	if err := e.store.ForEach(bucketSilences, func(string, []byte) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("%d silences kept (%v)", n, err)
	}
	if err := e.store.ForEach(bucketThreads, func(k string, _ []byte) error { return errors.New("kept " + k) }); err != nil {
		t.Fatal(err)
	}
}
