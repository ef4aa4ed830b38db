package probes

import "time"

// Status is the outcome of one AIK CA probe. Every status but [StatusOK] is a failure.
type Status string

// Probe statuses.
const (
	// StatusOK: GetCACaps and GetCACertChain answered 2xx with a capability list and a PKCS#7
	// chain holding the host's AIK CA certificate.
	StatusOK Status = "ok"
	// StatusWithdrawn: HTTP 404 whose JSON Message says the authority does not exist, as the
	// service answers for a withdrawn (or unknown) AIK CA.
	StatusWithdrawn Status = "withdrawn"
	// StatusHTTPError: any other non-2xx answer (400, other 404s, 5xx, ...); Message keeps the
	// server's message.
	StatusHTTPError Status = "http_error"
	// StatusThrottled: HTTP 429; RetryAfterSeconds holds the server's Retry-After when given.
	StatusThrottled Status = "throttled"
	// StatusTLSError: the TLS handshake failed (untrusted or wrong-name certificate, alert,
	// not TLS at all).
	StatusTLSError Status = "tls_error"
	// StatusDNSError: the host name did not resolve.
	StatusDNSError Status = "dns_error"
	// StatusTimeout: the per-probe deadline passed, or the network timed out.
	StatusTimeout Status = "timeout"
	// StatusConnectError: the connection was refused, reset or closed before a complete
	// response, or failed in another way that is neither DNS, TLS nor a timeout.
	StatusConnectError Status = "connect_error"
	// StatusBadResponse: a 2xx answer that is not usable: a capability list that is not one,
	// a chain that is not PKCS#7 or lacks the host's AIK CA certificate, a body over the cap.
	StatusBadResponse Status = "bad_response"
	// StatusCancelled: the sweep (the caller's context) was cancelled before or during the
	// probe; says nothing about the host.
	StatusCancelled Status = "cancelled"
)

// Failing reports whether the status is a failure (anything but ok).
func (s Status) Failing() bool { return s != StatusOK }

// Result is what one AIK CA probe saw. The JSON names are stable.
type Result struct {
	Host   string `json:"host"`              // lower case
	Vendor string `json:"vendor,omitempty"`  // upper case: IFX, INTC, AMD, ...
	IDKind string `json:"id_kind,omitempty"` // "keyid" or "nameid"
	ID     string `json:"id,omitempty"`      // lower-case hex
	Fleet  bool   `json:"fleet,omitempty"`   // named by the operator (--host), not only by the trust list

	Status     Status `json:"status"`
	HTTPStatus int    `json:"http_status,omitempty"` // of the last response received
	Message    string `json:"message,omitempty"`     // the server's JSON Message (or a text excerpt) on a non-2xx answer
	Error      string `json:"error,omitempty"`       // what failed, for people; empty when ok

	StartedAt       time.Time `json:"started_at,omitzero"`
	DurationSeconds float64   `json:"duration_seconds"` // both requests, bodies included
	Phases          *Phases   `json:"phases,omitempty"` // of the first request (GetCACaps)

	Capabilities []string    `json:"capabilities,omitempty"` // GetCACaps tokens, in order
	AIKCA        *AIKCA      `json:"aik_ca,omitempty"`       // the host's AIK CA certificate from GetCACertChain
	Chain        []ChainCert `json:"chain,omitempty"`        // every certificate of GetCACertChain, in order

	ServerCertNotAfter    time.Time `json:"server_cert_not_after,omitzero"`     // the TLS leaf certificate's NotAfter
	ServerDateSkewSeconds *float64  `json:"server_date_skew_seconds,omitempty"` // server Date header minus local time
	RetryAfterSeconds     *int64    `json:"retry_after_seconds,omitempty"`      // the server's Retry-After, in seconds
}

// OK reports whether the probe succeeded.
func (r Result) OK() bool { return r.Status == StatusOK }

// Phases splits the first request's time, in seconds. A phase that did not happen (no DNS
// lookup for a host mapped by a resolve rule, no connect or TLS on a reused connection) is 0.
type Phases struct {
	DNS       float64 `json:"dns"`        // name lookup
	Connect   float64 `json:"connect"`    // TCP connect
	TLS       float64 `json:"tls"`        // TLS handshake
	FirstByte float64 `json:"first_byte"` // request written to first response byte (server time)
	Total     float64 `json:"total"`      // request start to end of body
	Reused    bool    `json:"reused_connection,omitempty"`
}

// AIKCA describes the AIK CA certificate a host returned.
type AIKCA struct {
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
	SHA256   string    `json:"sha256"` // of the DER certificate, lower-case hex
	// MatchesTrustList is set when the trust list's certificates for the host were known
	// ([Target.ExpectedCerts]): true when the returned certificate is one of them.
	MatchesTrustList *bool `json:"matches_trust_list,omitempty"`
}

// ChainCert is one certificate of a GetCACertChain answer.
type ChainCert struct {
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
}
