package probes

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aikwatch/aikwatch/internal/netx"
	"github.com/aikwatch/aikwatch/internal/sim"
	"github.com/aikwatch/aikwatch/internal/testutil"
)

// The two EK public keys and the URLs expected for them are the test vectors of
// google/go-attestation attest/tpm_test.go (TestIntelEKURL and TestAMDEKURL): the Intel key
// is the public key of the EK certificate served at
// https://ekop.intel.com/ekcertservice/WVEG2rRwkQ7m3RpXlUphgo6Y2HLxl18h6ZZkkOAdnBE%3D (the one
// tpm2-tools' getekcertificate test uses), the AMD key that of the certificate served at
// https://ftpm.amd.com/pki/aia/D027B3CE6A9B6B56846D2B9935884A88.
const (
	ekTestIntelKey = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwyDi8kSoYBqs8+AdJsZl
JJk1Vi3h2hl+nn8HbEaWE8+2U+mOwsOG/B0TPyyMbMM4tzLwsgi9g4qHej5bvD4d
QIToNcfIkGocBbTS0w/b68HbrZUPprFlvUtqhkYDFGFkwMT1nUiQEe8fko3upukA
YfPTdeVkYnMVHvYiJSCYvhpKsB3AoSInxgn9rOsRWvQI1Gk6b0mRl3RpWwwSvBih
/3EgpzN7L7XxlR2Lt/CU1bVUwRyVI7MHKf5keH0KE7nmMEiNq039hmNKUnDscvzF
pE3GeajzKTjdgZfina6Dn1tMoPXeJ8lSLCPFThws5XhZUlEYvURwsYGA7veK5CZ7
zQIDAQAB
-----END PUBLIC KEY-----`
	ekTestIntelURL = "https://ekop.intel.com/ekcertservice/WVEG2rRwkQ7m3RpXlUphgo6Y2HLxl18h6ZZkkOAdnBE%3D"

	ekTestAMDKey = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAo8ID3MRLZQWgq2WIK1qT
e2HQxzZgiDWn6Tzw6uQOoXI1iyO9pxIailRxll2NeK1lRVP/dEKCV+mGwv75T+y2
MmzpFhUY/O5RtEG8TiocDw6WkHRAJ9A9h1OMP+vD3mPClNoA9/ssB36/0ScmVtYR
0gRkL+cZkAT6qro7xz4eRKLt8KfX6OG/Y9kCfJsKDCtYbc4OavHSf11VgbBLtxm7
jSVE+pnO+x/om6qwACjZbU4qrq4PUbAxD1S9dJ2cZzKaYSsCA8wMIho0umYa3jGv
eptunXDcE993BlsUGjLNbXC4aWVEtgo9yu98gKqhYGFEx7Mtk5NYOvWoNvcUBe2L
2QIDAQAB
-----END PUBLIC KEY-----`
	ekTestAMDURL = "https://ftpm.amd.com/pki/aia/D027B3CE6A9B6B56846D2B9935884A88"
)

func TestEKURLTestVectors(t *testing.T) {
	intel, c, err := EKParsePublic([]byte(ekTestIntelKey))
	if err != nil || c != nil {
		t.Fatalf("EKParsePublic(intel): cert %v, err %v", c, err)
	}
	if got, err := EKIntelURL(intel); err != nil || got != ekTestIntelURL {
		t.Errorf("EKIntelURL = %q, %v; want %q", got, err, ekTestIntelURL)
	}
	amd, _, err := EKParsePublic([]byte(ekTestAMDKey))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := EKAMDURL(amd); err != nil || got != ekTestAMDURL {
		t.Errorf("EKAMDURL = %q, %v; want %q", got, err, ekTestAMDURL)
	}
	// The same keys in DER, and the other vendor's formula for each, give other ids.
	blk, _ := pem.Decode([]byte(ekTestIntelKey))
	k2, _, err := EKParsePublic(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := EKIntelURL(k2); got != ekTestIntelURL {
		t.Errorf("DER key: %q", got)
	}
	if got, _ := EKAMDURL(intel); got == ekTestAMDURL || !strings.HasPrefix(got, EKAMDBaseURL) {
		t.Errorf("AMD URL of the Intel key: %q", got)
	}
}

// TestEKIntelIDEncoding pins the encoding the Intel vector implies: padded base64url, '='
// escaped as %3D (the service answers 403 to a bare '='), and the unescaped form decoding to
// the SHA-256 of modulus || 01 00 01.
func TestEKIntelIDEncoding(t *testing.T) {
	k, _, _ := EKParsePublic([]byte(ekTestIntelKey))
	rk := k.(*rsa.PublicKey)
	u, _ := EKIntelURL(rk)
	seg := strings.TrimPrefix(u, EKIntelBaseURL)
	if !strings.HasSuffix(seg, "%3D") || strings.Contains(seg, "=") {
		t.Fatalf("segment %q: want '=' escaped", seg)
	}
	raw, err := url.QueryUnescape(seg)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := base64.URLEncoding.DecodeString(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(append(rk.N.Bytes(), 1, 0, 1))
	if hex.EncodeToString(sum) != hex.EncodeToString(want[:]) {
		t.Errorf("decoded id %x, want %x", sum, want)
	}
	// The exponent bytes are fixed by Intel's formula, whatever the key's exponent.
	if u3, err := EKIntelURL(&rsa.PublicKey{N: rk.N, E: 3}); err != nil || u3 != u {
		t.Errorf("exponent 3: %q, %v", u3, err)
	}
}

// TestEKURLECC checks the ECC variants against the formula, computed independently here from
// the key's coordinates.
func TestEKURLECC(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		key, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		size := (curve.Params().BitSize + 7) / 8
		xy := append(key.X.FillBytes(make([]byte, size)), key.Y.FillBytes(make([]byte, size))...)

		isum := sha256.Sum256(xy)
		wantIntel := EKIntelBaseURL + strings.ReplaceAll(base64.URLEncoding.EncodeToString(isum[:]), "=", "%3D")
		if got, err := EKIntelURL(&key.PublicKey); err != nil || got != wantIntel {
			t.Errorf("%s intel: %q, %v; want %q", curve.Params().Name, got, err, wantIntel)
		}
		asum := sha256.Sum256(append([]byte{0, 0, 0x44, 0x44}, xy...))
		wantAMD := EKAMDBaseURL + strings.ToUpper(hex.EncodeToString(asum[:16]))
		if got, err := EKAMDURL(&key.PublicKey); err != nil || got != wantAMD {
			t.Errorf("%s amd: %q, %v; want %q", curve.Params().Name, got, err, wantAMD)
		}
		// Through a certificate, PEM and DER.
		der := ekTestSelfSigned(t, key)
		for _, in := range [][]byte{der, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})} {
			pub, cert, err := EKParsePublic(in)
			if err != nil || cert == nil {
				t.Fatalf("EKParsePublic(cert): %v", err)
			}
			if got, _ := EKAMDURL(pub); got != wantAMD {
				t.Errorf("cert amd: %q", got)
			}
		}
	}
	// The RSA AMD formula, with a small exponent, from its definition.
	rk, _, _ := EKParsePublic([]byte(ekTestAMDKey))
	k := *rk.(*rsa.PublicKey)
	k.E = 3
	sum := sha256.Sum256(append([]byte{0, 0, 0x22, 0x22, 0, 0, 0, 3}, k.N.Bytes()...))
	if got, _ := EKAMDURL(&k); got != EKAMDBaseURL+strings.ToUpper(hex.EncodeToString(sum[:16])) {
		t.Errorf("exponent 3: %q", got)
	}
}

func TestEKParsePublicErrors(t *testing.T) {
	ed := "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
	for name, in := range map[string][]byte{
		"empty":       nil,
		"blank":       []byte(" \n"),
		"text":        []byte("hello"),
		"bad der":     {0x30, 0x03, 0x01, 0x02},
		"private key": []byte(ed),
		"bad pem key": []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
		"bad pem":     []byte("-----BEGIN PUBLIC KEY-----\nno end"),
	} {
		if _, _, err := EKParsePublic(in); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), "ek public key") {
			t.Errorf("%s: error %q does not say what", name, err)
		}
	}
	// PKCS #1 RSA PUBLIC KEY and text before the PEM block.
	k, _, _ := EKParsePublic([]byte(ekTestAMDKey))
	p1 := x509.MarshalPKCS1PublicKey(k.(*rsa.PublicKey))
	in := append([]byte("EK of lab device 7\n"), pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: p1})...)
	got, _, err := EKParsePublic(in)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := EKAMDURL(got); u != ekTestAMDURL {
		t.Errorf("PKCS#1 key: %q", u)
	}
	if got, _, err := EKParsePublic(p1); err != nil {
		t.Errorf("PKCS#1 DER: %v", err)
	} else if u, _ := EKAMDURL(got); u != ekTestAMDURL {
		t.Errorf("PKCS#1 DER key: %q", u)
	}
}

// ekTestSelfSigned returns a throw-away self-signed certificate for key.
func ekTestSelfSigned(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ek test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// ekTLSServer is an HTTPS server on loopback presenting a certificate for the real service
// host names, issued by a throw-away CA; client reaches it through netx resolve rules, so the
// probes use the production URLs with SNI and name verification intact.
type ekTLSServer struct {
	srv    *httptest.Server
	client *http.Client
	mu     sync.Mutex
	h      http.Handler
}

func newEKTLSServer(t *testing.T, hosts ...string) *ekTLSServer {
	t.Helper()
	p := &ekPKI{t: t}
	ca := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "ek test CA"}, ca: true,
		notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(time.Hour)}, nil)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(99),
		Subject:      pkix.Name{CommonName: hosts[0]},
		DNSNames:     hosts,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca.cert, &leafKey.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	e := &ekTLSServer{}
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		h := e.h
		e.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
	e.srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}}}
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der}), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(e.srv.Listener.Addr().String())
	var rules []string
	for _, h := range hosts {
		rules = append(rules, h+"=127.0.0.1:"+port)
	}
	e.client, err = netx.Options{Resolve: rules, CAFiles: []string{caFile}}.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.client.CloseIdleConnections)
	return e
}

func (e *ekTLSServer) handle(h http.HandlerFunc) {
	e.mu.Lock()
	e.h = h
	e.mu.Unlock()
}

func TestEKProbeKnownKey(t *testing.T) {
	ignore := goleak.IgnoreCurrent() // the goroutines before the test, not at its end
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	srv := newEKTLSServer(t, "ekop.intel.com", "ftpm.amd.com", "ekcert.spserv.microsoft.com")
	p := &ekPKI{t: t}
	root := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "EK CA"}, ca: true}, nil)
	ek := p.issue(ekCertOpts{san: ekTCGSAN(t, "id:494E5443", "test", "id:00010000")}, root)
	other := p.issue(ekCertOpts{san: ekTCGSAN(t, "id:494E5443", "test", "id:00010000")}, root)

	intelPath := strings.TrimPrefix(mustURL(t, EKIntelURL, ek.cert.PublicKey), "https://ekop.intel.com")
	amdPath := strings.TrimPrefix(mustURL(t, EKAMDURL, ek.cert.PublicKey), "https://ftpm.amd.com")
	var served struct {
		sync.Mutex
		paths []string
	}
	serve := func(intelCert, amdCert []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			served.Lock()
			served.paths = append(served.paths, r.Host+" "+r.URL.RawPath+" "+r.URL.Path+" "+r.UserAgent())
			served.Unlock()
			switch {
			case r.Host == "ekop.intel.com" && (r.URL.RawPath == intelPath || r.URL.EscapedPath() == intelPath):
				if strings.Contains(r.RequestURI, "=") { // Intel answers 403 to a bare '='
					http.Error(w, "forbidden", http.StatusForbidden)
					return
				}
				json.NewEncoder(w).Encode(map[string]string{"pubhash": "x", "certificate": base64.URLEncoding.EncodeToString(intelCert)})
			case r.Host == "ftpm.amd.com" && r.URL.Path == amdPath:
				w.Header().Set("Content-Type", "application/pkix-cert")
				w.Write(amdCert)
			case r.Host == "ekop.intel.com":
				// Intel's service answers an unknown key with a text error.
				w.WriteHeader(http.StatusNotFound)
				w.Write([]byte("Certificate not found"))
			default:
				http.NotFound(w, r)
			}
		}
	}
	prober := &EKProber{Client: srv.client, Timeout: 5 * time.Second}
	ctx := context.Background()
	srv.handle(serve(ek.der, ek.der))

	for _, svc := range []EKService{
		{Name: "intel", BaseURL: EKIntelBaseURL, KnownKey: ek.cert.PublicKey},
		{Name: "Intel", BaseURL: EKIntelBaseURL, KnownKey: ek.cert.PublicKey, ExpectedCert: ek.der},
		{Name: "amd", BaseURL: EKAMDBaseURL, KnownKey: ek.cert.PublicKey},
		{Name: "amd", BaseURL: EKAMDBaseURL, KnownKey: ek.cert.PublicKey, ExpectedCert: ek.der},
	} {
		r := prober.Probe(ctx, svc)
		if r.Status != EKStatusOK || !r.OK() || r.Mode != EKModeKnownKey || r.HTTPStatus != 200 ||
			!r.CertificateNotAfter.Equal(ek.cert.NotAfter) || r.Error != "" {
			t.Errorf("%s: %+v", svc.Name, r)
		}
		if !strings.HasPrefix(r.URL, svc.BaseURL) || len(r.URL) == len(svc.BaseURL) {
			t.Errorf("%s: url %q", svc.Name, r.URL)
		}
	}
	// Unknown key: Intel's text answer and AMD's 404.
	for _, svc := range []EKService{
		{Name: "intel", BaseURL: EKIntelBaseURL, KnownKey: other.cert.PublicKey},
		{Name: "amd", BaseURL: EKAMDBaseURL, KnownKey: other.cert.PublicKey},
	} {
		if r := prober.Probe(ctx, svc); r.Status != EKStatusNotFound || r.HTTPStatus != 404 || r.OK() {
			t.Errorf("%s unknown key: %+v", svc.Name, r)
		}
	}
	// The service returns another EK's certificate.
	srv.handle(serve(other.der, other.der))
	for _, svc := range []EKService{
		{Name: "intel", BaseURL: EKIntelBaseURL, KnownKey: ek.cert.PublicKey},
		{Name: "amd", BaseURL: EKAMDBaseURL, KnownKey: ek.cert.PublicKey, ExpectedCert: ek.der},
	} {
		if r := prober.Probe(ctx, svc); r.Status != EKStatusWrongCertificate || r.Error == "" {
			t.Errorf("%s wrong cert: %+v", svc.Name, r)
		}
	}
	// The right key but not the expected certificate (reissued).
	srv.handle(serve(ek.der, ek.der))
	if r := prober.Probe(ctx, EKService{Name: "amd", BaseURL: EKAMDBaseURL, KnownKey: ek.cert.PublicKey, ExpectedCert: other.der}); r.Status != EKStatusWrongCertificate {
		t.Errorf("reissued: %+v", r)
	}
	// Garbage and server errors.
	srv.handle(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>maintenance</html>")) })
	if r := prober.Probe(ctx, EKService{Name: "amd", BaseURL: EKAMDBaseURL, KnownKey: ek.cert.PublicKey}); r.Status != EKStatusBadResponse {
		t.Errorf("html: %+v", r)
	}
	srv.handle(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"pubhash":"x"}`)) })
	if r := prober.Probe(ctx, EKService{Name: "intel", BaseURL: EKIntelBaseURL, KnownKey: ek.cert.PublicKey}); r.Status != EKStatusBadResponse || !strings.Contains(r.Error, "no certificate") {
		t.Errorf("json without cert: %+v", r)
	}
	srv.handle(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", http.StatusServiceUnavailable) })
	if r := prober.Probe(ctx, EKService{Name: "intel", BaseURL: EKIntelBaseURL, KnownKey: ek.cert.PublicKey}); r.Status != EKStatusHTTPError || r.HTTPStatus != 503 || !strings.Contains(r.Error, "busy") {
		t.Errorf("503: %+v", r)
	}
	// Body cap.
	srv.handle(func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 4096)) })
	small := &EKProber{Client: srv.client, Timeout: 5 * time.Second, MaxBody: 1024}
	if r := small.Probe(ctx, EKService{Name: "amd", BaseURL: EKAMDBaseURL, KnownKey: ek.cert.PublicKey}); r.Status != EKStatusBadResponse || !strings.Contains(r.Error, "cap") {
		t.Errorf("over cap: %+v", r)
	}
	// Qualcomm has no known-key scheme: reachability only; an unknown service has none either.
	srv.handle(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "bad request", http.StatusBadRequest) })
	if r := prober.Probe(ctx, EKService{Name: "qualcomm", BaseURL: EKQualcommURL, KnownKey: ek.cert.PublicKey}); r.Status != EKStatusReachable || r.Mode != EKModeReachability || r.HTTPStatus != 400 {
		t.Errorf("qualcomm with a key: %+v", r)
	}
	if r := prober.Probe(ctx, EKService{Name: "nuvoton", BaseURL: "https://ekop.intel.com/", KnownKey: ek.cert.PublicKey}); r.Status != EKStatusConfigError {
		t.Errorf("unknown service with a key: %+v", r)
	}
	served.Lock()
	for _, s := range served.paths {
		if !strings.HasSuffix(s, " "+EKUserAgent) {
			t.Errorf("request without the User-Agent: %s", s)
		}
	}
	served.Unlock()
}

func mustURL(t *testing.T, f func(crypto.PublicKey) (string, error), pub crypto.PublicKey) string {
	t.Helper()
	u, err := f(pub)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestEKProbeReachability(t *testing.T) {
	ignore := goleak.IgnoreCurrent() // the goroutines before the test, not at its end
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	srv := newEKTLSServer(t, "ekop.intel.com", "ftpm.amd.com", "ekcert.spserv.microsoft.com")
	srv.handle(func(w http.ResponseWriter, r *http.Request) {
		switch r.Host {
		case "ekop.intel.com":
			http.Error(w, "forbidden", http.StatusForbidden)
		case "ftpm.amd.com":
			http.NotFound(w, r)
		default:
			w.Write([]byte("ok"))
		}
	})
	prober := &EKProber{Client: srv.client, Timeout: 5 * time.Second}
	want := map[string]int{"intel": 403, "amd": 404, "qualcomm": 200}
	for _, svc := range EKDefaultServices() {
		r := prober.Probe(context.Background(), svc)
		if r.Status != EKStatusReachable || !r.OK() || r.Mode != EKModeReachability || r.HTTPStatus != want[svc.Name] || r.URL != svc.BaseURL {
			t.Errorf("%s: %+v", svc.Name, r)
		}
	}
	if got := len(EKDefaultServices()); got != 3 {
		t.Errorf("%d default services", got)
	}
}

func TestEKProbeFailures(t *testing.T) {
	ignore := goleak.IgnoreCurrent() // the goroutines before the test, not at its end
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	srv := newEKTLSServer(t, "ekop.intel.com")
	release := make(chan struct{})
	srv.handle(func(w http.ResponseWriter, r *http.Request) {
		select { // hang until the client gives up (or the test ends)
		case <-r.Context().Done():
		case <-release:
		}
		// Drop the stream without an answer: returning would send an empty 200, which a
		// client whose deadline raced with it could take for the service's reply.
		panic(http.ErrAbortHandler)
	})
	t.Cleanup(func() { close(release) })
	ctx := context.Background()

	// A hanging service is cut at the probe's timeout.
	r := (&EKProber{Client: srv.client, Timeout: 200 * time.Millisecond}).Probe(ctx, EKService{Name: "intel", BaseURL: EKIntelBaseURL})
	if r.Status != EKStatusTimeout || r.OK() {
		t.Errorf("hanging: %+v", r)
	}
	// The caller's cancellation is not the service's fault.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if r := (&EKProber{Client: srv.client}).Probe(cctx, EKService{Name: "intel", BaseURL: EKIntelBaseURL}); r.Status != EKStatusCancelled {
		t.Errorf("cancelled: %+v", r)
	}
	// Untrusted certificate: the default client does not know the test CA.
	_, port, _ := net.SplitHostPort(srv.srv.Listener.Addr().String())
	plain, err := netx.Options{Resolve: []string{"ekop.intel.com=127.0.0.1:" + port}}.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plain.CloseIdleConnections)
	if r := (&EKProber{Client: plain, Timeout: 5 * time.Second}).Probe(ctx, EKService{Name: "intel", BaseURL: EKIntelBaseURL}); r.Status != EKStatusTLSError {
		t.Errorf("untrusted: %+v", r)
	}
	// Wrong name: the certificate is for ekop.intel.com, not ftpm.amd.com.
	wrong, err := netx.Options{Resolve: []string{"ftpm.amd.com=127.0.0.1:" + port}}.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wrong.CloseIdleConnections)
	if r := (&EKProber{Client: wrong, Timeout: 5 * time.Second}).Probe(ctx, EKService{Name: "amd", BaseURL: EKAMDBaseURL}); r.Status != EKStatusTLSError {
		t.Errorf("wrong name: %+v", r)
	}
	// Nothing listening.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	refused, _ := netx.Options{Resolve: []string{"ekop.intel.com=" + addr}}.Client()
	t.Cleanup(refused.CloseIdleConnections)
	if r := (&EKProber{Client: refused, Timeout: 5 * time.Second}).Probe(ctx, EKService{Name: "intel", BaseURL: EKIntelBaseURL}); r.Status != EKStatusConnectError {
		t.Errorf("refused: %+v", r)
	}
	// A name that does not resolve. No real lookup is made: the dialer reports what a
	// resolver says about an unknown name.
	nxdomain := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}}}
	if r := (&EKProber{Client: nxdomain, Timeout: 5 * time.Second}).Probe(ctx, EKService{Name: "intel", BaseURL: EKIntelBaseURL}); r.Status != EKStatusDNSError {
		t.Errorf("unresolvable: %+v", r)
	}
	// Bad base URL and unsupported key.
	if r := (&EKProber{}).Probe(ctx, EKService{Name: "amd", BaseURL: "://bad"}); r.Status != EKStatusConfigError {
		t.Errorf("bad url: %+v", r)
	}
	if r := (&EKProber{}).Probe(ctx, EKService{Name: "amd", BaseURL: EKAMDBaseURL, KnownKey: "not a key"}); r.Status != EKStatusConfigError {
		t.Errorf("bad key: %+v", r)
	}
}

// TestEKProbeSim probes the simulator's Intel and AMD EK certificate services with the EKs it
// generated, and its Qualcomm service for reachability.
func TestEKProbeSim(t *testing.T) {
	ignore := goleak.IgnoreCurrent() // the goroutines before the test, not at its end
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	cab, err := os.ReadFile(testutil.NovCab)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := sim.New(sim.Config{TrustList: cab})
	if err != nil {
		t.Fatal(err)
	}
	if err := sm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close() })
	client := sm.Client()
	t.Cleanup(client.CloseIdleConnections)
	prober := &EKProber{Client: client, Timeout: 5 * time.Second}
	ctx := context.Background()
	base := map[string]string{"intel": EKIntelBaseURL, "amd": EKAMDBaseURL}
	eks := sm.EKs()
	if len(eks) != 2 {
		t.Fatalf("%d simulator EKs", len(eks))
	}
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, e := range eks {
		r := prober.Probe(ctx, EKService{Name: e.Vendor, BaseURL: base[e.Vendor], KnownKey: e.Cert.PublicKey, ExpectedCert: e.Cert.Raw})
		if r.Status != EKStatusOK || r.URL != e.URL || !r.CertificateNotAfter.Equal(e.Cert.NotAfter) {
			t.Errorf("%s: %+v (want url %s)", e.Vendor, r, e.URL)
		}
		if u, _ := map[string]func(crypto.PublicKey) (string, error){"intel": EKIntelURL, "amd": EKAMDURL}[e.Vendor](e.Cert.PublicKey); u != e.URL {
			t.Errorf("%s: our URL %s, the simulator's %s", e.Vendor, u, e.URL)
		}
		if r := prober.Probe(ctx, EKService{Name: e.Vendor, BaseURL: base[e.Vendor], KnownKey: &stranger.PublicKey}); r.Status != EKStatusNotFound {
			t.Errorf("%s unknown key: %+v", e.Vendor, r)
		}
	}
	for _, svc := range EKDefaultServices() {
		if r := prober.Probe(ctx, svc); r.Status != EKStatusReachable || r.HTTPStatus == 0 {
			t.Errorf("%s reachability: %+v", svc.Name, r)
		}
	}
	// A hanging Intel service is cut at the timeout.
	if err := sm.SetMode("ekop.intel.com", sim.ModeHang, 0); err != nil {
		t.Fatal(err)
	}
	quick := &EKProber{Client: client, Timeout: 300 * time.Millisecond}
	if r := quick.Probe(ctx, EKService{Name: "intel", BaseURL: EKIntelBaseURL, KnownKey: eks[0].Cert.PublicKey}); r.Status != EKStatusTimeout {
		t.Errorf("hang: %+v", r)
	}
}
