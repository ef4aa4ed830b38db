package netx

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testHost = "x.microsoftaik.azure.net"

// testServer is a TLS server on loopback presenting a certificate for testHost issued by a
// throw-away CA; caFile holds that CA in PEM.
type testServer struct {
	srv    *httptest.Server
	caFile string
	port   string
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "netx test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: testHost},
		DNSNames:     []string{testHost},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "host="+r.Host+" sni="+r.TLS.ServerName+" ua="+r.UserAgent())
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // expected handshake failures
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return &testServer{srv: srv, caFile: caFile, port: port}
}

func (s *testServer) addr() string { return s.srv.Listener.Addr().String() }

// get fetches rawURL with a client built from o, failing the test if anything looks up DNS.
func get(t *testing.T, o Options, rawURL string) (string, error) {
	t.Helper()
	c, err := o.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	trace := &httptrace.ClientTrace{DNSStart: func(i httptrace.DNSStartInfo) {
		t.Errorf("DNS lookup of %q attempted", i.Host)
	}}
	ctx, cancel := context.WithTimeout(httptrace.WithClientTrace(context.Background(), trace), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestResolveAndCAFile(t *testing.T) {
	s := newTestServer(t)
	o := Options{Resolve: []string{"*.microsoftaik.azure.net=" + s.addr()}, CAFiles: []string{s.caFile}, UserAgent: "aikwatch-test"}
	body, err := get(t, o, "https://X.MicrosoftAIK.azure.net/templates/Aik/scep")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(body), "sni="+testHost) || !strings.Contains(body, "ua=aikwatch-test") {
		t.Errorf("server saw %q", body)
	}
}

func TestWithoutCAFileFailsVerification(t *testing.T) {
	s := newTestServer(t)
	_, err := get(t, Options{Resolve: []string{"*=" + s.addr()}}, "https://"+testHost+"/")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("want an x509 unknown-authority error, got %v", err)
	}
}

func TestVerificationKeepsRealName(t *testing.T) {
	// The certificate names testHost only: mapping another name to the server must fail
	// verification, proving the override changes where we dial, not whom we trust.
	s := newTestServer(t)
	_, err := get(t, Options{Resolve: []string{"*=" + s.addr()}, CAFiles: []string{s.caFile}}, "https://other.microsoftaik.azure.net/")
	var hn x509.HostnameError
	if !errors.As(err, &hn) {
		t.Fatalf("want an x509 hostname error, got %v", err)
	}
}

func TestBareAddressKeepsPort(t *testing.T) {
	s := newTestServer(t)
	body, err := get(t, Options{Resolve: []string{testHost + "=127.0.0.1"}, CAFiles: []string{s.caFile}}, "https://"+testHost+":"+s.port+"/")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "sni="+testHost) {
		t.Errorf("server saw %q", body)
	}
}

func TestPortRules(t *testing.T) {
	s := newTestServer(t)
	// Only the rule for port 443 applies to an https URL without a port; the first rule is
	// for another port and must be skipped.
	o := Options{Resolve: []string{testHost + ":8443=127.0.0.1:1", testHost + ":443=" + s.addr()}, CAFiles: []string{s.caFile}}
	if _, err := get(t, o, "https://"+testHost+"/"); err != nil {
		t.Fatal(err)
	}
}

func TestFirstRuleWins(t *testing.T) {
	s := newTestServer(t)
	o := Options{Resolve: []string{"x.*=" + s.addr(), "*=127.0.0.1:1"}, CAFiles: []string{s.caFile}}
	if _, err := get(t, o, "https://"+testHost+"/"); err != nil {
		t.Fatal(err)
	}
}

func TestMappedHostBypassesProxy(t *testing.T) {
	s := newTestServer(t)
	proxied := 0
	proxy := func(*http.Request) (*url.URL, error) { proxied++; return url.Parse("http://127.0.0.1:1") }
	o := Options{Resolve: []string{"*.microsoftaik.azure.net=" + s.addr()}, CAFiles: []string{s.caFile}, Proxy: proxy}
	if _, err := get(t, o, "https://"+testHost+"/"); err != nil {
		t.Fatal(err)
	}
	if proxied != 0 {
		t.Errorf("proxy consulted %d times for a mapped host", proxied)
	}
	tr, err := o.Transport()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://download.example/", nil)
	if u, _ := tr.Proxy(req); u == nil || u.Host != "127.0.0.1:1" {
		t.Errorf("unmapped host: proxy %v, want the configured one", u)
	}
}

func TestClientTimeout(t *testing.T) {
	c, err := Options{Timeout: 3 * time.Second}.Client()
	if err != nil {
		t.Fatal(err)
	}
	if c.Timeout != 3*time.Second {
		t.Errorf("timeout %v", c.Timeout)
	}
	tr, err := Options{}.Transport()
	if err != nil {
		t.Fatal(err)
	}
	if !tr.ForceAttemptHTTP2 || tr.MaxIdleConnsPerHost != maxIdleConnsPerHost || tr.ResponseHeaderTimeout != 0 || tr.TLSClientConfig.RootCAs != nil {
		t.Errorf("transport settings: %+v", tr)
	}
}

func TestCAFileErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	for _, f := range []string{junk, filepath.Join(dir, "missing.pem")} {
		_, err := Options{CAFiles: []string{f}}.Client()
		if err == nil || !strings.Contains(err.Error(), "ca file") {
			t.Errorf("%s: error %v, want one naming the ca file", f, err)
		}
	}
	_, err := Options{CAFiles: []string{junk}}.Client()
	if !strings.Contains(err.Error(), junk) {
		t.Errorf("error %v does not name %s", err, junk)
	}
}

func TestCAFileDER(t *testing.T) {
	s := newTestServer(t)
	data, _ := os.ReadFile(s.caFile)
	b, _ := pem.Decode(data)
	der := filepath.Join(t.TempDir(), "ca.der")
	os.WriteFile(der, b.Bytes, 0o600)
	if _, err := get(t, Options{Resolve: []string{"*=" + s.addr()}, CAFiles: []string{der}}, "https://"+testHost+"/"); err != nil {
		t.Fatal(err)
	}
}
