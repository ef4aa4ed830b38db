package sim

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"github.com/aikwatch/aikwatch/internal/authenticode"
)

// Common names of the simulator's release-signing PKI.
const (
	CodeSigningRootCN = "Sim Code Signing Root"
	CodeSignerCN      = "Microsoft Corporation (simulated)"
	TimestampRootCN   = "Sim Time-Stamp Root"
	TimestampSignerCN = "Sim Time-Stamp Authority"
)

// signingPKI is the simulator's own Authenticode code-signing and RFC 3161 timestamping PKI:
// a root and a leaf for each.
type signingPKI struct {
	csRoot, tsRoot *issuer
	signer, tsa    *issuer
}

// newSigningPKI creates the two roots and their leaves: a code-signing certificate (extended
// key usage codeSigning) and a timestamp authority (extended key usage timeStamping only,
// critical, as Windows and OpenSSL demand).
func newSigningPKI() (*signingPKI, error) {
	org := []string{"aikwatch simulator"}
	csRoot, err := newCA(pkix.Name{CommonName: CodeSigningRootCN, Organization: org}, nil, 25*365*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("code-signing root: %w", err)
	}
	tsRoot, err := newCA(pkix.Name{CommonName: TimestampRootCN, Organization: org}, nil, 25*365*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("timestamp root: %w", err)
	}
	now := time.Now()
	signer, err := newLeaf(&x509.Certificate{
		Subject: pkix.Name{CommonName: CodeSignerCN, Organization: []string{"Microsoft Corporation"},
			Locality: []string{"Redmond"}, Province: []string{"Washington"}, Country: []string{"US"}},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(365 * 24 * time.Hour), // Microsoft's signer certificates live about a year
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}, csRoot)
	if err != nil {
		return nil, fmt.Errorf("code-signing certificate: %w", err)
	}
	// crypto/x509 never marks the extended key usage critical: write the extension itself.
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidKPTimeStamping})
	if err != nil {
		return nil, fmt.Errorf("timestamp authority certificate: %w", err)
	}
	tsa, err := newLeaf(&x509.Certificate{
		Subject:         pkix.Name{CommonName: TimestampSignerCN, Organization: org},
		NotBefore:       now.Add(-time.Hour),
		NotAfter:        now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}},
	}, tsRoot)
	if err != nil {
		return nil, fmt.Errorf("timestamp authority certificate: %w", err)
	}
	if !ekuCritical(tsa.cert) || len(tsa.cert.ExtKeyUsage) != 1 || tsa.cert.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping {
		return nil, errors.New("timestamp authority certificate: want a critical extended key usage of timeStamping only")
	}
	return &signingPKI{csRoot: csRoot, tsRoot: tsRoot, signer: signer, tsa: tsa}, nil
}

// newLeaf issues tmpl with a new ECDSA P-256 key under parent.
func newLeaf(tmpl *x509.Certificate, parent *issuer) (*issuer, error) {
	k, err := newECKey()
	if err != nil {
		return nil, err
	}
	c, err := issue(tmpl, &k.PublicKey, parent, nil)
	if err != nil {
		return nil, err
	}
	return &issuer{cert: c, key: k}, nil
}

// ekuCritical reports whether c's extended key usage extension is marked critical.
func ekuCritical(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			return e.Critical
		}
	}
	return false
}

var (
	oidExtKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidKPTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
)

// SigningRootsPEM returns the PEM certificates of the roots of the simulator's release
// signatures: the code-signing root and the timestamp root. Trusting them (aikwatch
// --roots / --timestamp-roots, trustlist.Options.Roots) makes the releases the simulator
// signs verify as valid.
func (s *Sim) SigningRootsPEM() (codeSigning, timestamp []byte) {
	return certPEM(s.signing.csRoot.cert.Raw), certPEM(s.signing.tsRoot.cert.Raw)
}

// SigningRoots returns trust anchors holding just the roots of [Sim.SigningRootsPEM].
func (s *Sim) SigningRoots() authenticode.Roots {
	cs, ts := x509.NewCertPool(), x509.NewCertPool()
	cs.AddCert(s.signing.csRoot.cert)
	ts.AddCert(s.signing.tsRoot.cert)
	return authenticode.Roots{CodeSigning: cs, Timestamp: ts}
}

// SignRelease returns cab (a Microsoft Cabinet file, signed or not) Authenticode-signed with
// the simulator's code-signing certificate and timestamped by its timestamp authority at the
// current time. An existing signature is replaced.
func (s *Sim) SignRelease(ctx context.Context, cab []byte) ([]byte, error) {
	b, err := s.signRelease(ctx, cab)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	return b, nil
}

func (s *Sim) signRelease(ctx context.Context, cab []byte) ([]byte, error) {
	p := s.signing
	out, err := authenticode.SignCab(ctx, cab, authenticode.Signer{
		Certificate: p.signer.cert,
		Key:         p.signer.key,
		Hash:        crypto.SHA256,
		Timestamper: authenticode.LocalTimestamper(p.tsa.cert, p.tsa.key, nil, s.now),
	})
	if err != nil {
		return nil, err // "signing cabinet: ..."
	}
	return out, nil
}

// now is the simulator's clock.
func (s *Sim) now() time.Time { return time.Now() }
