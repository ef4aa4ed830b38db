package alerts

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/store"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

func TestWithdrawal40HostsOneVendorOneMessage(t *testing.T) {
	noLeaks(t)
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"IFX": 60, "AMD": 10})
	rec := &recorder{clk: clk}
	e := newTestEngine(t, openStore(t), testConfig(), clk, rec)
	mustEval(t, e, w.doSweep(nil))
	var hosts []string
	for i := range 40 {
		hosts = append(hosts, hostName("IFX", i))
	}
	clk.Advance(time.Minute)
	mustEval(t, e, w.withdraw(hosts...))

	e.Start(context.Background())
	runUntil(t, clk, idle(e))
	msgs := rec.messages()
	if len(msgs) != 1 {
		for _, m := range msgs {
			t.Logf("message: %s", m.N.Title)
		}
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	n := msgs[0].N
	if n.Rule != RuleAIKCAWithdrawnFromTrustList || n.Kind != KindFiring || len(n.Alerts) != 40 || n.Severity != SeverityCritical {
		t.Fatalf("message %s %s with %d alerts, severity %s", n.Rule, n.Kind, len(n.Alerts), n.Severity)
	}
	if n.Group != RuleAIKCAWithdrawnFromTrustList+"/IFX" || !strings.Contains(n.Title, "40 AIK hosts of IFX") {
		t.Errorf("group %q title %q", n.Group, n.Title)
	}
	t.Logf("title: %s", n.Title)

	// A later release without them keeps them firing; one with them back resolves them, in the thread.
	clk.Advance(time.Hour)
	mustEval(t, e, w.doSweep(nil))
	if a := alertsByKey(t, e)[RuleAIKCAWithdrawnFromTrustList+"/"+hosts[0]]; a.State != StateFiring {
		t.Fatalf("after a sweep: %s", a.State)
	}
	rel := *w.st.Release
	rel.AIKHosts = append(rel.AIKHosts, aikHostsFor(hosts)...)
	w.st.Release = &rel
	clk.Advance(time.Hour)
	mustEval(t, e, w.snapshot())
	runUntil(t, clk, idle(e))
	msgs = rec.messages()
	if len(msgs) != 2 || msgs[1].N.Kind != KindResolved || len(msgs[1].N.Alerts) != 40 || msgs[1].ThreadRef != msgs[0].Ref {
		t.Fatalf("after the hosts came back: %d messages; last %s with %d alerts in thread %q (want %q)",
			len(msgs), msgs[len(msgs)-1].N.Kind, len(msgs[len(msgs)-1].N.Alerts), msgs[len(msgs)-1].ThreadRef, msgs[0].Ref)
	}
}

func TestStorm500HostsAtMost10Messages(t *testing.T) {
	noLeaks(t)
	clk := newFakeClock()
	per := map[string]int{}
	for i, v := range vendors {
		per[v] = 45 + i // 45..55: 550 hosts
	}
	w := newWorld(clk, per)
	rec := &recorder{clk: clk}
	e := newTestEngine(t, openStore(t), testConfig(), clk, rec)
	mustEval(t, e, w.doSweep(nil))

	// 500 hosts fail at once, in every way the endpoint rules know.
	kinds := []result{{status: probes.StatusTimeout}, {status: probes.StatusHTTPError, http: 503}, {status: probes.StatusTLSError},
		{status: probes.StatusConnectError}, {status: probes.StatusWithdrawn, http: 404}, {status: probes.StatusThrottled, http: 429}}
	fails := map[string]result{}
	for i, h := range w.st.Hosts {
		if i < 500 {
			fails[h.Host] = kinds[i%len(kinds)]
		}
	}
	for range 3 {
		clk.Advance(15 * time.Minute)
		mustEval(t, e, w.doSweep(fails))
	}
	firing := 0
	for _, a := range alertsByKey(t, e) {
		if a.State == StateFiring {
			firing++
		}
	}
	if firing != 500 {
		t.Fatalf("%d alerts firing, want 500", firing)
	}
	e.Start(context.Background())
	runUntil(t, clk, idle(e))
	msgs := rec.messages()
	for _, m := range msgs {
		t.Logf("%s %s: %s (%d alerts)", m.N.Kind, m.N.Group, m.N.Title, len(m.N.Alerts))
	}
	if len(msgs) > 10 {
		t.Fatalf("%d messages for 500 failing hosts, want at most 10", len(msgs))
	}
	total := 0
	for _, m := range msgs {
		total += len(m.N.Alerts)
	}
	if total != 500 {
		t.Errorf("messages name %d alerts, want 500", total)
	}

	// They all recover: at most one resolved message per group, in its thread.
	before := len(msgs)
	clk.Advance(15 * time.Minute)
	mustEval(t, e, w.doSweep(nil))
	runUntil(t, clk, idle(e))
	msgs = rec.messages()
	resolved := msgs[before:]
	if len(resolved) != before {
		t.Fatalf("%d resolved messages for %d groups", len(resolved), before)
	}
	for _, m := range resolved {
		if m.N.Kind != KindResolved || m.ThreadRef == "" {
			t.Errorf("%s %s in thread %q", m.N.Kind, m.N.Group, m.ThreadRef)
		}
	}
}

// aikHostsFor returns trust-list entries for hosts.
func aikHostsFor(hosts []string) (out []trustlist.AIKHost) {
	for _, h := range hosts {
		out = append(out, trustlist.AIKHost{Host: h, Vendor: hostVendor(h), LatestNotAfter: t0.AddDate(10, 0, 0)})
	}
	return out
}

func TestSlackOutageTenMinutesDeliversOnceInOrder(t *testing.T) {
	noLeaks(t)
	clk := newFakeClock()
	outageEnd := t0.Add(10 * time.Minute)
	rec := &recorder{clk: clk, dedup: true, fail: func(n Notification, call int) error {
		if clk.Now().Before(outageEnd) {
			if call%2 == 0 {
				return &RetryAfterError{After: 30 * time.Second, Err: errors.New("HTTP 429")}
			}
			return errors.New("HTTP 500 internal_error")
		}
		return nil
	}}
	w := newWorld(clk, map[string]int{"IFX": 5, "INTC": 5, "AMD": 5})
	e := newTestEngine(t, openStore(t), testConfig(), clk, rec)
	start := time.Now()
	e.Start(context.Background())
	mustEval(t, e, w.doSweep(nil))
	// Events keep coming during the outage: one host after another goes down for good.
	for i := range w.st.Hosts {
		if i%2 == 1 {
			continue
		}
		fails := map[string]result{}
		for _, x := range w.st.Hosts[:i+1] {
			fails[x.Host] = result{status: probes.StatusTimeout}
		}
		clk.Advance(40 * time.Second)
		mustEval(t, e, w.doSweep(fails))
	}
	runUntil(t, clk, idle(e))
	if clk.Now().Before(outageEnd) {
		t.Fatalf("done at %s of fake time, before the outage ended", clk.Now().Sub(t0))
	}
	entries := outbox(t, e)
	msgs := rec.messages()
	if len(msgs) != len(entries) {
		t.Fatalf("%d messages visible for %d outbox entries", len(msgs), len(entries))
	}
	seen := map[string]bool{}
	for i, m := range msgs {
		if seen[m.N.ID] {
			t.Errorf("notification %s visible twice", m.N.ID)
		}
		seen[m.N.ID] = true
		if entries[i].Notification.ID != m.N.ID || entries[i].Status != OutboxDelivered {
			t.Errorf("message %d is %s, outbox entry %d is %s (%s): out of order", i, m.N.ID, entries[i].Seq, entries[i].Notification.ID, entries[i].Status)
		}
		if i > 0 && m.At.Sub(msgs[i-1].At) < time.Second {
			t.Errorf("messages %d and %d %s apart on the engine's clock: over the rate limit", i-1, i, m.At.Sub(msgs[i-1].At))
		}
	}
	rec.mu.Lock()
	calls := rec.calls
	rec.mu.Unlock()
	t.Logf("%d messages delivered once each, in order, after %d attempts; %s of fake time took %s", len(msgs), calls,
		clk.Now().Sub(t0).Round(time.Second), time.Since(start).Round(time.Millisecond))
}

// crashingNotifier delivers, then "dies" before the outbox can mark the entry: it cancels
// the engine's context, as if the process had been killed.
type crashingNotifier struct {
	inner  Notifier
	cancel context.CancelFunc
	done   chan struct{}
}

func (c *crashingNotifier) Name() string { return c.inner.Name() }
func (c *crashingNotifier) Deliver(ctx context.Context, n Notification, threadRef string) (Delivery, error) {
	if _, err := c.inner.Deliver(ctx, n, threadRef); err != nil {
		return Delivery{}, err
	}
	c.cancel()
	close(c.done)
	return Delivery{}, errors.New("killed before marking")
}

func TestCrashBetweenSentAndMarkedNoDuplicate(t *testing.T) {
	noLeaks(t)
	clk := newFakeClock()
	st := openStore(t)
	rec := &recorder{clk: clk, dedup: true}
	w := newWorld(clk, map[string]int{"IFX": 3})
	ctx, cancel := context.WithCancel(context.Background())
	crash := &crashingNotifier{inner: rec, cancel: cancel, done: make(chan struct{})}
	e1 := newTestEngine(t, st, testConfig(), clk, crash)
	mustEval(t, e1, w.doSweep(nil))
	clk.Advance(time.Minute)
	mustEval(t, e1, w.withdraw(hostName("IFX", 0)))
	e1.Start(ctx)
	<-crash.done
	e1.Close()
	if n := pendingCount(t, e1); n != 1 {
		t.Fatalf("%d pending after the crash, want 1 (delivered but not marked)", n)
	}
	if rec.count() != 1 {
		t.Fatalf("%d visible before restart", rec.count())
	}

	e2 := newTestEngine(t, st, testConfig(), clk, rec)
	e2.Start(context.Background())
	runUntil(t, clk, idle(e2))
	rec.mu.Lock()
	calls := rec.calls
	rec.mu.Unlock()
	if rec.count() != 1 || calls != 2 {
		t.Fatalf("%d messages visible after %d attempts, want 1 after 2", rec.count(), calls)
	}
	o := outbox(t, e2)
	if len(o) != 1 || o[0].Status != OutboxDelivered || o[0].Ref != rec.messages()[0].Ref {
		t.Fatalf("outbox after restart: %+v", o)
	}
}

func TestAIKEndpointWithdrawnNeedsTwoSweeps(t *testing.T) {
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"AMD": 3})
	rec := &recorder{clk: clk}
	e := newTestEngine(t, openStore(t), testConfig(), clk, rec)
	h := hostName("AMD", 1)
	key := RuleAIKEndpointWithdrawn + "/" + h
	fails := map[string]result{h: {status: probes.StatusWithdrawn, http: 404}}

	mustEval(t, e, w.doSweep(fails))
	if a := alertsByKey(t, e)[key]; a.State != StatePending || a.Count != 1 {
		t.Fatalf("after one sweep: %s count %d", a.State, a.Count)
	}
	// Other state changes between sweeps do not count as sweeps.
	mustEval(t, e, w.snapshot())
	mustEval(t, e, w.snapshot())
	if a := alertsByKey(t, e)[key]; a.State != StatePending || len(outbox(t, e)) != 0 {
		t.Fatalf("after re-evaluations: %s, %d notifications", a.State, len(outbox(t, e)))
	}
	clk.Advance(15 * time.Minute)
	mustEval(t, e, w.doSweep(fails))
	a := alertsByKey(t, e)[key]
	if a.State != StateFiring || a.Count != 2 || a.Severity != SeverityCritical || !a.FiredAt.Equal(clk.Now()) {
		t.Fatalf("after two sweeps: %+v", a)
	}
	if o := outbox(t, e); len(o) != 1 || o[0].Notification.Rule != RuleAIKEndpointWithdrawn {
		t.Fatalf("outbox: %+v", o)
	}

	// A pending alert whose condition clears just goes away.
	h2 := hostName("AMD", 2)
	clk.Advance(15 * time.Minute)
	mustEval(t, e, w.doSweep(map[string]result{h: fails[h], h2: {status: probes.StatusTimeout}}))
	if a := alertsByKey(t, e)[RuleAIKEndpointDown+"/"+h2]; a.State != StatePending {
		t.Fatalf("down after one sweep: %s", a.State)
	}
	clk.Advance(15 * time.Minute)
	mustEval(t, e, w.doSweep(fails))
	if _, ok := alertsByKey(t, e)[RuleAIKEndpointDown+"/"+h2]; ok {
		t.Fatal("a pending alert that cleared is still listed")
	}
	if n := len(outbox(t, e)); n != 1 {
		t.Fatalf("%d notifications, want 1", n)
	}
}

func TestResolvedInThreadAndRepeats(t *testing.T) {
	noLeaks(t)
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"NTC": 2})
	rec := &recorder{clk: clk}
	cfg := testConfig()
	cfg.RepeatInterval = 6 * time.Hour
	e := newTestEngine(t, openStore(t), cfg, clk, rec)
	e.Start(context.Background())
	h := hostName("NTC", 0)
	down := map[string]result{h: {status: probes.StatusConnectError}}
	for range 2 {
		mustEval(t, e, w.doSweep(down))
		clk.Advance(15 * time.Minute)
	}
	runUntil(t, clk, func() bool { return rec.count() == 1 })

	// Sweeps every 15 minutes: no repeat before 6 h, one after.
	for range 22 {
		mustEval(t, e, w.doSweep(down))
		clk.Advance(15 * time.Minute)
	}
	if n := len(outbox(t, e)); n != 1 {
		t.Fatalf("%d notifications before the repeat interval", n)
	}
	clk.Advance(30 * time.Minute)
	mustEval(t, e, w.doSweep(down))
	runUntil(t, clk, func() bool { return rec.count() == 2 })
	clk.Advance(15 * time.Minute)
	mustEval(t, e, w.doSweep(nil))
	runUntil(t, clk, func() bool { return rec.count() == 3 })
	msgs := rec.messages()
	first, rep, res := msgs[0], msgs[1], msgs[2]
	if first.N.Kind != KindFiring || first.ThreadRef != "" {
		t.Errorf("first: %s in thread %q", first.N.Kind, first.ThreadRef)
	}
	if rep.N.Kind != KindRepeat || rep.ThreadRef != first.Ref || rep.N.ThreadKey != first.N.ID || !strings.HasPrefix(rep.N.Title, "Still firing") {
		t.Errorf("repeat: %s %q in thread %q (key %s), want thread %q", rep.N.Kind, rep.N.Title, rep.ThreadRef, rep.N.ThreadKey, first.Ref)
	}
	if res.N.Kind != KindResolved || res.ThreadRef != first.Ref || len(res.N.Alerts) != 1 || res.N.Alerts[0].State != StateResolved {
		t.Errorf("resolved: %s in thread %q with %d alerts", res.N.Kind, res.ThreadRef, len(res.N.Alerts))
	}
	ids := map[string]bool{first.N.ID: true, rep.N.ID: true, res.N.ID: true}
	if len(ids) != 3 {
		t.Errorf("notification IDs are not distinct: %s %s %s", first.N.ID, rep.N.ID, res.N.ID)
	}

	// A new episode gets a new thread.
	for range 2 {
		clk.Advance(15 * time.Minute)
		mustEval(t, e, w.doSweep(down))
	}
	runUntil(t, clk, func() bool { return rec.count() == 4 })
	if m := rec.messages()[3]; m.N.Kind != KindFiring || m.N.ThreadKey == first.N.ThreadKey || m.ThreadRef != "" {
		t.Errorf("second episode: %s thread key %s (first %s)", m.N.Kind, m.N.ThreadKey, first.N.ThreadKey)
	}
}

func TestSilencesSuppressAndExpire(t *testing.T) {
	noLeaks(t)
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"STM": 2, "IFX": 1})
	rec := &recorder{clk: clk}
	cfg := testConfig()
	cfg.Silences = []Silence{{Rule: "aikendpointslow", Until: t0.Add(365 * 24 * time.Hour), Comment: "known slow"}}
	e := newTestEngine(t, openStore(t), cfg, clk, rec)
	e.Start(context.Background())

	s, err := e.Silence(Silence{Vendor: "stm", Until: clk.Now().Add(2 * time.Hour), Comment: "maintenance"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Vendor != "STM" || s.ID == "" || !s.CreatedAt.Equal(clk.Now()) {
		t.Fatalf("silence %+v", s)
	}
	stm, ifx := hostName("STM", 0), hostName("IFX", 0)
	fails := map[string]result{stm: {status: probes.StatusTimeout}, ifx: {status: probes.StatusOK, http: 200, dur: 9}}
	for range 2 {
		clk.Advance(15 * time.Minute)
		mustEval(t, e, w.doSweep(fails))
	}
	as := alertsByKey(t, e)
	down, slow := as[RuleAIKEndpointDown+"/"+stm], as[RuleAIKEndpointSlow+"/"+ifx]
	if down.State != StateFiring || down.SilencedBy != s.ID || slow.State != StateFiring || slow.SilencedBy != "config-1" {
		t.Fatalf("down %s silenced by %q, slow %s silenced by %q", down.State, down.SilencedBy, slow.State, slow.SilencedBy)
	}
	if n := len(outbox(t, e)); n != 0 {
		t.Fatalf("%d notifications for silenced alerts", n)
	}
	sils, err := e.Silences()
	if err != nil || len(sils) != 2 || sils[0].ID != "config-1" {
		t.Fatalf("silences %+v %v", sils, err)
	}
	if err := e.Unsilence("config-1"); !errors.Is(err, ErrSilenceFromConfig) {
		t.Errorf("unsilencing the configuration's: %v", err)
	}
	if err := e.Unsilence("nope"); !errors.Is(err, ErrSilenceNotFound) {
		t.Errorf("unsilencing an unknown one: %v", err)
	}

	// The silence expires while the host is still down: its firing message goes out then.
	clk.Advance(2 * time.Hour)
	mustEval(t, e, w.doSweep(fails))
	runUntil(t, clk, func() bool { return rec.count() == 1 })
	if m := rec.messages()[0]; m.N.Rule != RuleAIKEndpointDown || m.N.Kind != KindFiring {
		t.Fatalf("after expiry: %s %s", m.N.Rule, m.N.Kind)
	}
	if sils, _ := e.Silences(); len(sils) != 1 {
		t.Errorf("expired silence still listed: %+v", sils)
	}

	// Unsilencing announces at once, without waiting for a state change.
	s2, err := e.Silence(Silence{Host: strings.TrimSuffix(ifx, ".microsoftaik.azure.net"), Rule: RuleAIKCAExpiring, Until: clk.Now().Add(time.Hour)})
	if err != nil || s2.Host != ifx {
		t.Fatalf("host silence %+v %v", s2, err)
	}
	if err := e.Unsilence(s2.ID); err != nil {
		t.Fatal(err)
	}
	// Resolution of a silenced alert sends nothing.
	clk.Advance(15 * time.Minute)
	mustEval(t, e, w.doSweep(nil))
	runUntil(t, clk, func() bool { return rec.count() == 2 })
	if m := rec.messages()[1]; m.N.Kind != KindResolved || m.N.Rule != RuleAIKEndpointDown {
		t.Fatalf("second message: %s %s", m.N.Rule, m.N.Kind)
	}
	if a := alertsByKey(t, e)[RuleAIKEndpointSlow+"/"+ifx]; a.State != StateResolved {
		t.Fatalf("slow: %s", a.State)
	}
	if n := len(outbox(t, e)); n != 2 {
		t.Fatalf("%d notifications, want 2", n)
	}

	for _, bad := range []Silence{
		{Until: clk.Now().Add(time.Hour)},
		{Rule: "NoSuchRule", Until: clk.Now().Add(time.Hour)},
		{Host: "example.com", Until: clk.Now().Add(time.Hour)},
		{Vendor: "I-F-X", Until: clk.Now().Add(time.Hour)},
		{Vendor: "IFX", Until: clk.Now().Add(-time.Hour)},
		{Vendor: "IFX"},
	} {
		if _, err := e.Silence(bad); !errors.Is(err, ErrInvalidSilence) {
			t.Errorf("silence %+v: %v", bad, err)
		}
	}
}

func TestFleetEscalation(t *testing.T) {
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"IFX": 2, "AMD": 2})
	cfg := testConfig()
	cfg.Fleet = state.Fleet{Vendors: []string{"amd"}, Hosts: []string{strings.TrimSuffix(hostName("IFX", 1), ".microsoftaik.azure.net")}}
	e := newTestEngine(t, openStore(t), cfg, clk, &recorder{clk: clk})
	slow := result{status: probes.StatusOK, http: 200, dur: 6}
	fails := map[string]result{hostName("IFX", 0): slow, hostName("IFX", 1): slow, hostName("AMD", 0): slow}
	for range 2 {
		clk.Advance(15 * time.Minute)
		mustEval(t, e, w.doSweep(fails))
	}
	as := alertsByKey(t, e)
	for h, want := range map[string]Severity{hostName("IFX", 0): SeverityWarning, hostName("IFX", 1): SeverityCritical, hostName("AMD", 0): SeverityCritical} {
		a := as[RuleAIKEndpointSlow+"/"+h]
		if a.State != StateFiring || a.Severity != want || a.Fleet != (want == SeverityCritical) {
			t.Errorf("%s: %s %s fleet %v, want %s", h, a.State, a.Severity, a.Fleet, want)
		}
	}
	// Info becomes warning for a change touching the fleet.
	st := w.snapshot()
	st.Changes = []state.ReleaseChange{{At: clk.Now(), Diff: diffAdding(hostName("AMD", 7))}}
	mustEval(t, e, st)
	if a := alertsByKey(t, e)[RuleTrustListChanged+"/"+st.Changes[0].Diff.To.SHA256]; a.Severity != SeverityWarning || !a.Fleet {
		t.Errorf("trust list changed for the fleet: %s fleet %v", a.Severity, a.Fleet)
	}
	for _, o := range outbox(t, e) {
		if o.Notification.Rule == RuleAIKEndpointSlow && strings.Contains(o.Notification.Group, "AMD") && o.Notification.Severity != SeverityCritical {
			t.Errorf("notification %s severity %s", o.Notification.Group, o.Notification.Severity)
		}
	}
}

func TestRestartResumesOutbox(t *testing.T) {
	noLeaks(t)
	clk := newFakeClock()
	st := openStore(t)
	w := newWorld(clk, map[string]int{"IFX": 2, "INTC": 2})
	down := &recorder{clk: clk, fail: func(Notification, int) error { return errors.New("HTTP 503") }}
	e1 := newTestEngine(t, st, testConfig(), clk, down)
	e1.Start(context.Background())
	mustEval(t, e1, w.doSweep(nil))
	clk.Advance(time.Minute)
	mustEval(t, e1, w.withdraw(hostName("IFX", 0)))
	clk.Advance(time.Minute)
	mustEval(t, e1, w.withdraw(hostName("INTC", 1)))
	runUntil(t, clk, func() bool { down.mu.Lock(); defer down.mu.Unlock(); return down.calls >= 3 })
	e1.Close()
	if n := pendingCount(t, e1); n != 2 {
		t.Fatalf("%d pending, want 2", n)
	}
	// Notified while stopped: recorded, delivered after the restart.
	clk.Advance(time.Minute)
	mustEval(t, e1, w.withdraw(hostName("INTC", 0)))

	rec := &recorder{clk: clk, name: down.Name()}
	e2 := newTestEngine(t, st, testConfig(), clk, rec)
	e2.Start(context.Background())
	runUntil(t, clk, idle(e2))
	msgs := rec.messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages after restart, want 3", len(msgs))
	}
	o := outbox(t, e2)
	for i, m := range msgs {
		if m.N.ID != o[i].Notification.ID {
			t.Errorf("message %d out of order", i)
		}
	}
	if o[0].Attempts < 2 || o[0].LastError != "" {
		t.Errorf("first entry: %d attempts, last error %q", o[0].Attempts, o[0].LastError)
	}
}

func TestNoNotifierKeepsState(t *testing.T) {
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"IFX": 2})
	e := newTestEngine(t, openStore(t), testConfig(), clk)
	e.Start(context.Background())
	h := hostName("IFX", 0)
	for range 2 {
		clk.Advance(15 * time.Minute)
		mustEval(t, e, w.doSweep(map[string]result{h: {status: probes.StatusTimeout}}))
	}
	if a := alertsByKey(t, e)[RuleAIKEndpointDown+"/"+h]; a.State != StateFiring {
		t.Fatalf("no notifier: %s", a.State)
	}
	if n := len(outbox(t, e)); n != 0 {
		t.Fatalf("%d outbox entries without a notifier", n)
	}
	clk.Advance(15 * time.Minute)
	mustEval(t, e, w.doSweep(nil))
	if a := alertsByKey(t, e)[RuleAIKEndpointDown+"/"+h]; a.State != StateResolved || !a.Resolved.Equal(clk.Now()) {
		t.Fatalf("no notifier, recovered: %s at %s", a.State, a.Resolved)
	}
}

func TestPermanentFailureStaysVisibleAndQueueMovesOn(t *testing.T) {
	noLeaks(t)
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"IFX": 1, "AMD": 1})
	rec := &recorder{clk: clk, fail: func(n Notification, call int) error {
		if call == 1 {
			return fmt.Errorf("channel_not_found: %w", ErrPermanent)
		}
		return nil
	}}
	e := newTestEngine(t, openStore(t), testConfig(), clk, rec)
	e.Start(context.Background())
	mustEval(t, e, w.doSweep(nil))
	mustEval(t, e, w.withdraw(hostName("IFX", 0)))
	clk.Advance(time.Minute)
	mustEval(t, e, w.withdraw(hostName("AMD", 0)))
	runUntil(t, clk, idle(e))
	o := outbox(t, e)
	if len(o) != 2 || o[0].Status != OutboxFailed || o[0].Attempts != 1 || !strings.Contains(o[0].LastError, "channel_not_found") || o[1].Status != OutboxDelivered {
		t.Fatalf("outbox %+v", o)
	}
	if rec.count() != 1 {
		t.Fatalf("%d visible", rec.count())
	}
}

func TestEventToMessageLatency(t *testing.T) {
	noLeaks(t)
	rec := &recorder{clk: realClock{}}
	w := newWorld(realClock{}, map[string]int{"IFX": 600, "AMD": 600, "INTC": 600})
	e := newTestEngine(t, openStore(t), Config{EvalInterval: -1, ConsecutiveSweeps: 1, RatePerSecond: 1000}, nil, rec)
	e.Start(context.Background())
	if err := e.Evaluate(w.doSweep(nil)); err != nil {
		t.Fatal(err)
	}
	var lat, evalTimes []time.Duration
	fails := map[string]result{}
	for i := range 5 {
		fails[w.st.Hosts[i*7].Host] = result{status: probes.StatusTimeout}
		st := w.doSweep(fails)
		start := time.Now()
		if err := e.Evaluate(st); err != nil {
			t.Fatal(err)
		}
		evalTimes = append(evalTimes, time.Since(start).Round(time.Microsecond))
		deadline := time.Now().Add(10 * time.Second)
		for rec.count() < i+1 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Microsecond)
		}
		if rec.count() < i+1 {
			t.Fatal("not delivered within 10 s")
		}
		lat = append(lat, rec.messages()[i].Real.Sub(start).Round(time.Microsecond))
	}
	t.Logf("1,800 hosts: Evaluate (one store transaction) took %v; event to message (Evaluate start to Deliver) %v", evalTimes, lat)
}

func TestNotificationIDsDistinctAtOneInstant(t *testing.T) {
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"IFX": 1})
	e := newTestEngine(t, openStore(t), Config{EvalInterval: -1, ConsecutiveSweeps: 1}, clk, &recorder{clk: clk})
	down := map[string]result{hostName("IFX", 0): {status: probes.StatusTimeout}}
	mustEval(t, e, w.doSweep(down))
	mustEval(t, e, w.doSweep(nil))
	mustEval(t, e, w.doSweep(down))
	o := outbox(t, e)
	if len(o) != 3 {
		t.Fatalf("%d notifications", len(o))
	}
	if o[0].Notification.ID == o[2].Notification.ID || o[0].Notification.ThreadKey == o[2].Notification.ThreadKey {
		t.Fatalf("two episodes opened at the same instant share the ID %s", o[0].Notification.ID)
	}
}

// BenchmarkEvaluate measures one evaluation of a sweep of 1,800 hosts, 20 of them failing.
func BenchmarkEvaluate(b *testing.B) {
	clk := newFakeClock()
	w := newWorld(clk, map[string]int{"IFX": 600, "INTC": 600, "AMD": 600})
	st, err := store.Open(filepath.Join(b.TempDir(), "aikwatch.db"), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e, err := NewEngine(st, Config{EvalInterval: -1}, []Notifier{&recorder{clk: clk}}, nil, clk)
	if err != nil {
		b.Fatal(err)
	}
	fails := map[string]result{}
	for i := range 20 {
		fails[w.st.Hosts[i*90].Host] = result{status: probes.StatusTimeout}
	}
	for b.Loop() {
		clk.Advance(15 * time.Minute)
		if err := e.Evaluate(w.doSweep(fails)); err != nil {
			b.Fatal(err)
		}
	}
}
