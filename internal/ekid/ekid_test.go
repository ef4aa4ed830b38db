package ekid

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"testing"
)

// Public test vectors of google/go-attestation attest/tpm_test.go (TestIntelEKURL, TestAMDEKURL):
// the public keys of EK certificates that Intel's and AMD's services really serve under these ids.
const intelVectorKey = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwyDi8kSoYBqs8+AdJsZl
JJk1Vi3h2hl+nn8HbEaWE8+2U+mOwsOG/B0TPyyMbMM4tzLwsgi9g4qHej5bvD4d
QIToNcfIkGocBbTS0w/b68HbrZUPprFlvUtqhkYDFGFkwMT1nUiQEe8fko3upukA
YfPTdeVkYnMVHvYiJSCYvhpKsB3AoSInxgn9rOsRWvQI1Gk6b0mRl3RpWwwSvBih
/3EgpzN7L7XxlR2Lt/CU1bVUwRyVI7MHKf5keH0KE7nmMEiNq039hmNKUnDscvzF
pE3GeajzKTjdgZfina6Dn1tMoPXeJ8lSLCPFThws5XhZUlEYvURwsYGA7veK5CZ7
zQIDAQAB
-----END PUBLIC KEY-----`

const amdVectorKey = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAo8ID3MRLZQWgq2WIK1qT
e2HQxzZgiDWn6Tzw6uQOoXI1iyO9pxIailRxll2NeK1lRVP/dEKCV+mGwv75T+y2
MmzpFhUY/O5RtEG8TiocDw6WkHRAJ9A9h1OMP+vD3mPClNoA9/ssB36/0ScmVtYR
0gRkL+cZkAT6qro7xz4eRKLt8KfX6OG/Y9kCfJsKDCtYbc4OavHSf11VgbBLtxm7
jSVE+pnO+x/om6qwACjZbU4qrq4PUbAxD1S9dJ2cZzKaYSsCA8wMIho0umYa3jGv
eptunXDcE993BlsUGjLNbXC4aWVEtgo9yu98gKqhYGFEx7Mtk5NYOvWoNvcUBe2L
2QIDAQAB
-----END PUBLIC KEY-----`

func rsaKey(t *testing.T, p string) *rsa.PublicKey {
	t.Helper()
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		t.Fatal("no PEM block")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PublicKey)
}

func TestIntelVector(t *testing.T) {
	got, err := Intel(rsaKey(t, intelVectorKey))
	if err != nil {
		t.Fatal(err)
	}
	if want := "WVEG2rRwkQ7m3RpXlUphgo6Y2HLxl18h6ZZkkOAdnBE%3D"; got != want {
		t.Errorf("Intel = %q, want %q", got, want)
	}
	u, _ := IntelURL(rsaKey(t, intelVectorKey))
	if u != "https://ekop.intel.com/ekcertservice/WVEG2rRwkQ7m3RpXlUphgo6Y2HLxl18h6ZZkkOAdnBE%3D" {
		t.Errorf("IntelURL = %q", u)
	}
}

func TestAMDVector(t *testing.T) {
	got, err := AMD(rsaKey(t, amdVectorKey))
	if err != nil {
		t.Fatal(err)
	}
	if want := "D027B3CE6A9B6B56846D2B9935884A88"; got != want {
		t.Errorf("AMD = %q, want %q", got, want)
	}
	u, _ := AMDURL(rsaKey(t, amdVectorKey))
	if u != "https://ftpm.amd.com/pki/aia/D027B3CE6A9B6B56846D2B9935884A88" {
		t.Errorf("AMDURL = %q", u)
	}
}

// TestECCFormula checks the ECC derivations against the formula written out by hand, with
// coordinates padded to the curve size.
func TestECCFormula(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// force a short X to exercise the padding
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(5), Y: k.Y}
	x := make([]byte, 32)
	x[31] = 5
	y := k.Y.FillBytes(make([]byte, 32))

	sum := sha256.Sum256(append(append([]byte{}, x...), y...))
	want := url.QueryEscape(base64.URLEncoding.EncodeToString(sum[:]))
	if got, err := Intel(pub); err != nil || got != want {
		t.Errorf("Intel ECC = %q, %v; want %q", got, err, want)
	}
	sum = sha256.Sum256(append(append([]byte{0, 0, 0x44, 0x44}, x...), y...))
	want = strings.ToUpper(hex.EncodeToString(sum[:16]))
	if got, err := AMD(pub); err != nil || got != want {
		t.Errorf("AMD ECC = %q, %v; want %q", got, err, want)
	}
}

func TestBadKeys(t *testing.T) {
	for _, k := range []any{nil, "key", &ecdsa.PublicKey{}, &rsa.PublicKey{N: big.NewInt(7), E: -1}} {
		if _, err := AMD(k); err == nil {
			t.Errorf("AMD(%T) accepted", k)
		}
	}
	for _, k := range []any{nil, 3, &ecdsa.PublicKey{}} {
		if _, err := Intel(k); err == nil {
			t.Errorf("Intel(%T) accepted", k)
		}
	}
}

// TestEscaping: the Intel id never carries a bare '=' and unescapes to base64url.
func TestEscaping(t *testing.T) {
	for range 8 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, err := Intel(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(id, "=") || !strings.HasSuffix(id, "%3D") {
			t.Errorf("id %q: want '=' escaped as %%3D", id)
		}
		raw, err := url.QueryUnescape(id)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := base64.URLEncoding.DecodeString(raw); err != nil || len(b) != 32 {
			t.Errorf("id %q: not base64url of 32 bytes: %v", id, err)
		}
	}
}
