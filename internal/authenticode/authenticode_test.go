package authenticode

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

func readCab(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The values of testdata/trustedtpm/SOURCES.md.
var realCabs = []struct {
	path      string
	digest    string
	timestamp string
}{
	{testutil.JunCab, "AF88ABB1A066AFB8C936D60DB00E4AD3FE0E5DE33A6DDF3501BD7D7E29FD0657", "2024-06-14T20:37:56Z"},
	{testutil.NovCab, "193F0F83B5B358A97F893065A98B15C13C5A3056F0DDA1CF3C48812345B80C09", "2024-11-22T00:03:32Z"},
}

func TestRealCabsAreValid(t *testing.T) {
	for _, c := range realCabs {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			res := VerifyCab(readCab(t, c.path), DefaultRoots())
			if res.Status != StatusValid || res.Err() != nil {
				t.Fatalf("got %s/%s: %s", res.Status, res.Reason, res.Detail)
			}
			want := mustHex(t, c.digest)
			if !bytes.Equal(res.Digest, want) || !bytes.Equal(res.ComputedDigest, want) {
				t.Errorf("digest %X, computed %X, want %X", res.Digest, res.ComputedDigest, want)
			}
			if res.DigestAlgorithm != "SHA-256" {
				t.Errorf("digest algorithm %q", res.DigestAlgorithm)
			}
			if res.Signer != "Microsoft Corporation" || res.SignerIssuer != "Microsoft Code Signing PCA 2011" {
				t.Errorf("signer %q issued by %q", res.Signer, res.SignerIssuer)
			}
			if got := res.Timestamp.Truncate(time.Second).Format(time.RFC3339); got != c.timestamp {
				t.Errorf("timestamp %s, want %s", got, c.timestamp)
			}
			if res.TimestampSigner != "Microsoft Time-Stamp Service" {
				t.Errorf("timestamp signer %q", res.TimestampSigner)
			}
			if !res.VerifiedAt.Equal(res.Timestamp) {
				t.Errorf("verified at %s, want the timestamp %s", res.VerifiedAt, res.Timestamp)
			}
			// The signer certificate has expired: only the timestamp makes it valid, also
			// years from now.
			if res := verifyCab(readCab(t, c.path), DefaultRoots(), time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC)); res.Status != StatusValid {
				t.Errorf("in 2035: %s/%s: %s", res.Status, res.Reason, res.Detail)
			}
		})
	}
}

func TestRealCabRootsMatter(t *testing.T) {
	data := readCab(t, testutil.NovCab)
	def := DefaultRoots()
	for _, c := range []struct {
		name   string
		roots  Roots
		reason Reason
	}{
		{"no roots", Roots{}, ReasonUntrustedChain},
		// The roots swapped: the code-signing chain fails first.
		{"swapped", Roots{CodeSigning: def.Timestamp, Timestamp: def.CodeSigning}, ReasonUntrustedChain},
		{"no timestamp root", Roots{CodeSigning: def.CodeSigning}, ReasonBadTimestamp},
	} {
		res := VerifyCab(data, c.roots)
		if res.Status != StatusInvalid || res.Reason != c.reason {
			t.Errorf("%s: got %s/%s (%s), want invalid/%s", c.name, res.Status, res.Reason, res.Detail, c.reason)
		}
	}
}

func TestTimestampStrippedIsExpired(t *testing.T) {
	data := readCab(t, testutil.NovCab)
	stripped := replaceSignature(t, data, func(sig []byte) []byte { return stripUnsignedAttributes(t, sig) })
	res := VerifyCab(stripped, DefaultRoots())
	if res.Status != StatusInvalid || res.Reason != ReasonExpired {
		t.Fatalf("got %s/%s: %s", res.Status, res.Reason, res.Detail)
	}
	if !strings.Contains(res.Detail, "no timestamp") || !res.Timestamp.IsZero() {
		t.Errorf("detail %q, timestamp %s", res.Detail, res.Timestamp)
	}
	// While the signer certificate was valid, the same signature verifies.
	if res := verifyCab(stripped, DefaultRoots(), time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)); res.Status != StatusValid {
		t.Errorf("at 2024-12-01: %s/%s: %s", res.Status, res.Reason, res.Detail)
	}
}

func TestErr(t *testing.T) {
	if err := (Result{Status: StatusValid}).Err(); err != nil {
		t.Errorf("valid: %v", err)
	}
	err := Result{Status: StatusUnsigned, Detail: "no reserve"}.Err()
	if !errors.Is(err, ErrUnsigned) || errors.Is(err, ErrInvalid) {
		t.Errorf("unsigned: %v", err)
	}
	err = Result{Status: StatusInvalid, Reason: ReasonDigestMismatch, Detail: "x"}.Err()
	var e *Error
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &e) || e.Reason != ReasonDigestMismatch {
		t.Errorf("invalid: %v", err)
	}
	if got := err.Error(); got != "authenticode: invalid (digest_mismatch): x" {
		t.Errorf("message %q", got)
	}
}

func TestFuzzSeeds(t *testing.T) {
	for _, name := range []string{"small-rfc3161.cab", "small-legacy-timestamp.cab"} {
		res := VerifyCab(readCab(t, filepath.Join("testdata", name)), DefaultRoots())
		if res.Status != StatusInvalid || res.Reason != ReasonUntrustedChain || res.Timestamp.IsZero() {
			t.Errorf("%s: got %s/%s (%s), want invalid/untrusted_chain with a timestamp", name, res.Status, res.Reason, res.Detail)
		}
	}
}

func TestNotACabinet(t *testing.T) {
	for _, in := range [][]byte{nil, []byte("MSCF"), []byte("PK\x03\x04 definitely not a cabinet, but long enough for a header")} {
		res := VerifyCab(in, DefaultRoots())
		if res.Status != StatusInvalid || res.Reason != ReasonMalformedCabinet {
			t.Errorf("%q: got %s/%s", in, res.Status, res.Reason)
		}
	}
}

// TestHeaderRules covers the header checks on a copy of the real file.
func TestHeaderRules(t *testing.T) {
	orig := readCab(t, testutil.NovCab)
	le := binary.LittleEndian
	for _, c := range []struct {
		name   string
		edit   func(b []byte) []byte
		status Status
		reason Reason
	}{
		{"reserve flag cleared", func(b []byte) []byte { b[30] &^= flagReservePresent; return b }, StatusUnsigned, ReasonNone},
		{"empty signature record", func(b []byte) []byte { clear(b[44:52]); return b }, StatusUnsigned, ReasonNone},
		{"other reserve size", func(b []byte) []byte { le.PutUint16(b[36:], 24); return b }, StatusUnsigned, ReasonNone},
		{"reserved1 set", func(b []byte) []byte { b[4] = 1; return b }, StatusInvalid, ReasonMalformedCabinet},
		{"per-folder reserve", func(b []byte) []byte { b[38] = 4; return b }, StatusInvalid, ReasonUnsupported},
		{"previous cabinet", func(b []byte) []byte { b[30] |= flagPrevCabinet; return b }, StatusInvalid, ReasonUnsupported},
		{"signature length zero", func(b []byte) []byte { clear(b[48:52]); return b }, StatusInvalid, ReasonMalformedSignature},
		{"signature offset in header", func(b []byte) []byte {
			le.PutUint32(b[44:], 10)
			le.PutUint32(b[48:], uint32(len(b)-10))
			return b
		}, StatusInvalid, ReasonMalformedSignature},
		{"coffFiles off by one", func(b []byte) []byte { le.PutUint32(b[16:], le.Uint32(b[16:])+1); return b }, StatusInvalid, ReasonMalformedCabinet},
		{"iCabinet changed (not covered)", func(b []byte) []byte { b[34] ^= 1; return b }, StatusValid, ReasonNone},
		{"cbCabinet changed", func(b []byte) []byte { b[8] ^= 1; return b }, StatusInvalid, ReasonDigestMismatch},
		{"signature padding changed", func(b []byte) []byte { b[len(b)-1] = 0xff; return b }, StatusValid, ReasonNone},
	} {
		res := VerifyCab(c.edit(bytes.Clone(orig)), DefaultRoots())
		if res.Status != c.status || res.Reason != c.reason {
			t.Errorf("%s: got %s/%s (%s), want %s/%s", c.name, res.Status, res.Reason, res.Detail, c.status, c.reason)
		}
	}
}

func TestLoadRoots(t *testing.T) {
	dir := t.TempDir()
	ca1, ca2 := newTestCA(t, "root one"), newTestCA(t, "root two")
	pemFile := filepath.Join(dir, "two.pem")
	writeFile(t, pemFile, append(pemCert(ca1.cert), pemCert(ca2.cert)...))
	derFile := filepath.Join(dir, "one.der")
	writeFile(t, derFile, ca1.cert.Raw)
	garbage := filepath.Join(dir, "garbage.pem")
	writeFile(t, garbage, []byte("-----BEGIN NOTHING-----\n-----END NOTHING-----\n"))

	roots, err := LoadRoots([]string{pemFile}, []string{derFile})
	if err != nil {
		t.Fatal(err)
	}
	trusts := func(pool *x509.CertPool, c *x509.Certificate) bool {
		_, err := c.Verify(x509.VerifyOptions{Roots: pool})
		return err == nil
	}
	if !trusts(roots.CodeSigning, ca1.cert) || !trusts(roots.CodeSigning, ca2.cert) {
		t.Error("code-signing pool lacks a root of the PEM file")
	}
	if !trusts(roots.Timestamp, ca1.cert) || trusts(roots.Timestamp, ca2.cert) {
		t.Error("timestamp pool is not exactly the DER root")
	}
	// An empty list keeps the embedded default.
	roots, err = LoadRoots(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res := VerifyCab(readCab(t, testutil.NovCab), roots); res.Status != StatusValid {
		t.Errorf("defaults from LoadRoots(nil, nil): %s/%s", res.Status, res.Reason)
	}
	for _, bad := range [][]string{{garbage}, {filepath.Join(dir, "missing.pem")}, {filepath.Join(dir, "one.der"), garbage}} {
		if _, err := LoadRoots(bad, nil); err == nil {
			t.Errorf("LoadRoots(%v): no error", bad)
		}
		if _, err := LoadRoots(nil, bad); err == nil {
			t.Errorf("LoadRoots(nil, %v): no error", bad)
		}
	}
}

func FuzzVerifyCab(f *testing.F) {
	for _, c := range realCabs {
		f.Add(readCab(f, c.path))
	}
	for _, name := range []string{"small-rfc3161.cab", "small-legacy-timestamp.cab"} {
		f.Add(readCab(f, filepath.Join("testdata", name)))
	}
	f.Add([]byte("MSCF"))
	roots := DefaultRoots()
	f.Fuzz(func(t *testing.T, data []byte) {
		res := verifyCab(data, roots, time.Now())
		switch res.Status {
		case StatusValid:
			if res.Reason != ReasonNone || res.Err() != nil {
				t.Fatalf("valid with reason %q", res.Reason)
			}
		case StatusUnsigned:
		case StatusInvalid:
			if res.Reason == ReasonNone || res.Detail == "" || res.Err() == nil {
				t.Fatalf("invalid without reason or detail: %+v", res)
			}
		default:
			t.Fatalf("status %q", res.Status)
		}
	})
}

func BenchmarkVerifyNov(b *testing.B) {
	data := readCab(b, testutil.NovCab)
	roots := DefaultRoots()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if res := VerifyCab(data, roots); res.Status != StatusValid {
			b.Fatal(res.Detail)
		}
	}
}
