package canary

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// PasswordEnv is the environment variable that holds the basic-auth password when no
// password file is given.
const PasswordEnv = "AIKWATCH_CANARY_PASSWORD"

// Reporter defaults.
const (
	// DefaultReportTimeout bounds each HTTP request to the daemon.
	DefaultReportTimeout = 30 * time.Second
	// DefaultRetryBudget bounds the time spent retrying to deliver a report.
	DefaultRetryBudget = 5 * time.Minute
	// DefaultMaxClockSkew is how far the device clock may be from the daemon's: Windows
	// rejects the AIK certificate, back-dated 10 minutes, beyond that.
	DefaultMaxClockSkew = 10 * time.Minute
)

// ReporterOptions configure a [Reporter].
type ReporterOptions struct {
	// Server is the daemon's base URL, e.g. https://aikwatch.example.com:10944.
	Server string
	// Timeout bounds each HTTP request; 0 means [DefaultReportTimeout].
	Timeout time.Duration
	// RetryBudget bounds the time Send spends retrying; 0 means [DefaultRetryBudget].
	RetryBudget time.Duration
	// CAFile is a PEM file of extra CA certificates trusted for the daemon's TLS, added to the
	// system's.
	CAFile string
	// User is the basic-auth user; empty means no authentication.
	User string
	// Password is the basic-auth password (see [ReadPassword]). It is never logged.
	Password string
	// MaxClockSkew is how far the device clock may be from the daemon's; 0 means
	// [DefaultMaxClockSkew].
	MaxClockSkew time.Duration
	// UserAgent is sent with every request.
	UserAgent string
	// Now is the device clock; nil means time.Now.
	Now func() time.Time
	// Logger logs retries; nil means slog.Default().
	Logger *slog.Logger
	// Transport replaces the HTTP transport (tests); nil builds one from CAFile.
	Transport http.RoundTripper
}

// Reporter talks to the daemon: it checks the device clock against the daemon's and posts
// reports.
type Reporter struct {
	o      ReporterOptions
	base   *url.URL
	client *http.Client
	log    *slog.Logger
	sleep  func(ctx context.Context, d time.Duration) error
}

// ReadPassword returns the password in file (its first line, without the line end) or, when
// file is "", the [PasswordEnv] environment variable.
func ReadPassword(file string) (string, error) {
	if file == "" {
		return os.Getenv(PasswordEnv), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading the password file: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(first, "\r"), nil
}

// NewReporter checks the options and builds the HTTP client.
func NewReporter(o ReporterOptions) (*Reporter, error) {
	base, err := url.Parse(strings.TrimRight(o.Server, "/"))
	if err != nil {
		return nil, fmt.Errorf("server URL: %w", err)
	}
	if (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http(s)://host[:port][/path]", o.Server)
	}
	if base.User != nil {
		return nil, errors.New("server URL: give the user with the user option, not in the URL")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultReportTimeout
	}
	if o.RetryBudget <= 0 {
		o.RetryBudget = DefaultRetryBudget
	}
	if o.MaxClockSkew <= 0 {
		o.MaxClockSkew = DefaultMaxClockSkew
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	rt := o.Transport
	if rt == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if o.CAFile != "" {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("CA file: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("CA file %s: no PEM certificate in it", o.CAFile)
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		rt = tr
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Reporter{
		o:      o,
		base:   base,
		client: &http.Client{Transport: rt, Timeout: o.Timeout},
		log:    log,
		sleep:  sleepCtx,
	}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r *Reporter) newRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base.String()+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if r.o.UserAgent != "" {
		req.Header.Set("User-Agent", r.o.UserAgent)
	}
	if r.o.User != "" {
		req.SetBasicAuth(r.o.User, r.o.Password)
	}
	return req, nil
}

// CheckClock makes the [CheckClock] check: it asks the daemon's GET /-/healthy and compares
// the device clock (at the middle of the exchange) with the answer's Date header. More than
// the allowed skew either way is [StatusClockSkew]; a daemon that cannot be asked is
// [StatusError].
func (r *Reporter) CheckClock(ctx context.Context) Check {
	c := Check{Name: CheckClock}
	start := r.o.Now()
	defer func() { c.DurationSeconds = r.o.Now().Sub(start).Seconds() }()
	req, err := r.newRequest(ctx, http.MethodGet, "/-/healthy", nil)
	if err != nil {
		c.Status, c.Message = StatusError, fmt.Sprintf("asking the daemon's clock: %v", err)
		return c
	}
	res, err := r.client.Do(req)
	end := r.o.Now()
	if err != nil {
		c.Status, c.Message = StatusError, truncate(fmt.Sprintf("asking the daemon's clock: %v", err), MaxOutputBytes)
		return c
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	date := res.Header.Get("Date")
	server, err := http.ParseTime(date)
	if err != nil {
		c.Status, c.Message = StatusError, fmt.Sprintf("the daemon's answer (HTTP %d) has no readable Date header (%q)", res.StatusCode, date)
		return c
	}
	// Date has a resolution of a second and is truncated: the server's clock was in
	// [date, date+1s) while it answered.
	device := start.Add(end.Sub(start) / 2)
	skew := device.Sub(server.Add(500 * time.Millisecond))
	abs := skew.Abs()
	way := "fast"
	if skew < 0 {
		way = "slow"
	}
	words := fmt.Sprintf("the device clock is %s %s compared with the daemon's", abs.Round(time.Second), way)
	if abs > r.o.MaxClockSkew {
		c.Status = StatusClockSkew
		c.Message = fmt.Sprintf("%s, more than the %s allowed: Windows rejects the AIK certificate (CERT_E_EXPIRED 0x800B0101) when the clock is more than 10 minutes off", words, r.o.MaxClockSkew)
		return c
	}
	c.Status, c.Message = StatusOK, fmt.Sprintf("%s (at most %s allowed)", words, r.o.MaxClockSkew)
	return c
}

// ResponseError is a refusal from the daemon: an HTTP status and its error message. It
// unwraps to [ErrInvalidReport] for 400 and 413 and to [ErrRefused] for 403.
type ResponseError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the daemon's {"error": ...} message, or the start of the body.
	Message string
}

// Error says the status and the daemon's message.
func (e *ResponseError) Error() string {
	return fmt.Sprintf("the daemon answered HTTP %d: %s", e.StatusCode, e.Message)
}

// Unwrap maps the status to the package's errors.
func (e *ResponseError) Unwrap() error {
	switch e.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return ErrInvalidReport
	case http.StatusForbidden:
		return ErrRefused
	}
	return nil
}

// retryable says whether the status may succeed later.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500 && status != http.StatusNotImplemented
}

// Send validates the report and posts it to the daemon's /api/v1/canaries. It retries with
// exponential backoff (honouring Retry-After) on connection errors, 429 and 5xx (except 501)
// while the retry budget and ctx allow, and gives up at once on other answers: a
// [*ResponseError] then says why.
func (r *Reporter) Send(ctx context.Context, rep *Report) error {
	if err := rep.Validate(); err != nil {
		return fmt.Errorf("not sending the report: %w: %w", ErrInvalidReport, err)
	}
	body, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	if len(body) > MaxReportBytes {
		return fmt.Errorf("not sending the report: %w: %d bytes, at most %d", ErrInvalidReport, len(body), MaxReportBytes)
	}
	deadline := r.o.Now().Add(r.o.RetryBudget)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		err := r.post(ctx, body)
		if err == nil {
			return nil
		}
		var re *ResponseError
		if errors.As(err, &re) && !retryable(re.StatusCode) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("sending the report: %w (last error: %v)", ctx.Err(), err)
		}
		wait := backoff + rand.N(backoff/2+1)
		var ra retryAfterError
		if errors.As(err, &ra) && ra.after > 0 {
			wait = ra.after
		}
		if r.o.Now().Add(wait).After(deadline) {
			return fmt.Errorf("sending the report: gave up after %d attempts: %w", attempt, err)
		}
		r.log.Warn("sending the report failed, retrying", "attempt", attempt, "wait", wait.Round(time.Millisecond), "err", err)
		if err := r.sleep(ctx, wait); err != nil {
			return fmt.Errorf("sending the report: %w", err)
		}
		backoff = min(backoff*2, time.Minute)
	}
}

// retryAfterError carries the Retry-After of a retryable answer.
type retryAfterError struct {
	*ResponseError
	after time.Duration
}

func (e retryAfterError) Unwrap() error { return e.ResponseError }

func (r *Reporter) post(ctx context.Context, body []byte) error {
	req, err := r.newRequest(ctx, http.MethodPost, "/api/v1/canaries", body)
	if err != nil {
		return err
	}
	res, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("posting the report: %w", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode == http.StatusOK || res.StatusCode == http.StatusAccepted {
		return nil
	}
	re := &ResponseError{StatusCode: res.StatusCode, Message: errorMessage(b)}
	if res.StatusCode == http.StatusUnauthorized {
		re.Message += " (check the user and the password)"
	}
	if retryable(res.StatusCode) {
		return retryAfterError{re, retryAfter(res.Header.Get("Retry-After"), r.o.Now())}
	}
	return re
}

// errorMessage returns the "error" of a JSON error body, or the start of the body as text.
func errorMessage(b []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.Join(strings.Fields(string(b)), " ")
	if s == "" {
		return "(no message)"
	}
	return truncate(s, 300)
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); 0 when absent or unreadable.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
