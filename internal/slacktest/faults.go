package slacktest

import "strconv"

type faultKind int

const (
	faultRateLimited faultKind = iota + 1
	faultServerError
	faultHang
	faultInvalidAuth
	faultNoService
	faultAcceptThenHang
)

// Fault is how the server misbehaves for one request; build it with [RateLimited],
// [ServerError], [Hang], [InvalidAuth], [NoService] or [AcceptThenHang].
type Fault struct {
	kind       faultKind
	retryAfter int
}

// RateLimited answers HTTP 429 with "Retry-After: seconds" (and, on the Web API,
// {"ok":false,"error":"ratelimited"}).
func RateLimited(seconds int) Fault { return Fault{kind: faultRateLimited, retryAfter: seconds} }

// ServerError answers HTTP 500 with an HTML body, as Slack does when it is unwell.
func ServerError() Fault { return Fault{kind: faultServerError} }

// Hang accepts the request and never answers, until the client gives up or the server closes.
func Hang() Fault { return Fault{kind: faultHang} }

// InvalidAuth refuses the credentials: {"ok":false,"error":"invalid_auth"} on the Web API, 403
// "invalid_token" on a webhook.
func InvalidAuth() Fault { return Fault{kind: faultInvalidAuth} }

// NoService says the destination is gone: 404 "no_service" on a webhook,
// {"ok":false,"error":"channel_not_found"} on the Web API.
func NoService() Fault { return Fault{kind: faultNoService} }

// AcceptThenHang processes the request normally (a message is posted and recorded) but never
// answers: the client cannot know whether its message arrived. On read-only methods it is
// [Hang].
func AcceptThenHang() Fault { return Fault{kind: faultAcceptThenHang} }

// String names the fault.
func (f Fault) String() string {
	switch f.kind {
	case faultRateLimited:
		return "rate limited (Retry-After " + strconv.Itoa(f.retryAfter) + ")"
	case faultServerError:
		return "server error"
	case faultHang:
		return "hang"
	case faultInvalidAuth:
		return "invalid auth"
	case faultNoService:
		return "no service"
	case faultAcceptThenHang:
		return "accept then hang"
	}
	return "no fault"
}

// planned is one entry of the fault plan.
type planned struct {
	endpoint string // "" for every endpoint
	left     int
	fault    Fault
}
