package sim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// issuer is a CA that can sign certificates: its certificate and private key.
type issuer struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// serial returns a random positive 127-bit serial number.
func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// newECKey generates an ECDSA P-256 key.
func newECKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating ECDSA key: %w", err)
	}
	return k, nil
}

// issue signs tmpl for pub with parent (self-signed when parent is nil, with key as its own
// signer) and returns the parsed certificate.
func issue(tmpl *x509.Certificate, pub crypto.PublicKey, parent *issuer, key crypto.Signer) (*x509.Certificate, error) {
	if tmpl.SerialNumber == nil {
		sn, err := serial()
		if err != nil {
			return nil, err
		}
		tmpl.SerialNumber = sn
	}
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, pub, signerKey)
	if err != nil {
		return nil, fmt.Errorf("creating certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing generated certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return c, nil
}

// newCA creates a CA: self-signed when parent is nil, else issued by parent. The key is
// ECDSA P-256; it is valid from an hour ago for the given lifetime.
func newCA(subject pkix.Name, parent *issuer, lifetime time.Duration) (*issuer, error) {
	k, err := newECKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               subject,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	c, err := issue(tmpl, &k.PublicKey, parent, k)
	if err != nil {
		return nil, err
	}
	return &issuer{cert: c, key: k}, nil
}

// certPEM encodes DER certificates as PEM.
func certPEM(ders ...[]byte) []byte {
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return out
}
