package sim

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"sync"
	"time"
)

// wrongName is the name on the certificate served to a host in [ModeTLSError].
const wrongName = "wrong.example"

// wildcardAIK is the name of the certificate served for every AIK host.
const wildcardAIK = "*" + AIKSuffix

// certStore issues the HTTPS server certificates lazily, one per service, and caches them.
type certStore struct {
	ca    *issuer
	mu    sync.Mutex
	certs map[string]*tls.Certificate
}

func newCertStore(ca *issuer) *certStore {
	return &certStore{ca: ca, certs: map[string]*tls.Certificate{}}
}

// certKey maps a (normalized) server name to the certificate that serves it: the AIK
// wildcard for AIK hosts and for unknown or missing names, the name itself for service hosts.
func certKey(name string) string {
	if isServiceHost(name) || name == wrongName {
		return name
	}
	return wildcardAIK
}

// get returns the certificate for key, creating it on first use.
func (cs *certStore) get(key string) (*tls.Certificate, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.certs[key]; ok {
		return c, nil
	}
	k, err := newECKey()
	if err != nil {
		return nil, err
	}
	names := []string{key}
	if key == wildcardAIK {
		names = append(names, AIKSuffix[1:])
	}
	now := time.Now()
	leaf, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: key},
		DNSNames:    names,
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(90 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, &k.PublicKey, cs.ca, nil)
	if err != nil {
		return nil, fmt.Errorf("server certificate for %s: %w", key, err)
	}
	c := &tls.Certificate{Certificate: [][]byte{leaf.Raw, cs.ca.cert.Raw}, PrivateKey: k, Leaf: leaf}
	cs.certs[key] = c
	return c, nil
}
