package sim

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"slices"
	"testing"

	"github.com/aikwatch/aikwatch/internal/testutil"
	"github.com/aikwatch/aikwatch/trustlist"
)

func TestSigningPKI(t *testing.T) {
	s, err := New(Config{TrustList: readCab(t, testutil.JunCab)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	csPEM, tsPEM := s.SigningRootsPEM()
	parse := func(b []byte) *x509.Certificate {
		t.Helper()
		blk, rest := pem.Decode(b)
		if blk == nil || blk.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
			t.Fatalf("want one PEM certificate, got %q", b)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cs, ts := parse(csPEM), parse(tsPEM)
	if cs.Subject.CommonName != CodeSigningRootCN || ts.Subject.CommonName != TimestampRootCN || !cs.IsCA || !ts.IsCA {
		t.Errorf("roots: %q %q", cs.Subject.CommonName, ts.Subject.CommonName)
	}
	p := s.signing
	if p.signer.cert.Subject.CommonName != CodeSignerCN || !slices.Equal(p.signer.cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}) {
		t.Errorf("code signer: %q %v", p.signer.cert.Subject.CommonName, p.signer.cert.ExtKeyUsage)
	}
	if !ekuCritical(p.tsa.cert) || !slices.Equal(p.tsa.cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}) || len(p.tsa.cert.UnknownExtKeyUsage) != 0 {
		t.Errorf("timestamp authority: critical %v, %v", ekuCritical(p.tsa.cert), p.tsa.cert.ExtKeyUsage)
	}
	// Each leaf chains to its own root only.
	roots := s.SigningRoots()
	verify := func(c *x509.Certificate, pool *x509.CertPool, u x509.ExtKeyUsage) error {
		_, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{u}})
		return err
	}
	if err := verify(p.signer.cert, roots.CodeSigning, x509.ExtKeyUsageCodeSigning); err != nil {
		t.Errorf("code signer: %v", err)
	}
	if err := verify(p.tsa.cert, roots.Timestamp, x509.ExtKeyUsageTimeStamping); err != nil {
		t.Errorf("timestamp authority: %v", err)
	}
	if verify(p.signer.cert, roots.Timestamp, x509.ExtKeyUsageCodeSigning) == nil || verify(p.tsa.cert, roots.CodeSigning, x509.ExtKeyUsageTimeStamping) == nil {
		t.Error("a leaf verifies against the other root")
	}
	// Every simulator has its own signing roots.
	s2, err := New(Config{TrustList: readCab(t, testutil.JunCab)})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if cs2, _ := s2.SigningRootsPEM(); bytes.Equal(cs2, csPEM) {
		t.Error("two simulators share a code-signing root")
	}
}

// TestSignReleaseReal re-signs Microsoft's Jun-2024 cab: valid when trusting the simulator's
// roots, untrusted with Microsoft's, the content unchanged.
func TestSignReleaseReal(t *testing.T) {
	s, err := New(Config{TrustList: readCab(t, testutil.JunCab)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	real := readCab(t, testutil.JunCab)
	signed, err := s.SignRelease(t.Context(), real)
	if err != nil {
		t.Fatal(err)
	}
	roots := s.SigningRoots()
	if sig := trustlist.VerifySignature(signed, trustlist.Options{Roots: &roots}); sig.Status != trustlist.SignatureValid || sig.Signer != CodeSignerCN {
		t.Errorf("with the simulator's roots: %+v", sig)
	}
	if sig := trustlist.VerifySignature(signed, trustlist.Options{}); sig.Status != trustlist.SignatureInvalid || sig.Reason != "untrusted_chain" {
		t.Errorf("with Microsoft's roots: %+v", sig)
	}
	if sig := trustlist.VerifySignature(real, trustlist.Options{Roots: &roots}); sig.Status == trustlist.SignatureValid {
		t.Errorf("Microsoft's signature valid with the simulator's roots: %+v", sig)
	}
	// The cabinet up to the signature is Microsoft's but for the header's signature offset
	// and length (bytes 44 to 52).
	sigOff := int(binary.LittleEndian.Uint32(real[44:48]))
	if len(signed) < sigOff || !bytes.Equal(signed[:44], real[:44]) || !bytes.Equal(signed[52:sigOff], real[52:sigOff]) {
		t.Error("the cabinet content changed")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.SignRelease(ctx, real); err == nil {
		t.Error("SignRelease with a cancelled context succeeded")
	}
}
