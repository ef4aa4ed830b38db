package alerts

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Slack destination settings: from the environment or files, with the secrets kept out of
// every string, log line and JSON.

// SlackConfig says where and how to post to Slack: an incoming webhook (WebhookURL), or a bot
// token with chat.postMessage (Token and Channel). WebhookURL and Token are secrets: they are
// kept out of String, logs, JSON and errors (so is a password in APIURL).
type SlackConfig struct {
	WebhookURL string // incoming webhook URL (a secret)
	Token      string // bot token, xoxb-… (a secret)
	Channel    string // channel for the bot: its ID (C…) is best, a name works but weakens Deliver's duplicate check
	// APIURL is the Web API base URL; "" means Slack's (https://slack.com/api/).
	APIURL string
	// Timeout bounds each Deliver call; 0 means 10 s.
	Timeout   time.Duration
	Username  string // display name override ("" keeps the app's)
	IconEmoji string // icon override, e.g. ":rotating_light:"
	// Logger receives the notifier's logs; nil means slog.Default().
	Logger *slog.Logger
}

// MarshalJSON shows the configuration with its secrets redacted.
func (c SlackConfig) MarshalJSON() ([]byte, error) {
	v := struct {
		WebhookURL string `json:"webhook_url,omitempty"`
		Token      string `json:"token,omitempty"`
		Channel    string `json:"channel,omitempty"`
		APIURL     string `json:"api_url,omitempty"`
		Timeout    string `json:"timeout,omitempty"`
		Username   string `json:"username,omitempty"`
		IconEmoji  string `json:"icon_emoji,omitempty"`
	}{Channel: c.Channel, Username: c.Username, IconEmoji: c.IconEmoji}
	if c.WebhookURL != "" {
		v.WebhookURL = slackRedactedURL(c.WebhookURL)
	}
	if c.Token != "" {
		v.Token = slackRedactedToken(c.Token)
	}
	if c.APIURL != "" {
		v.APIURL = slackRedactedURL(c.APIURL)
	}
	if c.Timeout != 0 {
		v.Timeout = c.Timeout.String()
	}
	return json.Marshal(v)
}

// String describes the configuration with its secrets redacted.
func (c SlackConfig) String() string {
	var b strings.Builder
	switch {
	case c.WebhookURL != "":
		b.WriteString("slack-webhook(url=" + slackRedactedURL(c.WebhookURL))
	case c.Token != "":
		b.WriteString("slack-bot(token=" + slackRedactedToken(c.Token) + " channel=" + strconv.Quote(c.Channel))
		if c.APIURL != "" {
			b.WriteString(" api=" + slackRedactedURL(c.APIURL))
		}
	default:
		b.WriteString("slack(unconfigured")
	}
	if c.Timeout != 0 {
		b.WriteString(" timeout=" + c.Timeout.String())
	}
	b.WriteString(")")
	return b.String()
}

// GoString is String, so that %#v does not print the secrets either.
func (c SlackConfig) GoString() string { return c.String() }

// LogValue logs the configuration redacted.
func (c SlackConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

// slackRedactedURL keeps a URL's scheme and host: enough to see where it points.
func slackRedactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "[redacted]"
	}
	return u.Scheme + "://" + u.Host + "/[redacted]"
}

// slackRedactedToken keeps a token's type prefix (xoxb, xoxp…).
func slackRedactedToken(tok string) string {
	if p, _, ok := strings.Cut(tok, "-"); ok && strings.HasPrefix(p, "xox") && len(p) <= 5 {
		return p + "-[redacted]"
	}
	return "[redacted]"
}

// SlackConfigFromEnv reads the Slack configuration from the environment (getenv; nil means
// os.Getenv): AIKWATCH_SLACK_WEBHOOK_URL, or AIKWATCH_SLACK_TOKEN with AIKWATCH_SLACK_CHANNEL
// (and optionally AIKWATCH_SLACK_API_URL); each secret may instead be read, whitespace
// trimmed, from the file named by its _FILE variant. AIKWATCH_SLACK_TIMEOUT (a Go duration),
// AIKWATCH_SLACK_USERNAME and AIKWATCH_SLACK_ICON_EMOJI are optional. ok is false when nothing
// is configured. A half or doubly configured Slack (a token without a channel, both a webhook
// and a token, a variable and its _FILE) or an unreadable file is an error naming the
// variable, never the secret.
func SlackConfigFromEnv(getenv func(string) string) (c SlackConfig, ok bool, err error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	if c.WebhookURL, err = slackSecretFromEnv(get, slackEnvWebhookURL, slackEnvWebhookURLFile); err != nil {
		return SlackConfig{}, false, err
	}
	if c.Token, err = slackSecretFromEnv(get, slackEnvToken, slackEnvTokenFile); err != nil {
		return SlackConfig{}, false, err
	}
	c.Channel = get(slackEnvChannel)
	c.APIURL = get(slackEnvAPIURL)
	c.Username = get(slackEnvUsername)
	c.IconEmoji = get(slackEnvIconEmoji)
	if t := get(slackEnvTimeout); t != "" {
		d, perr := time.ParseDuration(t)
		if perr != nil || d <= 0 {
			return SlackConfig{}, false, fmt.Errorf("%s=%q: want a positive duration such as 10s", slackEnvTimeout, t)
		}
		c.Timeout = d
	}
	switch {
	case c.WebhookURL != "" && c.Token != "":
		return SlackConfig{}, false, fmt.Errorf("both %s and %s are set: configure either a webhook or a bot token", slackEnvWebhookURL, slackEnvToken)
	case c.WebhookURL != "":
		if c.Channel != "" || c.APIURL != "" {
			return SlackConfig{}, false, fmt.Errorf("%s and %s only apply to a bot token (%s); a webhook posts to its own channel", slackEnvChannel, slackEnvAPIURL, slackEnvToken)
		}
	case c.Token != "":
		if c.Channel == "" {
			return SlackConfig{}, false, fmt.Errorf("%s is set but %s is not: a bot needs a channel (preferably its ID, C…)", slackEnvToken, slackEnvChannel)
		}
	default:
		if c.Channel != "" || c.APIURL != "" {
			return SlackConfig{}, false, fmt.Errorf("%s or %s is set but neither %s nor %s", slackEnvChannel, slackEnvAPIURL, slackEnvToken, slackEnvTokenFile)
		}
		return SlackConfig{}, false, nil
	}
	return c, true, nil
}

// slackSecretFromEnv reads a secret from the variable name or from the file named by fileVar.
func slackSecretFromEnv(get func(string) string, name, fileVar string) (string, error) {
	v, file := get(name), get(fileVar)
	switch {
	case v != "" && file != "":
		return "", fmt.Errorf("both %s and %s are set: use one", name, fileVar)
	case file == "":
		return v, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		// The error names the file, not its content.
		return "", fmt.Errorf("%s: %w", fileVar, err)
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("%s: file %q is empty", fileVar, file)
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("%s: file %q holds more than one line", fileVar, file)
	}
	return s, nil
}
