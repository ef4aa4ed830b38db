package authenticode

import (
	"bytes"
	"crypto/x509"
	"embed"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// The pinned Microsoft trust anchors (DER), see testdata/microsoft-roots/SOURCES.md.
//
//go:embed roots/MicrosoftRootCertificateAuthority2011.cer roots/MicRooCerAut_2010-06-23.crt
var embeddedRoots embed.FS

const (
	codeSigningRootFile = "roots/MicrosoftRootCertificateAuthority2011.cer"
	timestampRootFile   = "roots/MicRooCerAut_2010-06-23.crt"
)

// Roots holds the trust anchors of the two chains VerifyCab checks. A nil pool trusts nothing;
// the system roots are never used.
type Roots struct {
	// CodeSigning anchors the signer's chain (Microsoft Root Certificate Authority 2011 by default).
	CodeSigning *x509.CertPool
	// Timestamp anchors the timestamp authority's chain (Microsoft Root Certificate Authority
	// 2010 by default).
	Timestamp *x509.CertPool
}

// DefaultRoots returns the embedded Microsoft roots that anchor TrustedTpm.cab: Microsoft Root
// Certificate Authority 2011 for code signing and Microsoft Root Certificate Authority 2010
// for timestamps.
func DefaultRoots() Roots {
	return Roots{
		CodeSigning: mustEmbeddedPool(codeSigningRootFile),
		Timestamp:   mustEmbeddedPool(timestampRootFile),
	}
}

func mustEmbeddedPool(name string) *x509.CertPool {
	b, err := embeddedRoots.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("authenticode: embedded root %s: %v", name, err))
	}
	c, err := x509.ParseCertificate(b)
	if err != nil {
		panic(fmt.Sprintf("authenticode: embedded root %s: %v", name, err))
	}
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

// LoadRoots builds Roots from certificate files, for configuration that replaces the embedded
// Microsoft roots. Each file holds one DER certificate or any number of PEM "CERTIFICATE"
// blocks. An empty list keeps the embedded default for that chain; a listed file that yields
// no certificate is an error.
func LoadRoots(codeSigningFiles, timestampFiles []string) (Roots, error) {
	roots := DefaultRoots()
	if len(codeSigningFiles) > 0 {
		p, err := poolFromFiles(codeSigningFiles)
		if err != nil {
			return Roots{}, fmt.Errorf("loading code-signing roots: %w", err)
		}
		roots.CodeSigning = p
	}
	if len(timestampFiles) > 0 {
		p, err := poolFromFiles(timestampFiles)
		if err != nil {
			return Roots{}, fmt.Errorf("loading timestamp roots: %w", err)
		}
		roots.Timestamp = p
	}
	return roots, nil
}

func poolFromFiles(files []string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		certs, err := ParseCertificates(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	return pool, nil
}

// ParseCertificates decodes certificates given either as PEM (one or more "CERTIFICATE"
// blocks; other block types are ignored) or as a single DER certificate.
func ParseCertificates(b []byte) ([]*x509.Certificate, error) {
	if !bytes.Contains(b, []byte("-----BEGIN")) {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, fmt.Errorf("parsing DER certificate: %w", err)
		}
		return []*x509.Certificate{c}, nil
	}
	var certs []*x509.Certificate
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing PEM certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no CERTIFICATE block found")
	}
	return certs, nil
}
