package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// Environment variables read by SlackConfigFromEnv.
const (
	slackEnvWebhookURL     = "AIKWATCH_SLACK_WEBHOOK_URL"
	slackEnvWebhookURLFile = "AIKWATCH_SLACK_WEBHOOK_URL_FILE"
	slackEnvToken          = "AIKWATCH_SLACK_TOKEN"
	slackEnvTokenFile      = "AIKWATCH_SLACK_TOKEN_FILE"
	slackEnvChannel        = "AIKWATCH_SLACK_CHANNEL"
	slackEnvAPIURL         = "AIKWATCH_SLACK_API_URL"
	slackEnvTimeout        = "AIKWATCH_SLACK_TIMEOUT"
	slackEnvUsername       = "AIKWATCH_SLACK_USERNAME"
	slackEnvIconEmoji      = "AIKWATCH_SLACK_ICON_EMOJI"
)

// slackDefaultTimeout bounds one Deliver call when SlackConfig.Timeout is zero.
const slackDefaultTimeout = 10 * time.Second

// slackMetadataEventType is the event type of the message metadata a bot attaches to every
// notification it posts; the payload's "id" is the Notification.ID.
const slackMetadataEventType = "aikwatch_notification"

// Delivery tuning.
const (
	// slackLookupAge: a notification created longer ago than this may have been posted by an
	// attempt whose outcome is unknown, so the bot looks for it before posting (see Deliver).
	slackLookupAge = 2 * time.Second
	// slackHistoryLimit is how many of the channel's latest messages the lookup reads.
	slackHistoryLimit = 50
	// slackRepliesLimit and slackRepliesPages bound the lookup in a thread.
	slackRepliesLimit = 200
	slackRepliesPages = 5
	// slackDefaultRetryAfter is used when a 429 carries no usable Retry-After.
	slackDefaultRetryAfter = 30 * time.Second
	// slackMaxErrorBody bounds what is read of, and quoted from, an error response.
	slackMaxErrorBody = 512
)

// Slack is a Notifier posting to Slack through an incoming webhook or, with a bot token,
// chat.postMessage.
//
// Delivery guarantees. A bot posts each notification with message metadata of type
// "aikwatch_notification" carrying the Notification.ID. Notification.PriorAttempts says
// whether a call is a retry (the outbox stores each attempt before making it). Deliver treats
// a notification with an earlier attempt, or created more than 2 s ago, as possibly already
// posted by an attempt whose outcome is unknown (a timeout, a crash, even SIGKILL, between
// Slack's answer and the outbox marking it sent): it first reads the channel's 50 latest
// messages (conversations.history), or the thread (conversations.replies) for a reply, and
// when one carries the ID it returns that message instead of posting again. Fresh first
// attempts (the usual case) skip the lookup. Bot delivery is therefore exactly-once as seen
// in the channel, provided the bot can read it (channels:history, or groups:history for a
// private channel) and the duplicate is among the messages read; when the lookup is refused
// for good (missing scope, not in channel) the bot logs a warning and posts anyway. A webhook
// has no such lookup: across a crash in that window its delivery is at-least-once.
//
// Errors: *RetryAfterError on HTTP 429; ErrPermanent wrapped for errors retrying cannot fix
// (invalid_auth, channel_not_found, no_service, other 4xx); anything else (5xx, network
// errors, timeouts, Slack's internal_error…) is a plain, retryable error. No error or log
// line contains the token or the webhook URL.
type Slack struct {
	name       string
	timeout    time.Duration
	logger     *slog.Logger
	username   string
	iconEmoji  string
	secrets    []string
	httpClient *http.Client

	webhookURL string // webhook mode

	api     *slack.Client // bot mode
	channel string

	mu        sync.Mutex
	channelID string // learnt from Slack's answers: history and replies want an ID
}

// NewSlack returns a Slack notifier for c, making its requests with httpClient's transport
// (nil means Go's default transport, which honours HTTPS_PROXY). Redirects are not followed:
// Slack does not redirect these calls, and following one could turn a failed post into a
// successful GET.
func NewSlack(c SlackConfig, httpClient *http.Client) (*Slack, error) {
	var hc http.Client
	if httpClient != nil {
		hc = *httpClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	httpClient = &hc
	s := &Slack{
		timeout:    c.Timeout,
		logger:     c.Logger,
		username:   c.Username,
		iconEmoji:  c.IconEmoji,
		httpClient: httpClient,
	}
	if s.timeout == 0 {
		s.timeout = slackDefaultTimeout
	}
	if s.timeout < 0 {
		return nil, fmt.Errorf("slack: negative timeout %s", c.Timeout)
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	switch {
	case c.WebhookURL != "" && c.Token != "":
		return nil, errors.New("slack: both a webhook URL and a bot token are configured: choose one")
	case c.WebhookURL != "":
		if err := slackCheckURL(c.WebhookURL, true); err != nil {
			return nil, fmt.Errorf("slack: webhook URL: %w", err)
		}
		s.name = "slack-webhook"
		s.webhookURL = c.WebhookURL
		s.secrets = slackSecretForms(c.WebhookURL)
	case c.Token != "":
		if strings.ContainsAny(c.Token, " \t\r\n") {
			return nil, errors.New("slack: the bot token contains white space")
		}
		if c.Channel == "" {
			return nil, errors.New("slack: a bot token needs a channel")
		}
		api := c.APIURL
		if api == "" {
			api = slack.APIURL
		}
		if err := slackCheckURL(api, true); err != nil {
			return nil, fmt.Errorf("slack: API URL: %w", err)
		}
		if !strings.HasSuffix(api, "/") {
			api += "/"
		}
		s.name = "slack-bot"
		s.channel = c.Channel
		s.secrets = append(slackSecretForms(c.Token), slackURLPassword(api)...)
		s.api = slack.New(c.Token, slack.OptionAPIURL(api), slack.OptionHTTPClient(httpClient))
	default:
		return nil, errors.New("slack: neither a webhook URL nor a bot token is configured")
	}
	return s, nil
}

// slackCheckURL validates a URL without ever quoting it. Secret URLs must use HTTPS unless
// they point at loopback.
func slackCheckURL(raw string, secret bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("scheme %q: want https", u.Scheme)
	case u.Host == "":
		return errors.New("no host")
	case u.Scheme == "http" && secret && !slackLoopback(u.Hostname()):
		return errors.New("plain http would send the secret in clear: want https")
	}
	return nil
}

func slackLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// slackSecretForms returns the spellings of a secret that could show up in an error: as is,
// and (for a URL) its path, which holds the webhook's key, raw and escaped.
func slackSecretForms(secret string) []string {
	forms := []string{secret, url.QueryEscape(secret)}
	if u, err := url.Parse(secret); err == nil && u.Host != "" {
		if p := strings.TrimPrefix(u.EscapedPath(), "/"); len(p) > 8 {
			forms = append(forms, p, strings.TrimPrefix(u.Path, "/"))
		}
		if i := strings.LastIndexByte(u.Path, '/'); i >= 0 && len(u.Path)-i > 8 {
			forms = append(forms, u.Path[i+1:]) // a webhook's key
		}
		if pw, ok := u.User.Password(); ok && pw != "" {
			forms = append(forms, pw)
		}
	}
	return forms
}

func slackURLPassword(raw string) []string {
	if u, err := url.Parse(raw); err == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			return []string{pw}
		}
	}
	return nil
}

// GoString is String, so that %#v does not print the secrets.
func (s *Slack) GoString() string { return s.String() }

// Name returns "slack-webhook" or "slack-bot".
func (s *Slack) Name() string { return s.name }

// String names the notifier without its secrets.
func (s *Slack) String() string {
	if s.api != nil {
		return s.name + "(channel=" + strconv.Quote(s.channel) + ")"
	}
	return s.name
}

// Deliver posts n to Slack within the configured timeout. A resolved or repeat notification
// with a threadRef ("channel:ts", the Ref of the thread's first delivery) is posted as a reply
// in that thread (bot only: webhooks cannot thread). In bot mode Delivery.Ref is
// "channel:ts"; webhooks return an empty Ref. See [Slack] for the delivery guarantees and
// the errors.
func (s *Slack) Deliver(ctx context.Context, n Notification, threadRef string) (Delivery, error) {
	if n.ID == "" {
		return Delivery{}, fmt.Errorf("%s: notification without an ID: %w", s.name, ErrPermanent)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var (
		d   Delivery
		err error
	)
	if s.api != nil {
		d, err = s.slackDeliverBot(ctx, n, threadRef)
	} else {
		d, err = s.slackDeliverWebhook(ctx, n)
	}
	if err != nil {
		s.logger.Debug("slack delivery failed", "notifier", s.name, "notification", n.ID, "rule", n.Rule, "kind", string(n.Kind), "err", err)
		return Delivery{}, err
	}
	s.logger.Debug("slack notification delivered", "notifier", s.name, "notification", n.ID, "rule", n.Rule, "kind", string(n.Kind), "ref", d.Ref)
	return d, nil
}

// slackDeliverWebhook POSTs the message itself (rather than with slack.PostWebhookContext) to
// read Slack's reason (no_service, invalid_payload…) and an HTTP-date Retry-After, and to keep
// the URL out of every error.
func (s *Slack) slackDeliverWebhook(ctx context.Context, n Notification) (Delivery, error) {
	f := false
	msg := slack.WebhookMessage{
		Text:        slackText(n),
		Blocks:      &slack.Blocks{BlockSet: SlackBlocks(n)},
		Username:    s.username,
		IconEmoji:   s.iconEmoji,
		UnfurlLinks: &f,
		UnfurlMedia: &f,
	}
	body, err := json.Marshal(&msg)
	if err != nil {
		return Delivery{}, fmt.Errorf("%s: encoding the message: %w: %w", s.name, err, ErrPermanent)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.webhookURL, bytes.NewReader(body))
	if err != nil {
		return Delivery{}, s.slackClassify("building the request", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := s.httpClient.Do(req)
	if err != nil {
		return Delivery{}, s.slackClassify("posting to the webhook", err)
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, slackMaxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) // let the connection be reused
	if resp.StatusCode/100 == 2 {
		return Delivery{}, nil
	}
	reason := slackBodyExcerpt(excerpt)
	what := "webhook answered HTTP " + strconv.Itoa(resp.StatusCode)
	if reason != "" {
		what += ": " + reason
	}
	base := &slackError{msg: s.slackScrub(s.name + ": " + what)}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return Delivery{}, &RetryAfterError{After: slackParseRetryAfter(resp.Header.Get("Retry-After")), Err: base}
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return Delivery{}, base
	default: // 3xx (webhooks do not redirect) and 4xx: the same request will fail the same way
		base.is = append(base.is, ErrPermanent)
		return Delivery{}, base
	}
}

// slackBodyExcerpt makes one printable line of an error body (Slack's reason, such as
// no_service); an HTML error page is only named.
func slackBodyExcerpt(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if strings.HasPrefix(s, "<") {
		return "(an HTML error page)"
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = slackTruncate(s, 200)
	}
	return s
}

// slackParseRetryAfter reads Retry-After in seconds or as an HTTP date.
func slackParseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
		return max(time.Duration(secs)*time.Second, time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t).Round(time.Second), time.Second)
	}
	return slackDefaultRetryAfter
}

// slackDeliverBot posts n with chat.postMessage, after looking for an earlier delivery when
// n may have been posted already.
func (s *Slack) slackDeliverBot(ctx context.Context, n Notification, threadRef string) (Delivery, error) {
	channel := s.channel
	threadTS := ""
	if threadRef != "" && (n.Kind == KindResolved || n.Kind == KindRepeat) {
		c, ts, ok := slackParseRef(threadRef)
		if ok {
			channel, threadTS = c, ts
		} else {
			s.logger.Warn("slack thread reference unusable; posting at the top level", "notifier", s.name, "notification", n.ID, "thread_ref", threadRef)
		}
	}
	if n.PriorAttempts > 0 || n.CreatedAt.IsZero() || time.Since(n.CreatedAt) > slackLookupAge {
		ref, found, err := s.slackLookup(ctx, channel, threadTS, n.ID)
		switch {
		case found:
			s.logger.Info("slack notification was already posted; not posting it again", "notifier", s.name, "notification", n.ID, "ref", ref)
			return Delivery{Ref: ref}, nil
		case err != nil && !errors.Is(err, ErrPermanent):
			// Unsure whether it was posted: do not risk a duplicate, try again later.
			return Delivery{}, err
		case err != nil:
			s.logger.Warn("slack cannot check for an earlier delivery (give the bot channels:history and use the channel ID); posting anyway, a duplicate is possible",
				"notifier", s.name, "notification", n.ID, "err", err)
		}
	}
	opts := []slack.MsgOption{
		slack.MsgOptionText(slackText(n), false),
		slack.MsgOptionBlocks(SlackBlocks(n)...),
		slack.MsgOptionMetadata(slack.SlackMetadata{
			EventType:    slackMetadataEventType,
			EventPayload: map[string]any{"id": n.ID, "rule": n.Rule, "kind": string(n.Kind)},
		}),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	}
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	if s.username != "" {
		opts = append(opts, slack.MsgOptionUsername(s.username))
	}
	if s.iconEmoji != "" {
		opts = append(opts, slack.MsgOptionIconEmoji(s.iconEmoji))
	}
	respChannel, ts, err := s.api.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return Delivery{}, s.slackClassify("chat.postMessage", err)
	}
	if respChannel == "" {
		respChannel = channel
	}
	if threadTS == "" {
		s.mu.Lock()
		s.channelID = respChannel
		s.mu.Unlock()
	}
	return Delivery{Ref: respChannel + ":" + ts}, nil
}

// slackParseRef splits "channel:ts".
func slackParseRef(ref string) (channel, ts string, ok bool) {
	channel, ts, ok = strings.Cut(ref, ":")
	if !ok || channel == "" || ts == "" {
		return "", "", false
	}
	secs, frac, _ := strings.Cut(ts, ".")
	if _, err := strconv.ParseUint(secs, 10, 64); err != nil {
		return "", "", false
	}
	if frac != "" {
		if _, err := strconv.ParseUint(frac, 10, 64); err != nil {
			return "", "", false
		}
	}
	return channel, ts, true
}

// slackLookup looks for a message carrying id: in the thread threadTS of channel, or among
// the channel's latest messages when threadTS is "".
func (s *Slack) slackLookup(ctx context.Context, channel, threadTS, id string) (ref string, found bool, err error) {
	if threadTS == "" {
		s.mu.Lock()
		if s.channelID != "" {
			channel = s.channelID // history wants the ID; the configuration may hold a name
		}
		s.mu.Unlock()
		resp, err := s.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
			ChannelID:          channel,
			Limit:              slackHistoryLimit,
			IncludeAllMetadata: true,
		})
		if err != nil {
			return "", false, s.slackClassify("conversations.history", err)
		}
		if ts, ok := slackFindID(resp.Messages, id); ok {
			return channel + ":" + ts, true, nil
		}
		return "", false, nil
	}
	cursor := ""
	for range slackRepliesPages {
		msgs, more, next, err := s.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
			ChannelID:          channel,
			Timestamp:          threadTS,
			Cursor:             cursor,
			Limit:              slackRepliesLimit,
			IncludeAllMetadata: true,
		})
		if err != nil {
			return "", false, s.slackClassify("conversations.replies", err)
		}
		if ts, ok := slackFindID(msgs, id); ok {
			return channel + ":" + ts, true, nil
		}
		if !more || next == "" {
			break
		}
		cursor = next
	}
	return "", false, nil
}

func slackFindID(msgs []slack.Message, id string) (string, bool) {
	for _, m := range msgs {
		if m.Metadata.EventType != slackMetadataEventType {
			continue
		}
		if got, _ := m.Metadata.EventPayload["id"].(string); got == id {
			return m.Timestamp, true
		}
	}
	return "", false
}

// slackRetryableCodes are Web API error codes that a later attempt may not meet.
var slackRetryableCodes = map[string]bool{
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"ratelimited":         true,
	"rate_limited":        true,
	"team_added_to_org":   true,
}

// slackClassify classifies err (from slack-go or net/http) for the outbox and returns an error
// whose text carries no secret. The original error is not kept in the chain (a *url.Error
// holds the URL); what callers may test for is: context.DeadlineExceeded and
// context.Canceled, slack.SlackErrorResponse, ErrPermanent and *RetryAfterError.
func (s *Slack) slackClassify(op string, err error) error {
	e := &slackError{msg: s.slackScrub(s.name + ": " + op + ": " + err.Error())}
	for _, sentinel := range []error{context.DeadlineExceeded, context.Canceled} {
		if errors.Is(err, sentinel) {
			e.is = append(e.is, sentinel)
		}
	}
	var (
		rl   *slack.RateLimitedError
		sc   slack.StatusCodeError
		resp slack.SlackErrorResponse
	)
	switch {
	case errors.As(err, &rl):
		return &RetryAfterError{After: max(rl.RetryAfter, time.Second), Err: e}
	case errors.As(err, &sc):
		switch {
		case sc.Code == http.StatusTooManyRequests:
			return &RetryAfterError{After: slackDefaultRetryAfter, Err: e}
		case sc.Code >= 300 && sc.Code < 500 && sc.Code != http.StatusRequestTimeout:
			e.is = append(e.is, ErrPermanent)
		}
	case errors.As(err, &resp):
		e.is = append(e.is, resp)
		if !slackRetryableCodes[resp.Err] {
			e.is = append(e.is, ErrPermanent)
		}
	}
	return e
}

// slackScrub replaces every spelling of a secret in msg.
func (s *Slack) slackScrub(msg string) string {
	for _, sec := range s.secrets {
		if sec != "" {
			msg = strings.ReplaceAll(msg, sec, "[redacted]")
		}
	}
	return msg
}

// slackError is a delivery error with its secrets scrubbed; is lists what errors.Is and
// errors.As may find in it.
type slackError struct {
	msg string
	is  []error
}

func (e *slackError) Error() string   { return e.msg }
func (e *slackError) Unwrap() []error { return e.is }
