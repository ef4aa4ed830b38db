package probes

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/aikwatch/aikwatch/internal/netx"
	"github.com/aikwatch/aikwatch/trustlist"
)

// fakeAIK is a stand-in for the AIK CA service used where the simulator has no such mode
// (bodies over the cap, malformed answers): a real TLS server on loopback that presents a
// certificate for *.microsoftaik.azure.net from a throw-away CA and answers per host.
type fakeAIK struct {
	srv    *httptest.Server
	caFile string
	root   *x509.Certificate
	rootK  *ecdsa.PrivateKey

	mu       sync.Mutex
	handlers map[string]http.HandlerFunc // by lower-case host; nil: a good answer
	chains   map[string][]byte           // PKCS#7 by host
	aikDER   map[string][]byte           // the AIK CA certificate by host
	uas      []string
	written  atomic.Int64 // bytes written by streaming handlers
}

func newFakeAIK(t testing.TB) *fakeAIK {
	t.Helper()
	f := &fakeAIK{handlers: map[string]http.HandlerFunc{}, chains: map[string][]byte{}, aikDER: map[string][]byte{}}
	var caDER []byte
	f.root, f.rootK, caDER = newCA(t, "Test TPM Root Certificate Authority 2014")
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "*.microsoftaik.azure.net"},
		DNSNames:     []string{"*.microsoftaik.azure.net"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, f.root, &leafKey.PublicKey, f.rootK)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}}}
	f.srv.EnableHTTP2 = true
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	f.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func newCA(t testing.TB, cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, k, der
}

// host returns a well-formed AIK host name for vendor and a seed.
func aikHost(vendor, seed string) string {
	sum := sha1.Sum([]byte(seed))
	return strings.ToLower(vendor) + "-keyid-" + hex.EncodeToString(sum[:]) + trustlist.AIKHostSuffix
}

// chainFor returns (creating once) host's GetCACertChain answer: the root, the AIK CA named
// after host (CN in Windows' upper-case spelling) and an RA certificate.
func (f *fakeAIK) chainFor(t testing.TB, host string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.chains[host]; ok {
		return c
	}
	n, err := trustlist.ParseAIKHost(host)
	if err != nil {
		t.Fatal(err)
	}
	cn := n.Vendor + "-KEYID-" + strings.ToUpper(n.ID)
	aik := f.issue(t, cn, true)
	ra := f.issue(t, "RA Signing Certificate", false)
	p7, err := pkcs7.DegenerateCertificate(append(append(append([]byte{}, f.root.Raw...), aik...), ra...))
	if err != nil {
		t.Fatal(err)
	}
	f.chains[host], f.aikDER[host] = p7, aik
	return p7
}

func (f *fakeAIK) issue(t testing.TB, cn string, ca bool) []byte {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Date(2039, 6, 1, 0, 0, 0, 0, time.UTC),
		IsCA: ca, BasicConstraintsValid: true,
	}, f.root, &k.PublicKey, f.rootK)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (f *fakeAIK) set(host string, h http.HandlerFunc) {
	f.mu.Lock()
	f.handlers[host] = h
	f.mu.Unlock()
}

func (f *fakeAIK) serve(w http.ResponseWriter, r *http.Request) {
	host := strings.ToLower(r.TLS.ServerName)
	f.mu.Lock()
	h := f.handlers[host]
	f.uas = append(f.uas, r.UserAgent())
	chain := f.chains[host]
	f.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	if r.URL.Path != AIKSCEPPath {
		http.NotFound(w, r)
		return
	}
	switch r.URL.Query().Get("operation") {
	case "GetCACaps":
		io.WriteString(w, "POSTPKIOperation\r\nSHA-256\r\n\r\n  Renewal  \r\nSCEPStandard\r\n")
	case "GetCACertChain":
		if chain == nil {
			jsonError(w, http.StatusNotFound, fmt.Sprintf("The authority \\\"%s\\\" does not exist.", host))
			return
		}
		w.Header().Set("Content-Type", "application/x-x509-ca-ra-cert")
		w.Write(chain)
	default:
		jsonError(w, http.StatusBadRequest, "Failed to parse SCEP request.")
	}
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"Message":"%s"}`, msg)
}

// prober returns a prober whose client reaches the fake through the production netx path.
func (f *fakeAIK) prober(t testing.TB, timeout time.Duration) *AIKProber {
	t.Helper()
	c, err := netx.Options{Resolve: []string{"*=" + f.srv.Listener.Addr().String()}, CAFiles: []string{f.caFile}}.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return &AIKProber{Client: c, Timeout: timeout}
}

func TestProbeOKFake(t *testing.T) {
	f := newFakeAIK(t)
	host := aikHost("IFX", "ok")
	f.chainFor(t, host)
	tg, err := TargetFromHost(strings.ToUpper(strings.TrimSuffix(host, trustlist.AIKHostSuffix)))
	if err != nil {
		t.Fatal(err)
	}
	tg.ExpectedCerts = [][]byte{f.aikDER[host]}
	r := f.prober(t, 5*time.Second).Probe(context.Background(), tg)
	if r.Status != StatusOK {
		t.Fatalf("status %s: %s", r.Status, r.Error)
	}
	if r.Host != host || r.Vendor != "IFX" || r.IDKind != "keyid" || !r.Fleet || r.HTTPStatus != 200 {
		t.Errorf("identity: %+v", r)
	}
	if want := []string{"POSTPKIOperation", "SHA-256", "Renewal", "SCEPStandard"}; fmt.Sprint(r.Capabilities) != fmt.Sprint(want) {
		t.Errorf("capabilities %q, want %q", r.Capabilities, want)
	}
	if r.AIKCA == nil || !strings.Contains(r.AIKCA.Subject, "IFX-KEYID-") || r.AIKCA.MatchesTrustList == nil || !*r.AIKCA.MatchesTrustList {
		t.Errorf("aik_ca %+v", r.AIKCA)
	}
	if !r.AIKCA.NotAfter.Equal(time.Date(2039, 6, 1, 0, 0, 0, 0, time.UTC)) || len(r.AIKCA.SHA256) != 64 {
		t.Errorf("aik_ca %+v", r.AIKCA)
	}
	if len(r.Chain) != 3 || r.Chain[2].Subject != "CN=RA Signing Certificate" || r.Chain[1].Issuer != "CN=Test TPM Root Certificate Authority 2014" {
		t.Errorf("chain %+v", r.Chain)
	}
	if !r.ServerCertNotAfter.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("server cert not after %v", r.ServerCertNotAfter)
	}
	if r.ServerDateSkewSeconds == nil || *r.ServerDateSkewSeconds > 5 || *r.ServerDateSkewSeconds < -5 {
		t.Errorf("skew %v", r.ServerDateSkewSeconds)
	}
	if r.Phases == nil || r.Phases.DNS != 0 || r.Phases.Total <= 0 || r.Phases.Reused || r.StartedAt.IsZero() || r.Error != "" {
		t.Errorf("phases %+v started %v error %q", r.Phases, r.StartedAt, r.Error)
	}
	for _, ua := range f.uas {
		if ua != WindowsUserAgent {
			t.Errorf("User-Agent %q", ua)
		}
	}
	if len(f.uas) != 2 {
		t.Errorf("%d requests, want 2", len(f.uas))
	}

	// Another certificate in the trust list for the host: the probe says it does not match.
	tg.ExpectedCerts = [][]byte{f.root.Raw}
	r = f.prober(t, 5*time.Second).Probe(context.Background(), tg)
	if r.Status != StatusOK || r.AIKCA.MatchesTrustList == nil || *r.AIKCA.MatchesTrustList {
		t.Errorf("mismatching trust list: %s %+v", r.Status, r.AIKCA)
	}
	// Without expected certificates nothing is claimed.
	tg.ExpectedCerts = nil
	if r = f.prober(t, 5*time.Second).Probe(context.Background(), tg); r.AIKCA.MatchesTrustList != nil {
		t.Errorf("no trust list: matches %v", *r.AIKCA.MatchesTrustList)
	}
}

func TestProbeBodyCap(t *testing.T) {
	f := newFakeAIK(t)
	const hundredMB = 100 << 20
	stream := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("operation") == "GetCACaps" {
			io.WriteString(w, "POSTPKIOperation\n")
			return
		}
		zeros := make([]byte, 32<<10)
		for n := 0; n < hundredMB; n += len(zeros) {
			m, err := w.Write(zeros)
			f.written.Add(int64(m))
			if err != nil {
				return
			}
		}
	}
	host := aikHost("AMD", "big")
	f.set(host, stream)
	r := f.prober(t, 10*time.Second).Probe(context.Background(), Target{Host: host})
	if r.Status != StatusBadResponse || r.Error != "GetCACertChain: body exceeds 1048576 bytes" {
		t.Fatalf("status %s error %q", r.Status, r.Error)
	}
	f.srv.Close() // wait for the handler to notice the closed stream
	if w := f.written.Load(); w >= hundredMB {
		t.Errorf("server wrote %d bytes: the client read it all", w)
	}

	// A declared length over the cap is refused before reading anything.
	f2 := newFakeAIK(t)
	f2.set(host, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("operation") == "GetCACaps" {
			w.Header().Set("Content-Length", "200000")
			w.Write(make([]byte, 200000))
		}
	})
	r = f2.prober(t, 10*time.Second).Probe(context.Background(), Target{Host: host})
	if r.Status != StatusBadResponse || !strings.Contains(r.Error, "GetCACaps: body exceeds 65536 bytes (Content-Length 200000)") {
		t.Fatalf("status %s error %q", r.Status, r.Error)
	}
	p := f2.prober(t, 10*time.Second)
	p.MaxBody = 100
	f2.set(host, nil)
	f2.chainFor(t, host)
	if r = p.Probe(context.Background(), Target{Host: host}); r.Status != StatusBadResponse || !strings.Contains(r.Error, "exceeds 100 bytes") {
		t.Errorf("MaxBody 100: %s %q", r.Status, r.Error)
	}
}

func TestProbeStatusesFake(t *testing.T) {
	f := newFakeAIK(t)
	ok := aikHost("INTC", "ok")
	f.chainFor(t, ok)
	otherChain := f.chainFor(t, aikHost("INTC", "other"))
	writeCaps := func(w http.ResponseWriter) { io.WriteString(w, "POSTPKIOperation\n") }
	for _, tc := range []struct {
		name    string
		h       http.HandlerFunc
		status  Status
		http    int
		errPart string
	}{
		{"withdrawn", nil, StatusWithdrawn, 404, `The authority "`},
		{"404 other", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, StatusHTTPError, 404, "404 page not found"},
		{"404 json other", func(w http.ResponseWriter, r *http.Request) { jsonError(w, 404, "Resource not found") }, StatusHTTPError, 404, "Resource not found"},
		{"400", func(w http.ResponseWriter, r *http.Request) { jsonError(w, 400, "Failed to parse SCEP request.") }, StatusHTTPError, 400, "Failed to parse SCEP request."},
		{"503", func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Retry-After", "7"); w.WriteHeader(503) }, StatusHTTPError, 503, "HTTP 503"},
		{"429", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			jsonError(w, 429, "Too many requests")
		}, StatusThrottled, 429, "Too many requests"},
		{"caps html", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html><body>Portal</body></html>") }, StatusBadResponse, 200, "not a capability token"},
		{"caps binary", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte{0xff, 0xfe, 0}) }, StatusBadResponse, 200, "not text"},
		{"chain not pkcs7", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("operation") == "GetCACaps" {
				writeCaps(w)
				return
			}
			io.WriteString(w, "hello")
		}, StatusBadResponse, 200, "not PKCS#7"},
		{"chain without the host", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("operation") == "GetCACaps" {
				writeCaps(w)
				return
			}
			w.Write(otherChain)
		}, StatusBadResponse, 200, "3 certificate(s) but none for"},
		{"chain 500", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("operation") == "GetCACaps" {
				writeCaps(w)
				return
			}
			w.WriteHeader(500)
		}, StatusHTTPError, 500, "GetCACertChain: HTTP 500"},
		{"empty caps ok", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("operation") == "GetCACaps" {
				return
			}
			w.Write(f.chainFor(t, aikHost("INTC", "empty caps ok")))
		}, StatusOK, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := aikHost("INTC", tc.name)
			if tc.h != nil {
				f.set(host, tc.h)
			}
			r := f.prober(t, 5*time.Second).Probe(context.Background(), Target{Host: host})
			if r.Status != tc.status || r.HTTPStatus != tc.http || !strings.Contains(r.Error, tc.errPart) {
				t.Errorf("got %s %d %q, want %s %d containing %q", r.Status, r.HTTPStatus, r.Error, tc.status, tc.http, tc.errPart)
			}
			if r.Status.Failing() != (tc.status != StatusOK) {
				t.Errorf("Failing() = %v", r.Status.Failing())
			}
		})
	}
	r := f.prober(t, 5*time.Second).Probe(context.Background(), Target{Host: aikHost("INTC", "429")})
	if r.RetryAfterSeconds == nil || *r.RetryAfterSeconds != 30 || r.Message != "Too many requests" {
		t.Errorf("429: retry-after %v message %q", r.RetryAfterSeconds, r.Message)
	}
}

func TestProbeCapsFailureSkipsChain(t *testing.T) {
	f := newFakeAIK(t)
	host := aikHost("STM", "x")
	var ops []string
	f.set(host, func(w http.ResponseWriter, r *http.Request) {
		ops = append(ops, r.URL.Query().Get("operation"))
		jsonError(w, 500, "boom")
	})
	r := f.prober(t, 5*time.Second).Probe(context.Background(), Target{Host: host})
	if r.Status != StatusHTTPError || len(ops) != 1 || ops[0] != "GetCACaps" {
		t.Errorf("status %s, operations %v", r.Status, ops)
	}
}

func TestProbeTimeoutAndCancel(t *testing.T) {
	f := newFakeAIK(t)
	host := aikHost("NTC", "hang")
	release := make(chan struct{})
	defer close(release)
	f.set(host, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
		panic(http.ErrAbortHandler) // no empty 200 for a client whose deadline races with it
	})
	r := f.prober(t, 200*time.Millisecond).Probe(context.Background(), Target{Host: host})
	if r.Status != StatusTimeout || !strings.Contains(r.Error, "probe timeout (200ms) exceeded") {
		t.Errorf("hang: %s %q", r.Status, r.Error)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	r = f.prober(t, time.Minute).Probe(ctx, Target{Host: host})
	if r.Status != StatusCancelled {
		t.Errorf("cancelled: %s %q", r.Status, r.Error)
	}
	if r = f.prober(t, time.Minute).Probe(ctx, Target{Host: host}); r.Status != StatusCancelled || !strings.Contains(r.Error, "before the probe started") {
		t.Errorf("already cancelled: %s %q", r.Status, r.Error)
	}
}

func TestProbeTransportErrors(t *testing.T) {
	f := newFakeAIK(t)
	host := aikHost("IFX", "t")
	// No extra CA: the server's certificate is untrusted.
	c, _ := netx.Options{Resolve: []string{"*=" + f.srv.Listener.Addr().String()}}.Client()
	defer c.CloseIdleConnections()
	r := (&AIKProber{Client: c}).Probe(context.Background(), Target{Host: host})
	if r.Status != StatusTLSError || !strings.Contains(r.Error, "x509") {
		t.Errorf("untrusted: %s %q", r.Status, r.Error)
	}
	// A port nobody listens on (closed right after binding).
	closed := httptest.NewServer(http.NotFoundHandler())
	addr := closed.Listener.Addr().String()
	closed.Close()
	c, _ = netx.Options{Resolve: []string{"*=" + addr}}.Client()
	r = (&AIKProber{Client: c}).Probe(context.Background(), Target{Host: host})
	if r.Status != StatusConnectError || !strings.Contains(r.Error, "refused") {
		t.Errorf("refused: %s %q", r.Status, r.Error)
	}
	// Plain HTTP where TLS is expected.
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	c, _ = netx.Options{Resolve: []string{"*=" + plain.Listener.Addr().String()}}.Client()
	r = (&AIKProber{Client: c}).Probe(context.Background(), Target{Host: host})
	if r.Status != StatusTLSError {
		t.Errorf("plain HTTP: %s %q", r.Status, r.Error)
	}
	// A name that does not resolve. The resolver's own DNS dialer fails, so no query leaves
	// the process; the transport is netx's with only the dialer replaced.
	tr, err := netx.Options{}.Transport()
	if err != nil {
		t.Fatal(err)
	}
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("DNS disabled in tests")
	}}
	tr.DialContext = (&net.Dialer{Resolver: noDNS}).DialContext
	r = (&AIKProber{Client: &http.Client{Transport: tr}}).Probe(context.Background(), Target{Host: host})
	if r.Status != StatusDNSError {
		t.Errorf("dns: %s %q", r.Status, r.Error)
	}
}

func TestTargets(t *testing.T) {
	s, files := nov(t).snap, nov(t).files
	ts := TargetsFromSnapshot(s)
	if len(ts) != len(s.AIKHosts) || len(ts) < 300 {
		t.Fatalf("%d targets for %d hosts", len(ts), len(s.AIKHosts))
	}
	with := WithExpectedCerts(ts, files)
	if ts[0].ExpectedCerts != nil {
		t.Error("WithExpectedCerts changed its input")
	}
	missing := 0
	for i, tg := range with {
		if len(tg.ExpectedCerts) == 0 {
			missing++
			continue
		}
		if len(tg.ExpectedCerts) > len(s.AIKHosts[i].Files) {
			t.Errorf("%s: %d certs for %d files", tg.Host, len(tg.ExpectedCerts), len(s.AIKHosts[i].Files))
		}
		c, err := x509.ParseCertificate(tg.ExpectedCerts[0])
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := trustlist.ParseAIKName(c.Subject.CommonName); n.Host() != tg.Host {
			t.Errorf("%s got a certificate for %s", tg.Host, c.Subject.CommonName)
		}
	}
	// Hosts known only from a file name (certificate unparseable) get no certificate.
	if missing > 5 {
		t.Errorf("%d hosts without expected certificates", missing)
	}

	for _, in := range []string{"IFX-KeyId-0123456789ABCDEF0123456789abcdef01234567", "ifx-keyid-0123456789abcdef0123456789abcdef01234567.MicrosoftAIK.azure.net."} {
		tg, err := TargetFromHost(in)
		if err != nil {
			t.Fatal(err)
		}
		if tg.Host != "ifx-keyid-0123456789abcdef0123456789abcdef01234567.microsoftaik.azure.net" || tg.Vendor != "IFX" || !tg.Fleet {
			t.Errorf("%q: %+v", in, tg)
		}
	}
	for _, bad := range []string{"", "example.com", "ifx-keyid-zz", "a.b.microsoftaik.azure.net"} {
		if _, err := TargetFromHost(bad); err == nil || !strings.Contains(err.Error(), "fleet host") {
			t.Errorf("%q: error %v", bad, err)
		}
	}
}

func TestAIKURL(t *testing.T) {
	if got := AIKURL("h.example", "GetCACertChain", "default"); got != "https://h.example/templates/Aik/scep?operation=GetCACertChain&message=default" {
		t.Error(got)
	}
	if got := AIKURL("h.example", "GetCACaps", ""); got != "https://h.example/templates/Aik/scep?operation=GetCACaps" {
		t.Error(got)
	}
}
