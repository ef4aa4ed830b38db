package sim

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// Client returns an HTTP client that trusts the simulator's CA and connects every host name
// to the simulator's HTTPS listener (the SNI and Host stay the URL's host). It never resolves
// or dials anything else. Redirects are followed as by a default client.
func (s *Sim) Client() *http.Client {
	addr := s.Addr()
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:     &tls.Config{RootCAs: s.CAPool(), MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}}
}
