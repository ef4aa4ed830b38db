package probes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aikwatch/aikwatch/trustlist"
)

// Probe defaults.
const (
	// DefaultAIKTimeout bounds one probe (both requests, bodies included).
	DefaultAIKTimeout = 10 * time.Second
	// DefaultMaxChainBody caps a GetCACertChain body; the real one is a few KiB.
	DefaultMaxChainBody = 1 << 20
	// MaxCapsBody caps a GetCACaps body.
	MaxCapsBody = 64 << 10
)

// Target is one AIK CA host to probe.
type Target struct {
	Host   string // lower-case host name under trustlist.AIKHostSuffix
	Vendor string // upper case
	IDKind string // "keyid" or "nameid"
	ID     string // lower-case hex
	// ExpectedCerts are the DER certificates the trust list ships for the host; when set, the
	// result says whether the service returned one of them.
	ExpectedCerts [][]byte
	// Fleet marks a host named by the operator (devices in the fleet depend on it).
	Fleet bool
}

// TargetsFromSnapshot returns one target per AIK host of the release, in the snapshot's
// order, without expected certificates (see [WithExpectedCerts]).
func TargetsFromSnapshot(s *trustlist.Snapshot) []Target {
	out := make([]Target, 0, len(s.AIKHosts))
	for _, h := range s.AIKHosts {
		out = append(out, Target{Host: h.Host, Vendor: h.Vendor, IDKind: h.IDKind, ID: h.ID})
	}
	return out
}

// WithExpectedCerts returns a copy of targets whose ExpectedCerts hold the DER of every
// certificate among files (a release's members) whose subject CN names the target's host.
// Files that are not certificates, or do not parse, are skipped.
func WithExpectedCerts(targets []Target, files []trustlist.File) []Target {
	byHost := make(map[string][][]byte, len(targets))
	for _, t := range targets {
		byHost[t.Host] = nil
	}
	for _, f := range files {
		c, _, err := trustlist.ParseCertificate(f.Data)
		if err != nil {
			continue
		}
		n, err := trustlist.ParseAIKName(c.Subject.CommonName)
		if err != nil {
			continue
		}
		h := n.Host()
		if _, ok := byHost[h]; ok && !containsDER(byHost[h], c.Raw) {
			byHost[h] = append(byHost[h], c.Raw)
		}
	}
	out := make([]Target, len(targets))
	for i, t := range targets {
		t.ExpectedCerts = append(t.ExpectedCerts[:len(t.ExpectedCerts):len(t.ExpectedCerts)], byHost[t.Host]...)
		out[i] = t
	}
	return out
}

// TargetFromHost returns a fleet target for an AIK CA host name given in any case, with or
// without the .microsoftaik.azure.net suffix (IFX-KeyId-1234...).
func TargetFromHost(host string) (Target, error) {
	n, err := trustlist.ParseAIKHost(host)
	if err != nil {
		return Target{}, fmt.Errorf("fleet host: %w", err)
	}
	return Target{Host: n.Host(), Vendor: n.Vendor, IDKind: n.IDKind, ID: n.ID, Fleet: true}, nil
}

// AIKProber probes AIK CA hosts. The zero value is usable (http.DefaultClient and the defaults);
// it is safe for concurrent use. Connections are the client's: a probe may reuse one kept alive
// by an earlier probe of the same host (then [Phases].Reused is set and connect and TLS are 0),
// and closing idle ones is the client owner's business (http.Client.CloseIdleConnections).
type AIKProber struct {
	Client    *http.Client     // nil: http.DefaultClient
	Timeout   time.Duration    // per probe; 0: DefaultAIKTimeout
	MaxBody   int64            // GetCACertChain body cap; 0: DefaultMaxChainBody
	UserAgent string           // "": WindowsUserAgent
	Now       func() time.Time // clock for StartedAt and the Date skew; nil: time.Now
}

func (p *AIKProber) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// AIKURL returns the SCEP URL of host for operation (and message, when not empty), such as
// https://host/templates/Aik/scep?operation=GetCACertChain&message=default.
func AIKURL(host, operation, message string) string {
	q := "operation=" + url.QueryEscape(operation)
	if message != "" {
		q += "&message=" + url.QueryEscape(message)
	}
	return (&url.URL{Scheme: "https", Host: host, Path: AIKSCEPPath, RawQuery: q}).String()
}

// Probe runs GetCACaps and then, if that succeeded, GetCACertChain against t.Host, within the
// probe timeout, without retrying, and reports what happened.
func (p *AIKProber) Probe(ctx context.Context, t Target) (r Result) {
	r = Result{Host: t.Host, Vendor: t.Vendor, IDKind: t.IDKind, ID: t.ID, Fleet: t.Fleet, StartedAt: p.now().UTC()}
	start := time.Now()
	defer func() { r.DurationSeconds = seconds(time.Since(start)) }()
	if ctx.Err() != nil {
		r.Status, r.Error = StatusCancelled, "sweep cancelled before the probe started"
		return r
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultAIKTimeout
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	tr := &phaseTrace{}
	body, err := p.get(httptrace.WithClientTrace(pctx, tr.trace()), &r, "GetCACaps", "", MaxCapsBody)
	r.Phases = tr.phases()
	if err != nil {
		p.fail(ctx, pctx, &r, "GetCACaps", err, tr)
		return r
	}
	if r.Status != "" {
		return r
	}
	if r.Capabilities, err = parseCaps(body); err != nil {
		r.Status, r.Error = StatusBadResponse, err.Error()
		return r
	}

	body, err = p.get(pctx, &r, "GetCACertChain", "default", p.maxBody())
	if err != nil {
		p.fail(ctx, pctx, &r, "GetCACertChain", err, nil)
		return r
	}
	if r.Status != "" {
		return r
	}
	if r.Chain, r.AIKCA, err = parseChain(body, t.Host, t.ExpectedCerts); err != nil {
		r.Status, r.Error = StatusBadResponse, err.Error()
		return r
	}
	r.Status = StatusOK
	return r
}

func (p *AIKProber) maxBody() int64 {
	if p.MaxBody > 0 {
		return p.MaxBody
	}
	return DefaultMaxChainBody
}

// errTooLarge marks a body over its cap.
var errTooLarge = errors.New("body too large")

// get sends one SCEP GET and reads its body within max bytes. It records the response's
// metadata in r and sets r.Status for an HTTP-level failure (non-2xx, body over the cap); a
// transport failure is returned as an error for [AIKProber.fail] to classify.
func (p *AIKProber) get(ctx context.Context, r *Result, op, message string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, AIKURL(r.Host, op, message), nil)
	if err != nil {
		return nil, err
	}
	ua := p.UserAgent
	if ua == "" {
		ua = WindowsUserAgent
	}
	req.Header.Set("User-Agent", ua)
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p.record(r, resp)

	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	limit := max
	if !ok {
		limit = MaxCapsBody // an error body is only read for its message
	}
	if ok && resp.ContentLength > max {
		r.Status, r.Error = StatusBadResponse, fmt.Sprintf("%s: body exceeds %d bytes (Content-Length %d)", op, max, resp.ContentLength)
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if !ok {
		p.httpFailure(r, op, resp, body)
		return nil, nil
	}
	if int64(len(body)) > max {
		r.Status, r.Error = StatusBadResponse, fmt.Sprintf("%s: body exceeds %d bytes", op, max)
		return nil, nil
	}
	return body, nil
}

// record keeps what every response says about the server: status, TLS leaf expiry, clock.
func (p *AIKProber) record(r *Result, resp *http.Response) {
	r.HTTPStatus = resp.StatusCode
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		r.ServerCertNotAfter = resp.TLS.PeerCertificates[0].NotAfter.UTC()
	}
	now := p.now()
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		skew := math.Round(d.Sub(now).Seconds()*1000) / 1000
		r.ServerDateSkewSeconds = &skew
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if n, err := strconv.ParseInt(strings.TrimSpace(ra), 10, 64); err == nil && n >= 0 {
			r.RetryAfterSeconds = &n
		} else if t, err := http.ParseTime(ra); err == nil {
			base := now
			if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
				base = d // both times from the server's clock
			}
			n := int64(math.Max(0, math.Ceil(t.Sub(base).Seconds())))
			r.RetryAfterSeconds = &n
		}
	}
}

// httpFailure classifies a non-2xx answer.
func (p *AIKProber) httpFailure(r *Result, op string, resp *http.Response, body []byte) {
	r.Message = serverMessage(body)
	switch {
	case resp.StatusCode == http.StatusNotFound && isWithdrawnMessage(r.Message):
		r.Status = StatusWithdrawn
	case resp.StatusCode == http.StatusTooManyRequests:
		r.Status = StatusThrottled
	default:
		r.Status = StatusHTTPError
	}
	r.Error = fmt.Sprintf("%s: HTTP %d", op, resp.StatusCode)
	if r.Message != "" {
		r.Error += ": " + r.Message
	}
}

// fail classifies a transport error. parent is the caller's context and pctx the probe's.
func (p *AIKProber) fail(parent, pctx context.Context, r *Result, op string, err error, tr *phaseTrace) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	r.Status = classify(parent, pctx, err, tr)
	switch r.Status {
	case StatusCancelled:
		r.Error = fmt.Sprintf("%s: sweep cancelled: %v", op, err)
	case StatusTimeout:
		if pctx.Err() != nil {
			r.Error = fmt.Sprintf("%s: probe timeout (%s) exceeded: %v", op, p.timeout(), err)
			return
		}
		fallthrough
	default:
		r.Error = fmt.Sprintf("%s: %v", op, err)
	}
}

func (p *AIKProber) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultAIKTimeout
}

// classify maps a transport error to a status. tr, when not nil, tells whether a TLS
// handshake failed.
func classify(parent, pctx context.Context, err error, tr *phaseTrace) Status {
	var (
		dnsErr  *net.DNSError
		netErr  net.Error
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		record  tls.RecordHeaderError
		alert   tls.AlertError
	)
	switch {
	case parent.Err() != nil:
		return StatusCancelled
	case errors.Is(pctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return StatusTimeout
	case errors.As(err, &dnsErr):
		return StatusDNSError
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid),
		errors.As(err, &record), errors.As(err, &alert):
		return StatusTLSError
	case errors.As(err, &netErr) && netErr.Timeout():
		return StatusTimeout
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return StatusConnectError
	case tr != nil && tr.handshakeFailed(), strings.Contains(err.Error(), "tls: "):
		return StatusTLSError
	}
	return StatusConnectError
}

func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1e6) / 1e6 }

// phaseTrace collects httptrace timings of one request. Callbacks may run on the transport's
// goroutines, even after the request returned, so every field is guarded.
type phaseTrace struct {
	mu                                                      sync.Mutex
	start, dnsStart, dnsDone, connStart, connDone, tlsStart time.Time
	tlsDone, wrote, firstByte                               time.Time
	tlsErr, reused                                          bool
}

func (t *phaseTrace) trace() *httptrace.ClientTrace {
	t.start = time.Now()
	set := func(f *time.Time) { t.mu.Lock(); *f = time.Now(); t.mu.Unlock() }
	return &httptrace.ClientTrace{
		DNSStart: func(httptrace.DNSStartInfo) { set(&t.dnsStart) },
		DNSDone:  func(httptrace.DNSDoneInfo) { set(&t.dnsDone) },
		ConnectStart: func(string, string) {
			t.mu.Lock()
			if t.connStart.IsZero() { // first attempt of happy-eyeballs dialing
				t.connStart = time.Now()
			}
			t.mu.Unlock()
		},
		ConnectDone:       func(string, string, error) { set(&t.connDone) },
		TLSHandshakeStart: func() { set(&t.tlsStart) },
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			t.mu.Lock()
			t.tlsDone, t.tlsErr = time.Now(), err != nil
			t.mu.Unlock()
		},
		GotConn: func(i httptrace.GotConnInfo) {
			t.mu.Lock()
			t.reused = i.Reused
			t.mu.Unlock()
		},
		WroteRequest:         func(httptrace.WroteRequestInfo) { set(&t.wrote) },
		GotFirstResponseByte: func() { set(&t.firstByte) },
	}
}

func (t *phaseTrace) handshakeFailed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tlsErr
}

// phases returns the timings so far, ending the total now.
func (t *phaseTrace) phases() *Phases {
	end := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	span := func(a, b time.Time) float64 {
		if a.IsZero() || b.IsZero() || b.Before(a) {
			return 0
		}
		return seconds(b.Sub(a))
	}
	return &Phases{
		DNS:       span(t.dnsStart, t.dnsDone),
		Connect:   span(t.connStart, t.connDone),
		TLS:       span(t.tlsStart, t.tlsDone),
		FirstByte: span(t.wrote, t.firstByte),
		Total:     span(t.start, end),
		Reused:    t.reused,
	}
}
