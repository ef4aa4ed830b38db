package alerts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"go.uber.org/goleak"

	"github.com/aikwatch/aikwatch/alerts"
	"github.com/aikwatch/aikwatch/internal/slacktest"
)

// slackTestLog is a concurrency-safe buffer behind a debug-level slog logger.
type slackTestLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *slackTestLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *slackTestLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *slackTestLog) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// slackTestEnv is a fake Slack and notifiers pointed at it.
type slackTestEnv struct {
	srv *slacktest.Server
	log *slackTestLog
}

func newSlackTestEnv(t *testing.T) *slackTestEnv {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last
	srv := slacktest.New(slacktest.Options{})
	t.Cleanup(srv.Close)
	return &slackTestEnv{srv: srv, log: &slackTestLog{}}
}

func (e *slackTestEnv) webhook(t *testing.T, timeout time.Duration) *alerts.Slack {
	t.Helper()
	s, err := alerts.NewSlack(alerts.SlackConfig{WebhookURL: e.srv.WebhookURL(), Timeout: timeout, Logger: e.log.logger()}, e.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *slackTestEnv) bot(t *testing.T, timeout time.Duration) *alerts.Slack {
	t.Helper()
	return e.botIn(t, e.srv.Channel(), timeout)
}

func (e *slackTestEnv) botIn(t *testing.T, channel string, timeout time.Duration) *alerts.Slack {
	t.Helper()
	s, err := alerts.NewSlack(alerts.SlackConfig{
		Token: e.srv.Token(), Channel: channel, APIURL: e.srv.APIURL(), Timeout: timeout,
		Username: "aikwatch", IconEmoji: ":rotating_light:", Logger: e.log.logger(),
	}, e.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// secrets are the strings that must never appear in an error or a log line.
func (e *slackTestEnv) secrets() []string {
	key := e.srv.WebhookURL()[strings.LastIndexByte(e.srv.WebhookURL(), '/')+1:]
	return []string{e.srv.Token(), e.srv.WebhookURL(), key, "SECRET"}
}

func (e *slackTestEnv) checkNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, sec := range e.secrets() {
		if strings.Contains(s, sec) {
			t.Errorf("%s contains the secret %q:\n%s", what, sec, s)
		}
	}
}

const (
	slackTestHost  = "ifx-keyid-5a2c3e8bd4e1f05f2f9ad0d3c8a3b1e07c6d4f21.microsoftaik.azure.net"
	slackTestHost2 = "ntc-keyid-0a1b2c3d4e5f60718293a4b5c6d7e8f901234567.microsoftaik.azure.net"
)

func slackTestNotification(id string, kind alerts.Kind) alerts.Notification {
	since := time.Date(2025, 6, 10, 8, 0, 0, 0, time.UTC)
	a := alerts.Alert{
		Rule:     "AIKEndpointWithdrawn",
		Key:      "AIKEndpointWithdrawn/" + slackTestHost,
		Severity: alerts.SeverityCritical,
		Fleet:    true,
		Vendor:   "IFX",
		Host:     slackTestHost,
		Subject:  "Infineon AIK CA (keyid 5a2c3e8b…)",
		Summary:  "The AIK CA answers 404 and the trust list no longer lists it: attestation of these TPMs fails.",
		Evidence: []string{
			`HTTP 404: {"Message":"The authority \"ifx-keyid-5a2c…\" does not exist."} <html>`,
			"trust list release 2025-06 (published 2025-06-10) removed it",
			"changelog: Removed the following IFX AIK Certificates: IFX-KEYID-5A2C3E8B…",
		},
		State: alerts.StateFiring,
		Since: since,
	}
	b := a
	b.Key, b.Host, b.Vendor, b.Fleet = "AIKEndpointWithdrawn/"+slackTestHost2, slackTestHost2, "NTC", false
	b.Subject = "Nuvoton AIK CA (keyid 0a1b2c3d…)"
	b.Severity = alerts.SeverityWarning
	n := alerts.Notification{
		ID:         id,
		Kind:       kind,
		Rule:       "AIKEndpointWithdrawn",
		Group:      "AIKEndpointWithdrawn",
		Severity:   alerts.SeverityCritical,
		Title:      "AIK endpoints withdrawn by trust-list release 2025-06",
		Alerts:     []alerts.Alert{a, b},
		CreatedAt:  time.Now(),
		StatusURL:  "https://aikwatch.example.org/status",
		RunbookURL: "https://aikwatch.example.org/docs/RUNBOOK.md",
	}
	if kind == alerts.KindResolved {
		for i := range n.Alerts {
			n.Alerts[i].State = alerts.StateResolved
			n.Alerts[i].Resolved = since.Add(26 * time.Hour)
		}
	}
	return n
}

// slackTestUncertain delivers n while the fake accepts the post and never answers, and gives
// up (as a caller's deadline would) once the message is in: the caller cannot know it arrived.
func slackTestUncertain(t *testing.T, env *slackTestEnv, s *alerts.Slack, n alerts.Notification, threadRef string) {
	t.Helper()
	before := len(env.srv.Messages())
	env.srv.FailOn(slacktest.EndpointPostMessage, 1, slacktest.AcceptThenHang())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Deliver(ctx, n, threadRef)
		done <- err
	}()
	for deadline := time.Now().Add(20 * time.Second); len(env.srv.Messages()) == before; {
		if time.Now().After(deadline) {
			t.Fatal("the post never reached the fake")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || errors.Is(err, alerts.ErrPermanent) {
		t.Fatalf("err = %v, want a retryable cancellation", err)
	}
}

// slackTestOld makes n look like a notification that may have been attempted before.
func slackTestOld(n alerts.Notification) alerts.Notification {
	n.CreatedAt = time.Now().Add(-time.Minute)
	return n
}

func slackTestContains(t *testing.T, texts []string, want ...string) {
	t.Helper()
	all := strings.Join(texts, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			shown := all
			if len(shown) > 4000 {
				shown = shown[:4000] + "…"
			}
			t.Errorf("blocks lack %q:\n%s", w, shown)
		}
	}
}

// slackTestBlockWants are what a person must see in the blocks of slackTestNotification.
var slackTestBlockWants = []string{
	"🔴 Firing: AIK endpoints withdrawn by trust-list release 2025-06",
	"`" + slackTestHost + "`", "`" + slackTestHost2 + "`",
	"*Vendor* IFX", "*Vendor* NTC", "Infineon AIK CA",
	"&lt;html&gt;", "trust list release 2025-06 (published 2025-06-10)", "changelog: Removed the following IFX",
	"<!date^1749542400^{date_short_pretty} {time}|2025-06-10 08:00 UTC>",
	"<https://aikwatch.example.org/status|📊 Status page>",
	"<https://aikwatch.example.org/docs/RUNBOOK.md#aikendpointwithdrawn|📖 Runbook: AIKEndpointWithdrawn>",
	"🏢 fleet", "critical",
}

func TestSlackWebhookDelivers(t *testing.T) {
	env := newSlackTestEnv(t)
	s := env.webhook(t, 0)
	if s.Name() != "slack-webhook" {
		t.Errorf("Name = %q", s.Name())
	}
	d, err := s.Deliver(context.Background(), slackTestNotification("n-1", alerts.KindFiring), "")
	if err != nil {
		t.Fatal(err)
	}
	if d.Ref != "" {
		t.Errorf("webhook Ref = %q, want none (webhooks do not say where the message went)", d.Ref)
	}
	msgs := env.srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.API != slacktest.EndpointWebhook || m.ServerName != slacktest.WebhookHost {
		t.Errorf("message via %s (SNI %q)", m.API, m.ServerName)
	}
	slackTestContains(t, m.BlockTexts(), slackTestBlockWants...)
	if !strings.Contains(m.Text, "🔴 Firing") || !strings.Contains(m.Text, slackTestHost) {
		t.Errorf("fallback text %q lacks the headline or the host", m.Text)
	}
}

func TestSlackBotDeliversAndThreads(t *testing.T) {
	env := newSlackTestEnv(t)
	s := env.bot(t, 0)
	if s.Name() != "slack-bot" {
		t.Errorf("Name = %q", s.Name())
	}
	ctx := context.Background()
	first, err := s.Deliver(ctx, slackTestNotification("n-1", alerts.KindFiring), "")
	if err != nil {
		t.Fatal(err)
	}
	msgs := env.srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	if want := "C123:" + msgs[0].TS; first.Ref != want {
		t.Errorf("Ref = %q, want %q", first.Ref, want)
	}
	m := msgs[0]
	slackTestContains(t, m.BlockTexts(), slackTestBlockWants...)
	if m.MetadataEventType != "aikwatch_notification" || m.MetadataID != "n-1" {
		t.Errorf("metadata %q %q, want aikwatch_notification n-1", m.MetadataEventType, m.MetadataID)
	}
	if m.ThreadTS != "" || m.Username != "aikwatch" || m.IconEmoji != ":rotating_light:" || m.ServerName != slacktest.APIHost {
		t.Errorf("message %+v", m)
	}

	repeat, err := s.Deliver(ctx, slackTestNotification("n-2", alerts.KindRepeat), first.Ref)
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := s.Deliver(ctx, slackTestNotification("n-3", alerts.KindResolved), first.Ref)
	if err != nil {
		t.Fatal(err)
	}
	// A new firing of the group starts a new conversation even when a thread is known.
	refire, err := s.Deliver(ctx, slackTestNotification("n-4", alerts.KindFiring), first.Ref)
	if err != nil {
		t.Fatal(err)
	}
	msgs = env.srv.Messages()
	if len(msgs) != 4 {
		t.Fatalf("%d messages, want 4", len(msgs))
	}
	if msgs[1].ThreadTS != msgs[0].TS || msgs[2].ThreadTS != msgs[0].TS {
		t.Errorf("repeat and resolved in threads %q and %q, want %q", msgs[1].ThreadTS, msgs[2].ThreadTS, msgs[0].TS)
	}
	if msgs[3].ThreadTS != "" {
		t.Errorf("new firing posted in thread %q", msgs[3].ThreadTS)
	}
	if repeat.Ref != "C123:"+msgs[1].TS || resolved.Ref != "C123:"+msgs[2].TS || refire.Ref != "C123:"+msgs[3].TS {
		t.Errorf("refs %q %q %q", repeat.Ref, resolved.Ref, refire.Ref)
	}
	slackTestContains(t, msgs[1].BlockTexts(), "🔁 Still firing:")
	slackTestContains(t, msgs[2].BlockTexts(), "✅ Resolved:", "*Resolved*", "(after 1d 2h)")
	// A thread reference that cannot be parsed does not lose the notification.
	if _, err := s.Deliver(ctx, slackTestNotification("n-5", alerts.KindResolved), "garbage"); err != nil {
		t.Fatal(err)
	}
	if msgs := env.srv.Messages(); msgs[4].ThreadTS != "" {
		t.Errorf("posted in thread %q with an unusable reference", msgs[4].ThreadTS)
	}
	if env.srv.Calls(slacktest.EndpointConversationsHistory)+env.srv.Calls(slacktest.EndpointConversationsReplies) != 0 {
		t.Error("fresh notifications were looked up before posting")
	}
}

// slackTestModes runs f for the webhook and for the bot.
func slackTestModes(t *testing.T, f func(t *testing.T, env *slackTestEnv, s *alerts.Slack, endpoint string)) {
	t.Run("webhook", func(t *testing.T) {
		env := newSlackTestEnv(t)
		f(t, env, env.webhook(t, 0), slacktest.EndpointWebhook)
	})
	t.Run("bot", func(t *testing.T) {
		env := newSlackTestEnv(t)
		f(t, env, env.bot(t, 0), slacktest.EndpointPostMessage)
	})
}

func TestSlackRateLimited(t *testing.T) {
	slackTestModes(t, func(t *testing.T, env *slackTestEnv, s *alerts.Slack, endpoint string) {
		env.srv.FailOn(endpoint, 1, slacktest.RateLimited(7))
		_, err := s.Deliver(context.Background(), slackTestNotification("n-1", alerts.KindFiring), "")
		var ra *alerts.RetryAfterError
		if !errors.As(err, &ra) {
			t.Fatalf("err = %v, want a *RetryAfterError", err)
		}
		if ra.After != 7*time.Second {
			t.Errorf("After = %s, want 7s", ra.After)
		}
		if errors.Is(err, alerts.ErrPermanent) {
			t.Error("a 429 is permanent")
		}
		if len(env.srv.Messages()) != 0 {
			t.Error("a rate-limited message was recorded")
		}
		// The next attempt goes through.
		if _, err := s.Deliver(context.Background(), slackTestNotification("n-1", alerts.KindFiring), ""); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSlackServerErrorIsRetryable(t *testing.T) {
	slackTestModes(t, func(t *testing.T, env *slackTestEnv, s *alerts.Slack, endpoint string) {
		env.srv.FailOn(endpoint, 1, slacktest.ServerError())
		_, err := s.Deliver(context.Background(), slackTestNotification("n-1", alerts.KindFiring), "")
		if err == nil {
			t.Fatal("no error")
		}
		var ra *alerts.RetryAfterError
		if errors.Is(err, alerts.ErrPermanent) || errors.As(err, &ra) {
			t.Errorf("err = %v: want a plain retryable error", err)
		}
		if !strings.Contains(err.Error(), "500") || strings.Contains(err.Error(), "<html>") {
			t.Errorf("err = %v: want HTTP 500 said, without the HTML page", err)
		}
		env.checkNoSecret(t, "error", err.Error())
	})
}

func TestSlackPermanentFailures(t *testing.T) {
	ctx := context.Background()
	n := slackTestNotification("n-1", alerts.KindFiring)
	for _, tc := range []struct {
		name, want string
		deliver    func(t *testing.T, env *slackTestEnv) error
	}{
		{"bot invalid_auth", "invalid_auth", func(t *testing.T, env *slackTestEnv) error {
			env.srv.Fail(1, slacktest.InvalidAuth())
			_, err := env.bot(t, 0).Deliver(ctx, n, "")
			return err
		}},
		{"bot wrong token", "invalid_auth", func(t *testing.T, env *slackTestEnv) error {
			s, err := alerts.NewSlack(alerts.SlackConfig{Token: "xoxb-9-9-SECRETwrong", Channel: "C123", APIURL: env.srv.APIURL()}, env.srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Deliver(ctx, n, "")
			if err != nil && strings.Contains(err.Error(), "SECRETwrong") {
				t.Errorf("error shows the token: %v", err)
			}
			return err
		}},
		{"bot unknown channel", "channel_not_found", func(t *testing.T, env *slackTestEnv) error {
			_, err := env.botIn(t, "C999", 0).Deliver(ctx, n, "")
			return err
		}},
		{"webhook no_service", "no_service", func(t *testing.T, env *slackTestEnv) error {
			env.srv.Fail(1, slacktest.NoService())
			_, err := env.webhook(t, 0).Deliver(ctx, n, "")
			return err
		}},
		{"webhook invalid_token", "invalid_token", func(t *testing.T, env *slackTestEnv) error {
			env.srv.Fail(1, slacktest.InvalidAuth())
			_, err := env.webhook(t, 0).Deliver(ctx, n, "")
			return err
		}},
		{"webhook unknown URL", "no_service", func(t *testing.T, env *slackTestEnv) error {
			s, err := alerts.NewSlack(alerts.SlackConfig{WebhookURL: strings.TrimSuffix(env.srv.WebhookURL(), "webhook") + "gone"}, env.srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Deliver(ctx, n, "")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newSlackTestEnv(t)
			err := tc.deliver(t, env)
			if !errors.Is(err, alerts.ErrPermanent) {
				t.Fatalf("err = %v, want ErrPermanent", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %s", err, tc.want)
			}
			env.checkNoSecret(t, "error", err.Error())
			if len(env.srv.Messages()) != 0 {
				t.Error("a refused message was recorded")
			}
		})
	}
}

func TestSlackHangTimesOut(t *testing.T) {
	slackTestModes(t, func(t *testing.T, env *slackTestEnv, _ *alerts.Slack, endpoint string) {
		var s *alerts.Slack
		if endpoint == slacktest.EndpointWebhook {
			s = env.webhook(t, 100*time.Millisecond)
		} else {
			s = env.bot(t, 100*time.Millisecond)
		}
		env.srv.FailOn(endpoint, 1, slacktest.Hang())
		done := make(chan error, 1)
		go func() {
			_, err := s.Deliver(context.Background(), slackTestNotification("n-1", alerts.KindFiring), "")
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(30 * time.Second): // a safety net against a hung test, not a measurement
			t.Fatal("Deliver did not give up on a hanging Slack")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want a deadline error", err)
		}
		if errors.Is(err, alerts.ErrPermanent) {
			t.Errorf("a timeout is permanent: %v", err)
		}
		env.checkNoSecret(t, "error", err.Error())
		env.checkNoSecret(t, "log", env.log.String())
	})
}

func TestSlackSecretsNeverLeak(t *testing.T) {
	ctx := context.Background()
	faults := []slacktest.Fault{slacktest.RateLimited(3), slacktest.ServerError(), slacktest.InvalidAuth(),
		slacktest.NoService(), slacktest.Hang(), slacktest.AcceptThenHang()}
	slackTestModes(t, func(t *testing.T, env *slackTestEnv, _ *alerts.Slack, endpoint string) {
		var s *alerts.Slack
		if endpoint == slacktest.EndpointWebhook {
			s = env.webhook(t, 100*time.Millisecond)
		} else {
			s = env.bot(t, 100*time.Millisecond)
		}
		var errs []string
		for _, f := range faults {
			env.srv.FailOn(endpoint, 1, f)
			if _, err := s.Deliver(ctx, slackTestNotification("n-"+f.String(), alerts.KindFiring), ""); err != nil {
				errs = append(errs, fmt.Sprintf("%v | %+v | %#v", err, err, err))
			}
		}
		if len(errs) != len(faults) {
			t.Errorf("%d errors for %d faults", len(errs), len(faults))
		}
		// The same faults met by the bot's lookup of old notifications.
		for _, f := range faults {
			env.srv.Fail(1, f)
			if _, err := s.Deliver(ctx, slackTestOld(slackTestNotification("old-"+f.String(), alerts.KindFiring)), ""); err != nil {
				errs = append(errs, fmt.Sprintf("%v | %+v | %#v", err, err, err))
			}
		}
		// A Slack that is gone: the transport's error names the URL.
		closed := slacktest.New(slacktest.Options{})
		closed.Close()
		var gone *alerts.Slack
		var err error
		if endpoint == slacktest.EndpointWebhook {
			gone, err = alerts.NewSlack(alerts.SlackConfig{WebhookURL: closed.WebhookURL(), Logger: env.log.logger()}, closed.Client())
		} else {
			gone, err = alerts.NewSlack(alerts.SlackConfig{Token: closed.Token(), Channel: "C123", APIURL: closed.APIURL(), Logger: env.log.logger()}, closed.Client())
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gone.Deliver(ctx, slackTestNotification("n-gone", alerts.KindFiring), ""); err == nil {
			t.Error("delivered to a closed server")
		} else {
			errs = append(errs, err.Error())
		}
		for _, e := range errs {
			env.checkNoSecret(t, "error", e)
		}
		env.checkNoSecret(t, "log", env.log.String())
		if !strings.Contains(env.log.String(), "slack delivery failed") {
			t.Errorf("failures were not logged:\n%s", env.log.String())
		}
		env.checkNoSecret(t, "notifier", fmt.Sprintf("%v %+v %#v %s", s, s, s, s))
	})
}

func TestSlackConfigRedacted(t *testing.T) {
	for _, c := range []alerts.SlackConfig{
		{WebhookURL: "https://hooks.slack.com/services/T0/B0/SECRETkey123456789", Timeout: time.Second},
		{Token: "xoxb-1-2-SECRETtoken", Channel: "C123", APIURL: "https://user:SECRETpw@proxy.example/api/"},
	} {
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "slack", c)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "slack", c)
		j, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		all := fmt.Sprintf("%v %+v %#v %s %s %s", c, c, c, c.String(), j, buf.String())
		if strings.Contains(all, "SECRET") {
			t.Errorf("secret shown: %s", all)
		}
		if !strings.Contains(all, "redacted") {
			t.Errorf("no sign of redaction: %s", all)
		}
	}
	if got := (alerts.SlackConfig{Token: "xoxb-1-2-SECRETtoken", Channel: "C123"}).String(); !strings.Contains(got, "xoxb-[redacted]") || !strings.Contains(got, `"C123"`) {
		t.Errorf("String = %q: want the token type and the channel", got)
	}
}

func TestSlackRedeliveryAfterUncertainFailure(t *testing.T) {
	ctx := context.Background()
	t.Run("top level", func(t *testing.T) {
		env := newSlackTestEnv(t)
		n := slackTestOld(slackTestNotification("n-1", alerts.KindFiring))
		slackTestUncertain(t, env, env.bot(t, 0), n, "")
		msgs := env.srv.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d messages after the uncertain attempt, want 1", len(msgs))
		}
		// A new process (no state carried over) delivers it again.
		d, err := env.bot(t, 0).Deliver(ctx, n, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := len(env.srv.Messages()); got != 1 {
			t.Errorf("%d messages after redelivery, want 1", got)
		}
		if want := "C123:" + msgs[0].TS; d.Ref != want {
			t.Errorf("Ref = %q, want the first post's %q", d.Ref, want)
		}
		if !strings.Contains(env.log.String(), "already posted") {
			t.Errorf("the skipped post was not logged:\n%s", env.log.String())
		}
	})
	t.Run("in thread", func(t *testing.T) {
		env := newSlackTestEnv(t)
		s := env.bot(t, 0)
		first, err := s.Deliver(ctx, slackTestNotification("n-1", alerts.KindFiring), "")
		if err != nil {
			t.Fatal(err)
		}
		// Unrelated messages in the channel and the thread do not confuse the lookup.
		for i := range 3 {
			if _, err := s.Deliver(ctx, slackTestNotification(fmt.Sprintf("other-%d", i), alerts.KindRepeat), first.Ref); err != nil {
				t.Fatal(err)
			}
		}
		n := slackTestOld(slackTestNotification("n-2", alerts.KindResolved))
		slackTestUncertain(t, env, s, n, first.Ref)
		d, err := s.Deliver(ctx, n, first.Ref)
		if err != nil {
			t.Fatal(err)
		}
		msgs := env.srv.Messages()
		if len(msgs) != 5 {
			t.Fatalf("%d messages, want 5 (no duplicate)", len(msgs))
		}
		if want := "C123:" + msgs[4].TS; d.Ref != want || msgs[4].MetadataID != "n-2" {
			t.Errorf("Ref = %q, want %q", d.Ref, want)
		}
		if env.srv.Calls(slacktest.EndpointConversationsReplies) != 2 {
			t.Errorf("%d conversations.replies calls, want 2", env.srv.Calls(slacktest.EndpointConversationsReplies))
		}
	})
	t.Run("lookup unavailable", func(t *testing.T) {
		env := newSlackTestEnv(t)
		s := env.bot(t, 0)
		n := slackTestOld(slackTestNotification("n-1", alerts.KindFiring))
		env.srv.FailOn(slacktest.EndpointConversationsHistory, 1, slacktest.ServerError())
		_, err := s.Deliver(ctx, n, "")
		if err == nil || errors.Is(err, alerts.ErrPermanent) {
			t.Fatalf("err = %v, want a retryable error", err)
		}
		if len(env.srv.Messages()) != 0 {
			t.Fatal("posted without knowing whether it had been posted before")
		}
		env.srv.FailOn(slacktest.EndpointConversationsHistory, 1, slacktest.RateLimited(4))
		_, err = s.Deliver(ctx, n, "")
		var ra *alerts.RetryAfterError
		if !errors.As(err, &ra) || ra.After != 4*time.Second {
			t.Fatalf("err = %v, want retry after 4s", err)
		}
		if _, err := s.Deliver(ctx, n, ""); err != nil {
			t.Fatal(err)
		}
		if len(env.srv.Messages()) != 1 {
			t.Errorf("%d messages, want 1", len(env.srv.Messages()))
		}
	})
	t.Run("channel by name", func(t *testing.T) {
		// conversations.history wants a channel ID: with a name the first lookup is refused
		// for good, so the bot posts anyway (and says so), then uses the ID Slack answered.
		env := newSlackTestEnv(t)
		s := env.botIn(t, "#"+slacktest.DefaultChannelName, 0)
		if _, err := s.Deliver(ctx, slackTestOld(slackTestNotification("n-1", alerts.KindFiring)), ""); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(env.log.String(), "cannot check for an earlier delivery") {
			t.Errorf("no warning about the failed lookup:\n%s", env.log.String())
		}
		n := slackTestOld(slackTestNotification("n-2", alerts.KindFiring))
		slackTestUncertain(t, env, s, n, "")
		if _, err := s.Deliver(ctx, n, ""); err != nil {
			t.Fatal(err)
		}
		if got := len(env.srv.Messages()); got != 2 {
			t.Errorf("%d messages, want 2", got)
		}
	})
}

func TestSlackLongAlertListWithinLimits(t *testing.T) {
	env := newSlackTestEnv(t)
	base := slackTestNotification("n-big", alerts.KindFiring)
	n := base
	n.Title = strings.Repeat("Very long title & <more> ", 20)
	n.Alerts = nil
	for i := range 63 {
		a := base.Alerts[0]
		a.Host = fmt.Sprintf("ifx-keyid-%040x.microsoftaik.azure.net", i)
		a.Summary = strings.Repeat("ü<&> ", 400)
		a.Evidence = nil
		for j := range 30 {
			if j == 0 {
				a.Evidence = append(a.Evidence, "line 0: "+strings.Repeat("`x` <b> & ", 120))
				continue
			}
			a.Evidence = append(a.Evidence, fmt.Sprintf("line %d: HTTP 404 <html> & more", j))
		}
		n.Alerts = append(n.Alerts, a)
	}
	blocks := alerts.SlackBlocks(n)
	if len(blocks) > 50 {
		t.Fatalf("%d blocks", len(blocks))
	}
	raw, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	var decoded []struct {
		Type string `json:"type"`
		Text *struct {
			Text string `json:"text"`
		} `json:"text"`
		Fields []struct {
			Text string `json:"text"`
		} `json:"fields"`
		Elements []struct {
			Text string `json:"text"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(raw, &decoded); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, b := range decoded {
		limit := 3000
		if b.Type == "header" {
			limit = 150
		}
		if b.Text != nil {
			total += utf8.RuneCountInString(b.Text.Text)
			if utf8.RuneCountInString(b.Text.Text) > limit {
				t.Errorf("%s text of %d characters", b.Type, utf8.RuneCountInString(b.Text.Text))
			}
			if !utf8.ValidString(b.Text.Text) {
				t.Errorf("%s text is not valid UTF-8", b.Type)
			}
		}
		for _, f := range b.Fields {
			if utf8.RuneCountInString(f.Text) > 2000 {
				t.Errorf("field of %d characters", utf8.RuneCountInString(f.Text))
			}
		}
	}
	if total > 40000 {
		t.Errorf("%d characters in all", total)
	}
	if decoded[0].Type != "header" || !strings.HasSuffix(decoded[0].Text.Text, "…") {
		t.Errorf("header %+v: want it cut with an ellipsis", decoded[0])
	}
	// The fake refuses what Slack refuses: both modes deliver.
	for _, s := range []*alerts.Slack{env.webhook(t, 0), env.bot(t, 0)} {
		if _, err := s.Deliver(context.Background(), n, ""); err != nil {
			t.Fatalf("%s: %v", s.Name(), err)
		}
	}
	msgs := env.srv.Messages()
	for _, m := range msgs {
		if m.BlockCount() > 50 {
			t.Errorf("%d blocks delivered", m.BlockCount())
		}
		slackTestContains(t, m.BlockTexts(), "…and 43 more:*", "`ifx-keyid-0000000000000000000000000000000000000014.microsoftaik.azure.net`",
			"line 0: `x` &lt;b&gt; &amp; ", "line 1: HTTP 404 &lt;html&gt; &amp; more\n", " more lines of evidence_", "Status page")
	}
}

func TestSlackBlocksKinds(t *testing.T) {
	for _, tc := range []struct {
		kind alerts.Kind
		sev  alerts.Severity
		want string
	}{
		{alerts.KindFiring, alerts.SeverityCritical, "🔴 Firing: "},
		{alerts.KindFiring, alerts.SeverityWarning, "🟠 Firing: "},
		{alerts.KindFiring, alerts.SeverityInfo, "🔵 Firing: "},
		{alerts.KindRepeat, alerts.SeverityCritical, "🔁 Still firing: "},
		{alerts.KindResolved, alerts.SeverityWarning, "✅ Resolved: "},
	} {
		n := slackTestNotification("n", tc.kind)
		n.Severity = tc.sev
		h, ok := alerts.SlackBlocks(n)[0].(*slack.HeaderBlock)
		if !ok || !strings.HasPrefix(h.Text.Text, tc.want) {
			t.Errorf("%s %s: first block %#v, want a header starting %q", tc.kind, tc.sev, alerts.SlackBlocks(n)[0], tc.want)
		}
	}
	// Links only to http(s); no alerts still make a valid message.
	n := slackTestNotification("n", alerts.KindFiring)
	n.StatusURL, n.RunbookURL, n.Alerts = "javascript:alert(1)", "", nil
	raw, _ := json.Marshal(alerts.SlackBlocks(n))
	if strings.Contains(string(raw), "javascript") || strings.Contains(string(raw), "Runbook") {
		t.Errorf("unsafe or absent link rendered: %s", raw)
	}
}

func TestSlackConfigFromEnv(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hook := "https://hooks.slack.com/services/T0/B0/SECRETkey"
	hookFile := write("hook", "\n  "+hook+" \n")
	tokFile := write("token", "xoxb-1-2-SECRETfile\r\n")
	emptyFile := write("empty", " \n")
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name    string
		env     map[string]string
		ok      bool
		want    alerts.SlackConfig
		wantErr string // substring of the error
	}{
		{name: "nothing", env: nil},
		{name: "webhook", env: map[string]string{"AIKWATCH_SLACK_WEBHOOK_URL": hook}, ok: true, want: alerts.SlackConfig{WebhookURL: hook}},
		{name: "webhook file", env: map[string]string{"AIKWATCH_SLACK_WEBHOOK_URL_FILE": hookFile, "AIKWATCH_SLACK_USERNAME": "aikwatch"}, ok: true,
			want: alerts.SlackConfig{WebhookURL: hook, Username: "aikwatch"}},
		{name: "bot", env: map[string]string{"AIKWATCH_SLACK_TOKEN": "xoxb-1-2-SECRETenv", "AIKWATCH_SLACK_CHANNEL": "C123",
			"AIKWATCH_SLACK_API_URL": "https://slack.test/api/", "AIKWATCH_SLACK_TIMEOUT": "3s", "AIKWATCH_SLACK_ICON_EMOJI": ":tpm:"}, ok: true,
			want: alerts.SlackConfig{Token: "xoxb-1-2-SECRETenv", Channel: "C123", APIURL: "https://slack.test/api/", Timeout: 3 * time.Second, IconEmoji: ":tpm:"}},
		{name: "bot token file", env: map[string]string{"AIKWATCH_SLACK_TOKEN_FILE": tokFile, "AIKWATCH_SLACK_CHANNEL": "C123"}, ok: true,
			want: alerts.SlackConfig{Token: "xoxb-1-2-SECRETfile", Channel: "C123"}},
		{name: "token without channel", env: map[string]string{"AIKWATCH_SLACK_TOKEN": "xoxb-1-2-SECRETenv"}, wantErr: "AIKWATCH_SLACK_CHANNEL"},
		{name: "token file without channel", env: map[string]string{"AIKWATCH_SLACK_TOKEN_FILE": tokFile}, wantErr: "AIKWATCH_SLACK_CHANNEL"},
		{name: "channel alone", env: map[string]string{"AIKWATCH_SLACK_CHANNEL": "C123"}, wantErr: "AIKWATCH_SLACK_TOKEN"},
		{name: "api url alone", env: map[string]string{"AIKWATCH_SLACK_API_URL": "https://slack.test/api/"}, wantErr: "AIKWATCH_SLACK_API_URL"},
		{name: "webhook and token", env: map[string]string{"AIKWATCH_SLACK_WEBHOOK_URL": hook, "AIKWATCH_SLACK_TOKEN": "xoxb-1-2-SECRETenv", "AIKWATCH_SLACK_CHANNEL": "C1"},
			wantErr: "AIKWATCH_SLACK_WEBHOOK_URL and AIKWATCH_SLACK_TOKEN"},
		{name: "webhook with channel", env: map[string]string{"AIKWATCH_SLACK_WEBHOOK_URL": hook, "AIKWATCH_SLACK_CHANNEL": "C1"}, wantErr: "AIKWATCH_SLACK_CHANNEL"},
		{name: "variable and file", env: map[string]string{"AIKWATCH_SLACK_TOKEN": "xoxb-1-2-SECRETenv", "AIKWATCH_SLACK_TOKEN_FILE": tokFile, "AIKWATCH_SLACK_CHANNEL": "C1"},
			wantErr: "AIKWATCH_SLACK_TOKEN_FILE"},
		{name: "unreadable file", env: map[string]string{"AIKWATCH_SLACK_TOKEN_FILE": missing, "AIKWATCH_SLACK_CHANNEL": "C1"}, wantErr: "AIKWATCH_SLACK_TOKEN_FILE"},
		{name: "unreadable webhook file", env: map[string]string{"AIKWATCH_SLACK_WEBHOOK_URL_FILE": dir}, wantErr: "AIKWATCH_SLACK_WEBHOOK_URL_FILE"},
		{name: "empty file", env: map[string]string{"AIKWATCH_SLACK_WEBHOOK_URL_FILE": emptyFile}, wantErr: "empty"},
		{name: "bad timeout", env: map[string]string{"AIKWATCH_SLACK_WEBHOOK_URL": hook, "AIKWATCH_SLACK_TIMEOUT": "soon"}, wantErr: "AIKWATCH_SLACK_TIMEOUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok, err := alerts.SlackConfigFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "SECRET") {
					t.Errorf("error shows a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.ok || c.WebhookURL != tc.want.WebhookURL || c.Token != tc.want.Token || c.Channel != tc.want.Channel ||
				c.APIURL != tc.want.APIURL || c.Timeout != tc.want.Timeout || c.Username != tc.want.Username || c.IconEmoji != tc.want.IconEmoji {
				t.Errorf("got %v ok=%v (token %v), want %v ok=%v", c, ok, c.Token == tc.want.Token, tc.want, tc.ok)
			}
		})
	}
}

func TestSlackNewSlackRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    alerts.SlackConfig
		want string
	}{
		{"nothing", alerts.SlackConfig{}, "neither"},
		{"both", alerts.SlackConfig{WebhookURL: "https://hooks.slack.com/services/SECRET", Token: "xoxb-SECRET", Channel: "C1"}, "both"},
		{"plain http webhook", alerts.SlackConfig{WebhookURL: "http://hooks.slack.com/services/T/B/SECRET"}, "https"},
		{"not a URL", alerts.SlackConfig{WebhookURL: "https://hooks.slack.com/\x7fSECRET"}, "not a valid URL"},
		{"no host", alerts.SlackConfig{WebhookURL: "https:///services/SECRET"}, "no host"},
		{"token without channel", alerts.SlackConfig{Token: "xoxb-1-SECRET"}, "channel"},
		{"token with space", alerts.SlackConfig{Token: "xoxb-1-SECRET \n", Channel: "C1"}, "white space"},
		{"plain http API", alerts.SlackConfig{Token: "xoxb-1-SECRET", Channel: "C1", APIURL: "http://proxy.example/api/"}, "https"},
		{"negative timeout", alerts.SlackConfig{Token: "xoxb-1-SECRET", Channel: "C1", Timeout: -time.Second}, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := alerts.NewSlack(tc.c, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
	// Loopback may use plain http (a local relay).
	if _, err := alerts.NewSlack(alerts.SlackConfig{WebhookURL: "http://127.0.0.1:1/services/T/B/X"}, nil); err != nil {
		t.Error(err)
	}
	n := slackTestNotification("", alerts.KindFiring)
	s, err := alerts.NewSlack(alerts.SlackConfig{WebhookURL: "http://127.0.0.1:1/services/T/B/X"}, &http.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Deliver(context.Background(), n, ""); !errors.Is(err, alerts.ErrPermanent) {
		t.Errorf("notification without ID: err = %v, want ErrPermanent", err)
	}
}
