package probes

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/internal/ekid"
)

// EK service probe defaults.
const (
	// EKDefaultTimeout bounds one EK service probe, body included.
	EKDefaultTimeout = 10 * time.Second
	// EKDefaultMaxBody caps an EK service answer; a certificate (or Intel's JSON around one)
	// is a few KiB.
	EKDefaultMaxBody = 256 << 10
	// EKUserAgent is sent with EK service requests.
	EKUserAgent = "aikwatch-ek-probe"
)

// Names of the EK certificate services, as [EKService.Name] and [EKResult.Service] spell them.
const (
	// EKServiceIntel is Intel's service (Intel PTT firmware TPMs).
	EKServiceIntel = "intel"
	// EKServiceAMD is AMD's service (AMD fTPM).
	EKServiceAMD = "amd"
	// EKServiceQualcomm is Microsoft's service for Qualcomm firmware TPMs.
	EKServiceQualcomm = "qualcomm"
)

// Probe modes.
const (
	// EKModeKnownKey: the certificate of a known EK public key was requested.
	EKModeKnownKey = "known_key"
	// EKModeReachability: only DNS, TLS and an HTTP answer were checked.
	EKModeReachability = "reachability"
)

// EKStatus is the outcome of one EK service probe.
type EKStatus string

// EK service probe statuses. In known-key mode only [EKStatusOK] is a success; in
// reachability mode only [EKStatusReachable].
const (
	// EKStatusOK: the service returned the expected certificate for the known key.
	EKStatusOK EKStatus = "ok"
	// EKStatusReachable: DNS, TLS and an HTTP answer (any status) worked.
	EKStatusReachable EKStatus = "reachable"
	// EKStatusNotFound: HTTP 404, or an answer saying "Certificate not found".
	EKStatusNotFound EKStatus = "not_found"
	// EKStatusWrongCertificate: a certificate came back, but not the expected one (or not for
	// the known key).
	EKStatusWrongCertificate EKStatus = "wrong_certificate"
	// EKStatusHTTPError: any other non-2xx answer in known-key mode.
	EKStatusHTTPError EKStatus = "http_error"
	// EKStatusTLSError: the TLS handshake failed.
	EKStatusTLSError EKStatus = "tls_error"
	// EKStatusDNSError: the host name did not resolve.
	EKStatusDNSError EKStatus = "dns_error"
	// EKStatusTimeout: the probe's deadline passed, or the network timed out.
	EKStatusTimeout EKStatus = "timeout"
	// EKStatusConnectError: the connection was refused, reset or closed early, or failed in
	// another way that is neither DNS, TLS nor a timeout.
	EKStatusConnectError EKStatus = "connect_error"
	// EKStatusBadResponse: a 2xx answer holding no readable certificate, or a body over the cap.
	EKStatusBadResponse EKStatus = "bad_response"
	// EKStatusCancelled: the caller's context was cancelled; says nothing about the service.
	EKStatusCancelled EKStatus = "cancelled"
	// EKStatusConfigError: the probe could not be made (no URL scheme for the key, bad base URL).
	EKStatusConfigError EKStatus = "config_error"
)

// EKService is one EK certificate service to probe.
type EKService struct {
	// Name is "intel", "amd" or "qualcomm" (any case); it selects how a known key's URL is built.
	Name string
	// BaseURL is the service's base URL; a known key's id is appended to it.
	BaseURL string
	// KnownKey, when set, makes the probe fetch this EK's certificate from Intel's or AMD's
	// service (a lab device's EK gives a real end-to-end check). It is ignored for Qualcomm,
	// whose request format is not public, and refused for an unknown service name.
	KnownKey crypto.PublicKey
	// ExpectedCert is the DER certificate the service should return for KnownKey; when nil,
	// any certificate for KnownKey is accepted.
	ExpectedCert []byte
}

// EKDefaultServices returns the three real EK certificate services, without known keys.
func EKDefaultServices() []EKService {
	return []EKService{
		{Name: EKServiceIntel, BaseURL: EKIntelBaseURL},
		{Name: EKServiceAMD, BaseURL: EKAMDBaseURL},
		{Name: EKServiceQualcomm, BaseURL: EKQualcommURL},
	}
}

// EKResult is what one EK service probe saw. The JSON names are stable.
type EKResult struct {
	Service             string    `json:"service"`
	URL                 string    `json:"url"`
	Mode                string    `json:"mode"` // EKModeKnownKey or EKModeReachability
	Status              EKStatus  `json:"status"`
	HTTPStatus          int       `json:"http_status,omitempty"`
	Error               string    `json:"error,omitempty"` // what failed, for people
	DurationSeconds     float64   `json:"duration_seconds"`
	CertificateNotAfter time.Time `json:"certificate_not_after,omitzero"` // of the certificate returned
}

// OK reports whether the probe succeeded in its mode.
func (r EKResult) OK() bool {
	return r.Status == EKStatusOK || r.Mode == EKModeReachability && r.Status == EKStatusReachable
}

// EKProber probes EK certificate services. The zero value is usable; it is safe for
// concurrent use. It never retries.
type EKProber struct {
	Client  *http.Client  // nil: http.DefaultClient
	Timeout time.Duration // per probe; 0: EKDefaultTimeout
	MaxBody int64         // body cap; 0: EKDefaultMaxBody
}

// Probe checks one EK service: with a known key (Intel, AMD) it fetches that EK's certificate
// and compares it with what is expected; otherwise it checks that the service answers at all.
func (p *EKProber) Probe(ctx context.Context, svc EKService) (r EKResult) {
	r = EKResult{Service: strings.ToLower(svc.Name), URL: svc.BaseURL, Mode: EKModeReachability}
	start := time.Now()
	defer func() { r.DurationSeconds = ekSeconds(time.Since(start)) }()
	// Qualcomm's request format is not public: its service is only checked for reachability,
	// whatever key is given.
	if svc.KnownKey != nil && r.Service != EKServiceQualcomm {
		var id string
		var err error
		switch r.Service {
		case EKServiceIntel:
			id, err = ekid.Intel(svc.KnownKey)
		case EKServiceAMD:
			id, err = ekid.AMD(svc.KnownKey)
		default:
			err = fmt.Errorf("no known-key URL scheme for service %q: only intel and amd have one", svc.Name)
		}
		if err != nil {
			r.Status, r.Error = EKStatusConfigError, err.Error()
			return r
		}
		r.Mode, r.URL = EKModeKnownKey, svc.BaseURL+id
	}
	if ctx.Err() != nil {
		r.Status, r.Error = EKStatusCancelled, "cancelled before the probe started"
		return r
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = EKDefaultTimeout
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, r.URL, nil)
	if err != nil {
		r.Status, r.Error = EKStatusConfigError, fmt.Sprintf("ek service %s: %v", r.Service, err)
		return r
	}
	req.Header.Set("User-Agent", EKUserAgent)
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		r.Status, r.Error = ekClassify(ctx, pctx, err), err.Error()
		return r
	}
	defer resp.Body.Close()
	r.HTTPStatus = resp.StatusCode
	max := p.MaxBody
	if max <= 0 {
		max = EKDefaultMaxBody
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		r.Status, r.Error = ekClassify(ctx, pctx, err), fmt.Sprintf("reading the body: %v", err)
		return r
	}
	if r.Mode == EKModeReachability {
		r.Status = EKStatusReachable
		return r
	}
	if int64(len(body)) > max {
		r.Status, r.Error = EKStatusBadResponse, fmt.Sprintf("body over the %d-byte cap", max)
		return r
	}
	p.judge(&r, svc, resp, body)
	return r
}

// judge decides a known-key probe from the answer.
func (p *EKProber) judge(r *EKResult, svc EKService, resp *http.Response, body []byte) {
	if resp.StatusCode == http.StatusNotFound || bytes.Contains(bytes.ToLower(body), []byte("certificate not found")) {
		r.Status, r.Error = EKStatusNotFound, "the service has no certificate for the key"
		if ex := ekExcerpt(body); ex != "" {
			r.Error += ": " + ex
		}
		return
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		r.Status, r.Error = EKStatusHTTPError, fmt.Sprintf("HTTP %d", resp.StatusCode)
		if ex := ekExcerpt(body); ex != "" {
			r.Error += ": " + ex
		}
		return
	}
	cert, err := ekCertFromBody(body)
	if err != nil {
		r.Status, r.Error = EKStatusBadResponse, err.Error()
		return
	}
	r.CertificateNotAfter = cert.NotAfter.UTC()
	switch {
	case svc.ExpectedCert != nil && !bytes.Equal(cert.Raw, svc.ExpectedCert):
		r.Status, r.Error = EKStatusWrongCertificate, fmt.Sprintf("got %q (serial %s), not the expected certificate", cert.Subject.String(), cert.SerialNumber.Text(16))
	case svc.ExpectedCert == nil && !ekSameKey(cert.PublicKey, svc.KnownKey):
		r.Status, r.Error = EKStatusWrongCertificate, fmt.Sprintf("got a certificate (serial %s) for another public key", cert.SerialNumber.Text(16))
	default:
		r.Status = EKStatusOK
	}
}

// ekSameKey reports whether two public keys are equal.
func ekSameKey(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// ekCertFromBody reads the certificate of an EK service answer: Intel's JSON
// {"pubhash": ..., "certificate": "<base64url DER>"}, or a DER or PEM certificate (AMD).
func ekCertFromBody(body []byte) (*x509.Certificate, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("empty body")
	}
	if trimmed[0] == '{' {
		var j struct {
			PubHash     string `json:"pubhash"`
			Certificate string `json:"certificate"`
		}
		if err := json.Unmarshal(trimmed, &j); err != nil {
			return nil, fmt.Errorf("JSON answer: %w", err)
		}
		if j.Certificate == "" {
			return nil, errors.New("JSON answer has no certificate")
		}
		der, err := ekDecodeBase64(j.Certificate)
		if err != nil {
			return nil, fmt.Errorf("JSON answer: certificate: %w", err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("JSON answer: certificate: %w", err)
		}
		return c, nil
	}
	_, c, err := EKParsePublic(body)
	if err != nil {
		return nil, fmt.Errorf("answer is not a certificate: %w", err)
	}
	if c == nil {
		return nil, errors.New("answer is a bare public key, not a certificate")
	}
	return c, nil
}

// ekDecodeBase64 decodes base64url (padded or not) and, leniently, standard base64.
func ekDecodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// ekExcerpt returns the start of a text body, one line, for error messages; "" for binary.
func ekExcerpt(body []byte) string {
	b := bytes.TrimSpace(body)
	if len(b) > 200 {
		b = b[:200]
	}
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c == 0x7f {
			return ""
		}
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// ekClassify maps a transport error to a status, as the AIK probe does.
func ekClassify(parent, pctx context.Context, err error) EKStatus {
	switch classify(parent, pctx, err, nil) {
	case StatusCancelled:
		return EKStatusCancelled
	case StatusTimeout:
		return EKStatusTimeout
	case StatusDNSError:
		return EKStatusDNSError
	case StatusTLSError:
		return EKStatusTLSError
	}
	return EKStatusConnectError
}

// ekSeconds rounds a duration to microseconds, in seconds.
func ekSeconds(d time.Duration) float64 { return math.Round(d.Seconds()*1e6) / 1e6 }

// EKServiceVendor returns the TPM vendor code, as in AIK host names, of the firmware TPMs an
// EK certificate service serves: INTC for intel, AMD for amd, QCOM for qualcomm.
func EKServiceVendor(name string) string {
	switch strings.ToLower(name) {
	case EKServiceIntel:
		return "INTC"
	case EKServiceAMD:
		return "AMD"
	case EKServiceQualcomm:
		return "QCOM"
	}
	return strings.ToUpper(name)
}

// EKServiceTitle returns an EK certificate service's vendor name for people.
func EKServiceTitle(name string) string {
	switch strings.ToLower(name) {
	case EKServiceIntel:
		return "Intel"
	case EKServiceAMD:
		return "AMD"
	case EKServiceQualcomm:
		return "Qualcomm"
	}
	return name
}
