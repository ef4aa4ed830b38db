package probes

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"
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
	// A modulus whose hash has '-' or '_' in base64url must not be escaped differently: those
	// are unreserved. Exponent other than 65537 is refused (the formula hard-codes it).
	if _, err := EKIntelURL(&rsa.PublicKey{N: rk.N, E: 3}); err == nil {
		t.Error("exponent 3 accepted")
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
