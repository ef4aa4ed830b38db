package netx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// Options describes how aikwatch reaches the outside: resolve overrides, extra trust anchors,
// a default timeout, a User-Agent and a proxy. The zero value gives a client like
// http.DefaultClient's, with the environment's proxy settings.
type Options struct {
	// Resolve holds "PATTERN=ADDR" overrides (see [ParseResolve]); the first matching rule wins.
	Resolve []string
	// CAFiles are PEM (or DER) certificate files whose certificates are added to the system roots.
	CAFiles []string
	// Timeout bounds each request made through [Options.Client]; 0 means none (callers use contexts).
	Timeout time.Duration
	// UserAgent is set on requests that carry none; "" leaves Go's default.
	UserAgent string
	// Proxy chooses a proxy for a request; nil means http.ProxyFromEnvironment (HTTPS_PROXY,
	// NO_PROXY). Requests to a host that a resolve rule maps always go direct.
	Proxy func(*http.Request) (*url.URL, error)
}

// Transport tuning. Probes bound their requests with contexts, so no response-header timeout
// is set; the handshake timeout only guards callers that have none.
const (
	dialTimeout         = 30 * time.Second
	tlsHandshakeTimeout = 15 * time.Second
	idleConnTimeout     = 90 * time.Second
	maxIdleConnsPerHost = 2
	maxIdleConns        = 512 // one sweep touches ~330 hosts
)

// RootCAs returns the system roots plus the certificates of CAFiles, or nil (the system roots)
// when there are no CAFiles.
func (o Options) RootCAs() (*x509.CertPool, error) {
	if len(o.CAFiles) == 0 {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, f := range o.CAFiles {
		certs, err := readCerts(f)
		if err != nil {
			return nil, err
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	return pool, nil
}

// readCerts reads every certificate of a PEM file, or the one certificate of a DER file.
func readCerts(name string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("ca file: %w", err)
	}
	var certs []*x509.Certificate
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("ca file %s: certificate %d: %w", name, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("ca file %s: no PEM CERTIFICATE block and not a DER certificate", name)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// Transport returns a transport that dials hosts matched by a resolve rule at the rule's
// address (no DNS lookup, no proxy) while TLS keeps verifying the real host name, and trusts
// the system roots plus CAFiles.
func (o Options) Transport() (*http.Transport, error) {
	rules, err := ParseRules(o.Resolve)
	if err != nil {
		return nil, err
	}
	roots, err := o.RootCAs()
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	proxy := o.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	return &http.Transport{
		Proxy: func(req *http.Request) (*url.URL, error) {
			if _, ok := match(rules, req.URL.Hostname(), urlPort(req.URL)); ok {
				return nil, nil
			}
			return proxy(req)
		},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err == nil {
				if r, ok := match(rules, host, port); ok {
					addr = r.dialAddr(port)
				}
			}
			return dialer.DialContext(ctx, network, addr)
		},
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		IdleConnTimeout:       idleConnTimeout,
		MaxIdleConns:          maxIdleConns,
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}, nil
}

// urlPort returns u's port, or the scheme's default.
func urlPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "http" {
		return "80"
	}
	return "443"
}

// Client returns an HTTP client using [Options.Transport], Timeout and UserAgent.
func (o Options) Client() (*http.Client, error) {
	t, err := o.Transport()
	if err != nil {
		return nil, err
	}
	var rt http.RoundTripper = t
	if o.UserAgent != "" {
		rt = &userAgent{next: t, ua: o.UserAgent}
	}
	return &http.Client{Transport: rt, Timeout: o.Timeout}, nil
}

// userAgent sets a User-Agent on requests that carry none.
type userAgent struct {
	next *http.Transport
	ua   string
}

func (u *userAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", u.ua)
	}
	return u.next.RoundTrip(req)
}

// CloseIdleConnections closes the underlying transport's idle connections.
func (u *userAgent) CloseIdleConnections() { u.next.CloseIdleConnections() }
