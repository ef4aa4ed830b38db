package alerts

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/store"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// t0 is the fake clock's start: an hour before the real now, so that a Slack notifier (which
// compares CreatedAt with the wall clock) sees every notification as old enough to look up.
var t0 = time.Now().Add(-time.Hour).Truncate(time.Second)

// fakeClock is a Clock that only moves when told to.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock by d and fires the waiters due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.fireLocked()
}

// AdvanceToNext moves the clock to the earliest waiter and fires it; false if none waits.
func (c *fakeClock) AdvanceToNext() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.waiters) == 0 {
		return false
	}
	next := c.waiters[0].at
	for _, w := range c.waiters {
		if w.at.Before(next) {
			next = w.at
		}
	}
	if next.After(c.now) {
		c.now = next
	}
	c.fireLocked()
	return true
}

func (c *fakeClock) fireLocked() {
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
			continue
		}
		keep = append(keep, w)
	}
	c.waiters = keep
}

// runUntil drives the fake clock (jumping to each wait the engine starts) until done returns
// true; it fails the test after 20 s of real time.
func runUntil(t *testing.T, clk *fakeClock, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("not done after 20 s (fake time %s)", clk.Now().Sub(t0))
		}
		if !clk.AdvanceToNext() {
			time.Sleep(time.Millisecond) // the engine is working, not waiting on the clock
		}
	}
}

// recorder is a destination that records what becomes visible. With dedup it behaves like a
// destination with an idempotency lookup: a notification ID already visible is not posted
// again (the Slack bot does this).
type recorder struct {
	name  string
	clk   Clock
	dedup bool
	fail  func(n Notification, call int) error // nil: always succeed

	mu    sync.Mutex
	calls int
	msgs  []visible
}

type visible struct {
	N         Notification
	ThreadRef string
	Ref       string
	At        time.Time // on the engine's clock
	Real      time.Time
}

func (r *recorder) Name() string {
	if r.name == "" {
		return "recorder"
	}
	return r.name
}

func (r *recorder) Deliver(ctx context.Context, n Notification, threadRef string) (Delivery, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail != nil {
		if err := r.fail(n, r.calls); err != nil {
			return Delivery{}, err
		}
	}
	if r.dedup {
		for _, m := range r.msgs {
			if m.N.ID == n.ID {
				return Delivery{Ref: m.Ref}, nil
			}
		}
	}
	ref := fmt.Sprintf("C1:%d.000%d", len(r.msgs)+1, len(r.msgs)+1)
	r.msgs = append(r.msgs, visible{N: n, ThreadRef: threadRef, Ref: ref, At: r.clk.Now(), Real: time.Now()})
	return Delivery{Ref: ref}, nil
}

func (r *recorder) messages() []visible {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "aikwatch.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testConfig is the configuration of most tests: no periodic re-evaluation, so that only the
// delivery loop waits on the fake clock.
func testConfig() Config {
	return Config{EvalInterval: -1}
}

func newTestEngine(t *testing.T, st *store.Store, cfg Config, clk Clock, ns ...Notifier) *Engine {
	t.Helper()
	e, err := NewEngine(st, cfg, ns, nil, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// vendors are the eleven vendor codes of the real trust list.
var vendors = []string{"IFX", "INTC", "INTL", "AMD", "NTC", "NTZ", "STM", "ATML", "MSFT", "QCOM", "WEC"}

func hostName(vendor string, i int) string {
	return fmt.Sprintf("%s-keyid-%040x%s", strings.ToLower(vendor), i, trustlist.AIKHostSuffix)
}

// world is a daemon stand-in: a release, hosts, and sweeps folded in as the daemon does.
type world struct {
	clk   Clock
	st    state.State
	sweep int
}

func newWorld(clk Clock, perVendor map[string]int) *world {
	w := &world{clk: clk}
	rel := &trustlist.Snapshot{SHA256: strings.Repeat("a", 64), VersionDate: t0.AddDate(0, -1, 0)}
	for _, v := range slices.Sorted(mapKeys(perVendor)) {
		for i := range perVendor[v] {
			h := hostName(v, i)
			rel.AIKHosts = append(rel.AIKHosts, trustlist.AIKHost{Host: h, Vendor: v, IDKind: "keyid", ID: fmt.Sprintf("%040x", i),
				LatestNotAfter: t0.AddDate(10, 0, 0)})
			w.st.Hosts = append(w.st.Hosts, state.HostState{Host: h, Vendor: v, IDKind: "keyid", InTrustList: true})
		}
	}
	slices.SortFunc(w.st.Hosts, func(a, b state.HostState) int { return strings.Compare(a.Host, b.Host) })
	w.st.Release, w.st.ReleaseSince = rel, t0.Add(-time.Hour)
	w.st.Refresh = state.RefreshStatus{LastAttempt: t0, LastSuccess: t0, OK: true}
	return w
}

// result is one probe outcome for a sweep.
type result struct {
	status probes.Status
	http   int
	dur    float64
}

// doSweep probes every host: those in fails get their result, the others answer ok in 0.2 s.
// It returns a new immutable state, as the daemon publishes one.
func (w *world) doSweep(fails map[string]result) *state.State {
	w.sweep++
	at := w.clk.Now()
	hosts := slices.Clone(w.st.Hosts)
	for i, h := range hosts {
		r, ok := fails[h.Host]
		if !ok {
			r = result{status: probes.StatusOK, http: 200, dur: 0.2}
		}
		res := &probes.Result{Host: h.Host, Vendor: h.Vendor, Status: r.status, HTTPStatus: r.http, StartedAt: at, DurationSeconds: r.dur}
		if r.status == probes.StatusWithdrawn {
			res.Message = fmt.Sprintf("The authority %q does not exist.", h.Host)
		}
		if r.status != h.Status {
			h.Since = at
		}
		h.Status = r.status
		if r.status == probes.StatusOK {
			h.Failures, h.LastOK = 0, at
		} else {
			h.Failures++
		}
		h.Last = res
		hosts[i] = h
	}
	w.st.Hosts = hosts
	w.st.LastSweep = state.SweepStatus{Started: at, Finished: at}
	return w.snapshot()
}

func (w *world) snapshot() *state.State {
	s := w.st
	return &s
}

// withdraw commits a release without hosts, as a refresh would.
func (w *world) withdraw(hosts ...string) *state.State {
	gone := map[string]bool{}
	for _, h := range hosts {
		gone[h] = true
	}
	old := w.st.Release
	rel := *old
	rel.SHA256 = strings.Repeat("b", 64)
	rel.VersionDate = old.VersionDate.AddDate(0, 0, 7)
	rel.AIKHosts = slices.DeleteFunc(slices.Clone(old.AIKHosts), func(a trustlist.AIKHost) bool { return gone[a.Host] })
	diff := &trustlist.Diff{From: old.Ref(), To: rel.Ref(), AIKHostsWithdrawn: slices.Sorted(mapKeys(gone))}
	for _, h := range hosts {
		diff.Removed = append(diff.Removed, trustlist.MemberChange{Path: "Microsoft/IntermediateCA/" + strings.TrimSuffix(h, trustlist.AIKHostSuffix) + ".cer", Kind: "aik_ca"})
	}
	now := w.clk.Now()
	w.st.Release, w.st.ReleaseSince = &rel, now
	w.st.Changes = append([]state.ReleaseChange{{At: now, Diff: diff}}, w.st.Changes...)
	for i := range w.st.Hosts {
		if gone[w.st.Hosts[i].Host] {
			w.st.Hosts[i].InTrustList = false
		}
	}
	return w.snapshot()
}

func mustEval(t *testing.T, e *Engine, s *state.State) {
	t.Helper()
	if err := e.Evaluate(s); err != nil {
		t.Fatal(err)
	}
}

func outbox(t *testing.T, e *Engine) []OutboxEntry {
	t.Helper()
	o, err := e.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func alertsByKey(t *testing.T, e *Engine) map[string]Alert {
	t.Helper()
	all, err := e.Alerts()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]Alert{}
	for _, a := range all {
		m[a.Key] = a
	}
	return m
}

// pendingCount counts the outbox entries not yet delivered or failed.
func pendingCount(t *testing.T, e *Engine) int {
	t.Helper()
	n := 0
	for _, o := range outbox(t, e) {
		if o.Status == OutboxPending {
			n++
		}
	}
	return n
}

// diffAdding is a release change adding one AIK host.
func diffAdding(host string) *trustlist.Diff {
	return &trustlist.Diff{
		From:          trustlist.ReleaseRef{SHA256: strings.Repeat("a", 64), VersionDate: "2025-01-01"},
		To:            trustlist.ReleaseRef{SHA256: strings.Repeat("c", 64), VersionDate: "2025-02-01"},
		Added:         []trustlist.MemberChange{{Path: "Microsoft/IntermediateCA/" + strings.TrimSuffix(host, trustlist.AIKHostSuffix) + ".cer", Kind: "aik_ca"}},
		AIKHostsAdded: []string{host},
	}
}

// noLeaks checks, after the test's own cleanups (engines closed), that it left no goroutine
// behind.
func noLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// idle reports whether the engine's delivery queues are empty (every entry delivered or
// failed), without reading the store.
func idle(e *Engine) func() bool {
	return func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, q := range e.queues {
			if len(q) > 0 {
				return false
			}
		}
		return true
	}
}
