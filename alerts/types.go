// Package alerts turns changes in the daemon's state into alerts (pending → firing →
// resolved), and delivers their notifications exactly once through an outbox kept in the
// store: to Slack (slack-go: incoming webhook or bot token), deduplicated, grouped, repeated
// while still firing, silenced on request. Prometheus rules expressing the same alerts for
// Alertmanager live in alerts/prometheus/.
package alerts

import (
	"context"
	"errors"
	"time"
)

// Severity ranks an alert.
type Severity string

// Severities. Fleet hosts, vendors and EK CAs raise an alert's severity one step.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Alert is one firing (or resolved) instance of a rule for one subject (a host, a vendor, an
// EK CA, the trust list).
type Alert struct {
	Rule     string            `json:"rule"`     // e.g. AIKEndpointWithdrawn
	Key      string            `json:"key"`      // unique per instance: rule + subject
	Severity Severity          `json:"severity"` // after fleet escalation
	Fleet    bool              `json:"fleet"`
	Vendor   string            `json:"vendor,omitempty"`
	Host     string            `json:"host,omitempty"`
	Subject  string            `json:"subject"` // what it is about, for people
	Summary  string            `json:"summary"` // one line
	Evidence []string          `json:"evidence,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	State    State             `json:"state"`
	Since    time.Time         `json:"since"`             // when the condition started
	FiredAt  time.Time         `json:"fired_at,omitzero"` // when it became firing
	Resolved time.Time         `json:"resolved,omitzero"` // when it resolved
	Notified time.Time         `json:"notified,omitzero"` // last notification enqueued (for repeats)
	Count    int               `json:"consecutive"`       // consecutive evaluations the condition held
	// SilencedBy is the ID of the silence that mutes the alert, "" if none: a silenced alert
	// still changes state but sends nothing.
	SilencedBy string `json:"silenced_by,omitempty"`
}

// State is an alert's lifecycle state.
type State string

// Alert states.
const (
	StatePending  State = "pending"
	StateFiring   State = "firing"
	StateResolved State = "resolved"
)

// Kind says why a notification is sent.
type Kind string

// Notification kinds.
const (
	KindFiring   Kind = "firing"
	KindRepeat   Kind = "repeat"
	KindResolved Kind = "resolved"
)

// Notification is one message to deliver: one or more alerts of one rule and group (all hosts
// of one vendor withdrawn by one release make one notification).
type Notification struct {
	ID        string    `json:"id"` // idempotency key: stable across retries and restarts
	Kind      Kind      `json:"kind"`
	Rule      string    `json:"rule"`
	Group     string    `json:"group"`    // rule + grouping labels (e.g. vendor)
	Severity  Severity  `json:"severity"` // the highest of its alerts
	Title     string    `json:"title"`
	Alerts    []Alert   `json:"alerts"`
	CreatedAt time.Time `json:"created_at"`
	// ThreadKey names the conversation a resolved or repeated notification belongs to (the
	// group's first firing notification), so that a bot can reply in its thread.
	ThreadKey string `json:"thread_key,omitempty"`
	// Links for people.
	StatusURL  string `json:"status_url,omitempty"`
	RunbookURL string `json:"runbook_url,omitempty"`
	// PriorAttempts is how many delivery attempts of this notification began before this one
	// (set by the outbox for each attempt, not stored): more than 0 means an earlier attempt
	// may have reached the destination, and a Notifier that can should check before posting.
	PriorAttempts int `json:"-"`
}

// Delivery is what a destination says about a delivered notification.
type Delivery struct {
	// Ref identifies the posted message (a Slack channel and ts), kept so that later
	// notifications of the same thread can reply to it.
	Ref string `json:"ref,omitempty"`
}

// Notifier delivers notifications to one destination. Deliver must be idempotent for one
// Notification.ID where the destination allows it; threadRef is the Ref of the thread's first
// delivered notification, "" if none.
type Notifier interface {
	Name() string
	Deliver(ctx context.Context, n Notification, threadRef string) (Delivery, error)
}

// RetryAfterError is returned by a Notifier when the destination asked to wait (HTTP 429).
type RetryAfterError struct {
	// After is how long the destination asked to wait.
	After time.Duration
	// Err is the destination's error.
	Err error
}

// Error says how long the destination asked to wait and why.
func (e *RetryAfterError) Error() string {
	return "retry after " + e.After.String() + ": " + e.Err.Error()
}

// Unwrap returns the destination's own error.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// ErrPermanent marks a delivery error that retrying cannot fix (bad token, unknown channel);
// wrap it so that the outbox gives up on the notification and reports it.
var ErrPermanent = errors.New("permanent delivery failure")
