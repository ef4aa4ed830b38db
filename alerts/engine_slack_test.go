package alerts

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/slacktest"
	"github.com/aikwatch/aikwatch/probes"
)

// The tests in this file deliver through the real Slack notifier (bot token, real HTTPS with
// SNI over loopback) to internal/slacktest's fake Slack.

func newFakeSlack(t *testing.T) *slacktest.Server {
	t.Helper()
	srv := slacktest.New(slacktest.Options{})
	t.Cleanup(srv.Close)
	return srv
}

func slackBot(t *testing.T, srv *slacktest.Server) *Slack {
	t.Helper()
	s, err := NewSlack(SlackConfig{Token: srv.Token(), Channel: srv.Channel(), APIURL: srv.APIURL(), Timeout: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// outage makes the fake Slack fail every request of an attempt made before end (fake time):
// HTTP 500 and 429 with Retry-After in turn.
type outage struct {
	inner Notifier
	srv   *slacktest.Server
	clk   Clock
	end   time.Time

	mu    sync.Mutex
	tries int
}

func (o *outage) Name() string { return o.inner.Name() }
func (o *outage) Deliver(ctx context.Context, n Notification, threadRef string) (Delivery, error) {
	if o.clk.Now().Before(o.end) {
		o.mu.Lock()
		o.tries++
		// The attempt's first request fails (the notifier's lookup: every notification is
		// older than 2 s in wall-clock terms), which fails the attempt.
		if o.tries%2 == 0 {
			o.srv.Fail(1, slacktest.RateLimited(20))
		} else {
			o.srv.Fail(1, slacktest.ServerError())
		}
		o.mu.Unlock()
	}
	return o.inner.Deliver(ctx, n, threadRef)
}

// slackIDs returns the notification IDs of the fake's messages, in order, and their ts.
func slackIDs(srv *slacktest.Server) (ids []string, byID map[string]slacktest.Message) {
	byID = map[string]slacktest.Message{}
	for _, m := range srv.Messages() {
		ids = append(ids, m.MetadataID)
		byID[m.MetadataID] = m
	}
	return ids, byID
}

func TestSlackOutageEndToEnd(t *testing.T) {
	noLeaks(t)
	srv := newFakeSlack(t)
	clk := newFakeClock()
	end := t0.Add(10 * time.Minute)
	notifier := &outage{inner: slackBot(t, srv), srv: srv, clk: clk, end: end}
	w := newWorld(clk, map[string]int{"IFX": 4, "AMD": 4})
	e := newTestEngine(t, openStore(t), testConfig(), clk, notifier)
	e.Start(context.Background())
	mustEval(t, e, w.doSweep(nil))
	fails := map[string]result{}
	for i, h := range w.st.Hosts {
		fails[h.Host] = result{status: probes.StatusHTTPError, http: 503}
		if i%2 == 0 {
			clk.Advance(time.Minute)
			mustEval(t, e, w.doSweep(fails))
		}
	}
	clk.Advance(time.Minute)
	mustEval(t, e, w.doSweep(fails))
	// Recovered before the outage ends: the resolved messages wait in the outbox too.
	clk.Advance(time.Minute)
	mustEval(t, e, w.doSweep(nil))
	runUntil(t, clk, idle(e))
	if clk.Now().Before(end) {
		t.Fatalf("done after %s of fake time, within the outage", clk.Now().Sub(t0))
	}
	entries := outbox(t, e)
	ids, byID := slackIDs(srv)
	if len(ids) != len(entries) {
		t.Fatalf("%d Slack messages for %d outbox entries", len(ids), len(entries))
	}
	threads := 0
	for i, o := range entries {
		if o.Status != OutboxDelivered || ids[i] != o.Notification.ID {
			t.Fatalf("entry %d (%s, %s) vs Slack message %d (%s): not delivered once in order", o.Seq, o.Notification.ID, o.Status, i, ids[i])
		}
		if o.Notification.Kind == KindResolved {
			parent := byID[o.Notification.ThreadKey]
			if m := byID[o.Notification.ID]; m.ThreadTS == "" || m.ThreadTS != parent.TS {
				t.Errorf("resolved %s in thread %q, want %q", o.Notification.Group, m.ThreadTS, parent.TS)
			}
			threads++
		}
	}
	if threads == 0 {
		t.Error("no resolved message")
	}
	notifier.mu.Lock()
	t.Logf("%d messages (%d resolved in their threads) delivered once each in order after %d failed attempts over %s of fake time; %d chat.postMessage calls",
		len(ids), threads, notifier.tries, clk.Now().Sub(t0).Round(time.Second), srv.Calls(slacktest.EndpointPostMessage))
	notifier.mu.Unlock()
}

func TestSlackCrashBetweenPostedAndMarked(t *testing.T) {
	noLeaks(t)
	srv := newFakeSlack(t)
	clk := newFakeClock()
	st := openStore(t)
	w := newWorld(clk, map[string]int{"INTC": 3})
	ctx, cancel := context.WithCancel(context.Background())
	crash := &crashingNotifier{inner: slackBot(t, srv), cancel: cancel, done: make(chan struct{})}
	e1 := newTestEngine(t, st, testConfig(), clk, crash)
	mustEval(t, e1, w.doSweep(nil))
	clk.Advance(time.Minute)
	mustEval(t, e1, w.withdraw(hostName("INTC", 0), hostName("INTC", 2)))
	e1.Start(ctx)
	<-crash.done
	e1.Close()
	if len(srv.Messages()) != 1 || pendingCount(t, e1) != 1 {
		t.Fatalf("after the crash: %d messages, %d pending", len(srv.Messages()), pendingCount(t, e1))
	}

	e2 := newTestEngine(t, st, testConfig(), clk, slackBot(t, srv))
	e2.Start(context.Background())
	runUntil(t, clk, idle(e2))
	msgs := srv.Messages()
	o := outbox(t, e2)
	if len(msgs) != 1 || srv.Calls(slacktest.EndpointPostMessage) != 1 {
		t.Fatalf("%d messages visible after restart (%d posts), want 1", len(msgs), srv.Calls(slacktest.EndpointPostMessage))
	}
	if len(o) != 1 || o[0].Status != OutboxDelivered || o[0].Ref != msgs[0].Channel+":"+msgs[0].TS {
		t.Fatalf("outbox %+v; message %s:%s", o, msgs[0].Channel, msgs[0].TS)
	}

	// The thread was learnt from the lookup: the resolved message replies in it.
	rel := *w.st.Release
	rel.AIKHosts = append(rel.AIKHosts, aikHostsFor([]string{hostName("INTC", 0), hostName("INTC", 2)})...)
	w.st.Release = &rel
	clk.Advance(time.Minute)
	mustEval(t, e2, w.snapshot())
	runUntil(t, clk, idle(e2))
	msgs = srv.Messages()
	if len(msgs) != 2 || msgs[1].ThreadTS != msgs[0].TS || msgs[1].MetadataPayload["kind"] != string(KindResolved) {
		t.Fatalf("resolved: %d messages; second in thread %q (want %q)", len(msgs), msgs[len(msgs)-1].ThreadTS, msgs[0].TS)
	}
}
