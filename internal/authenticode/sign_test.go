package authenticode

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

// unsignedInput is an unsigned cabinet the signing tests start from, with what cabextract
// extracts from it.
type unsignedInput struct {
	name    string
	file    string
	data    []byte
	members map[string][]byte // small cabinets: extracted with cabextract -q -d
	stream  []byte            // large cabinets: cabextract -p
	listing string            // large cabinets: cabextract -l
}

// TestSignCab signs an unsigned gcab cabinet and the real Nov-2024 cabinet (its signature
// removed by osslsigncode) with RSA and ECDSA keys, SHA-256 and SHA-384, with and without a
// timestamp, and checks every result with VerifyCab, osslsigncode and cabextract. It also
// checks the header SignCab writes, that it lays out a cabinet as Microsoft and osslsigncode
// do, and that it replaces the signature of signed cabinets.
func TestSignCab(t *testing.T) {
	testutil.RequireTool(t, "gcab")
	testutil.RequireTool(t, "osslsigncode")
	testutil.RequireTool(t, "cabextract")
	dir := t.TempDir()
	pki := newSignPKI(t, dir)
	ctx := t.Context()

	for i, body := range []string{"first member\n", "second member, a bit longer\n", strings.Repeat("compressible ", 500)} {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("m%d.txt", i)), []byte(body))
	}
	run(t, dir, "gcab", "-c", "-z", "gcab.cab", "m0.txt", "m1.txt", "m2.txt")
	run(t, dir, "osslsigncode", "remove-signature", "-in", testutil.NovCab, "-out", filepath.Join(dir, "nov-unsigned.cab"))
	gcab := &unsignedInput{name: "gcab", file: filepath.Join(dir, "gcab.cab")}
	gcab.data = readCab(t, gcab.file)
	gcab.members = extractAll(t, gcab.file, filepath.Join(dir, "gcab-unsigned.d"))
	if len(gcab.members) != 3 {
		t.Fatalf("gcab cabinet has members %v", slices.Collect(maps.Keys(gcab.members)))
	}
	nov := &unsignedInput{name: "nov", file: filepath.Join(dir, "nov-unsigned.cab")}
	nov.data = readCab(t, nov.file)
	nov.stream, nov.listing = extractStream(t, nov.file)
	if !bytes.Equal(removeSignature(t, readCab(t, testutil.NovCab)), nov.data) {
		t.Fatal("the test helper removeSignature differs from osslsigncode remove-signature")
	}

	type config struct {
		key    string // "RSA" or "ECDSA"
		hash   crypto.Hash
		ts     bool
		signer Signer
	}
	var configs []config
	for _, key := range []string{"RSA", "ECDSA"} {
		for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384} {
			for _, ts := range []bool{false, true} {
				s := pki.ecSigner(h)
				if key == "RSA" {
					s = pki.rsaSigner(h)
				}
				if ts {
					s.Timestamper = pki.timestamper()
				}
				configs = append(configs, config{key, h, ts, s})
			}
		}
	}

	t.Run("matrix", func(t *testing.T) {
		for _, in := range []*unsignedInput{gcab, nov} {
			for _, c := range configs {
				// The 2.5 MB cabinet takes long to check: it gets a half fraction of the
				// matrix in which every pair of key, hash and timestamp still occurs.
				if in == nov && c.ts != ((c.key == "RSA") != (c.hash == crypto.SHA384)) {
					continue
				}
				name := fmt.Sprintf("%s/%s/%v/timestamp=%v", in.name, c.key, c.hash, c.ts)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					out, err := SignCab(ctx, in.data, c.signer)
					if err != nil {
						t.Fatal(err)
					}
					file := filepath.Join(dir, strings.NewReplacer("/", "-", "=", "-").Replace(name)+".cab")
					writeFile(t, file, out)

					res := VerifyCab(out, pki.roots())
					if res.Status != StatusValid {
						t.Fatalf("VerifyCab with the simulator's roots: %s/%s: %s", res.Status, res.Reason, res.Detail)
					}
					wantSigner, wantIssuer := c.signer.Certificate.Subject.CommonName, pki.root.cert.Subject.CommonName
					if c.key == "RSA" {
						wantIssuer = pki.inter.Subject.CommonName
					}
					if res.Signer != wantSigner || res.SignerIssuer != wantIssuer {
						t.Errorf("signer %q issued by %q, want %q issued by %q", res.Signer, res.SignerIssuer, wantSigner, wantIssuer)
					}
					if want := c.hash.String(); res.DigestAlgorithm != want {
						t.Errorf("digest algorithm %s, want %s", res.DigestAlgorithm, want)
					}
					if c.ts {
						if !res.Timestamp.Equal(pki.tsTime) || res.TimestampSigner != pki.tsa.cert.Subject.CommonName ||
							!res.VerifiedAt.Equal(pki.tsTime) || !strings.Contains(res.Detail, "RFC 3161 timestamp") {
							t.Errorf("timestamp %s by %q (verified at %s, %s), want %s by %q", res.Timestamp, res.TimestampSigner,
								res.VerifiedAt, res.Detail, pki.tsTime, pki.tsa.cert.Subject.CommonName)
						}
					} else if !res.Timestamp.IsZero() || res.TimestampSigner != "" {
						t.Errorf("unexpected timestamp %s by %q", res.Timestamp, res.TimestampSigner)
					}
					if res := VerifyCab(out, DefaultRoots()); res.Status != StatusInvalid || res.Reason != ReasonUntrustedChain {
						t.Errorf("VerifyCab with the default roots: %s/%s, want invalid/untrusted_chain: %s", res.Status, res.Reason, res.Detail)
					}
					if ok, msg := osslVerifySigned(t, file, pki.rootPEM, pki.tsaRootPEM); !ok {
						t.Errorf("osslsigncode verify failed:\n%s", msg)
					} else if c.ts && !strings.Contains(msg, "Timestamp Server Signature verification: ok") {
						t.Errorf("osslsigncode verify did not check the timestamp:\n%s", msg)
					}
					if msg := run(t, dir, "cabextract", "-t", file); !strings.Contains(msg, "All done, no errors") {
						t.Errorf("cabextract -t:\n%s", msg)
					}
					if in.members != nil {
						got := extractAll(t, file, filepath.Join(t.TempDir(), "x"))
						if !maps.EqualFunc(got, in.members, bytes.Equal) {
							t.Errorf("cabextract extracts %v from the signed cabinet, other than from the unsigned one", slices.Collect(maps.Keys(got)))
						}
					} else {
						stream, listing := extractStream(t, file)
						if !bytes.Equal(stream, in.stream) || listing != in.listing {
							t.Errorf("cabextract extracts other members from the signed cabinet:\n%s\nwant\n%s", listing, in.listing)
						}
					}
					if got := removeSignature(t, out); !bytes.Equal(got, in.data) {
						t.Error("removing the signature again does not give the unsigned cabinet back")
					}

					tampered := bytes.Clone(out)
					pc, cerr := parseCabinet(tampered)
					if cerr != nil {
						t.Fatal(cerr)
					}
					tampered[pc.sigOffset-1] ^= 0x01 // last byte of the last CFDATA block
					if res := VerifyCab(tampered, pki.roots()); res.Status != StatusInvalid || res.Reason != ReasonDigestMismatch {
						t.Errorf("tampered: %s/%s, want invalid/digest_mismatch: %s", res.Status, res.Reason, res.Detail)
					}
				})
			}
		}
	})

	// The header SignCab writes, field by field; the gcab cabinet has one CFFOLDER.
	t.Run("header", func(t *testing.T) {
		out, err := SignCab(ctx, gcab.data, pki.ecSigner(0))
		if err != nil {
			t.Fatal(err)
		}
		le, in := binary.LittleEndian, gcab.data
		if n := le.Uint16(in[26:]); n != 1 {
			t.Fatalf("gcab made %d folders, want 1", n)
		}
		c, cerr := parseCabinet(out)
		if cerr != nil {
			t.Fatal(cerr)
		}
		for _, f := range []struct {
			name      string
			got, want uint32
		}{
			{"cbCabinet", le.Uint32(out[8:]), uint32(len(in) + 24)},
			{"coffFiles", le.Uint32(out[16:]), le.Uint32(in[16:]) + 24},
			{"flags", uint32(le.Uint16(out[30:])), uint32(le.Uint16(in[30:]) | 0x0004)},
			{"cbCFHeader", uint32(le.Uint16(out[36:])), 20},
			{"cbCFFolder, cbCFData", uint32(le.Uint16(out[38:])), 0},
			{"reserve magic", le.Uint32(out[40:]), 0x00100000},
			{"signature offset", le.Uint32(out[44:]), uint32(len(in) + 24)},
			{"signature length", le.Uint32(out[48:]), uint32(len(out) - len(in) - 24)},
			{"coffCabStart", le.Uint32(out[60:]), le.Uint32(in[36:]) + 24},
		} {
			if f.got != f.want {
				t.Errorf("%s = %d, want %d", f.name, f.got, f.want)
			}
		}
		if c.sigLen%8 != 0 || !bytes.Equal(out[52:60], make([]byte, 8)) || !bytes.Equal(out[68:c.sigOffset], in[44:]) {
			t.Errorf("signature length %d, reserve tail % x, or the moved bytes differ", c.sigLen, out[52:60])
		}
		if !bytes.Equal(gcab.data, readCab(t, gcab.file)) {
			t.Error("SignCab modified its input")
		}
	})

	// SignCab lays out a cabinet exactly as Microsoft's signing tool and osslsigncode do: the
	// unsigned Nov-2024 cabinet, signed again, has Microsoft's bytes and Authenticode digest.
	t.Run("same layout as Microsoft and osslsigncode", func(t *testing.T) {
		ms := readCab(t, testutil.NovCab)
		msCab, _ := parseCabinet(ms)
		out, err := SignCab(ctx, nov.data, pki.rsaSigner(crypto.SHA256))
		if err != nil {
			t.Fatal(err)
		}
		if !equalExceptSigLen(out[:len(nov.data)+24], ms[:msCab.sigOffset]) {
			t.Error("the re-signed Nov-2024 cabinet's bytes before the signature differ from Microsoft's")
		}
		res := VerifyCab(out, pki.roots())
		if want := mustHex(t, realCabs[1].digest); res.Status != StatusValid || !bytes.Equal(res.Digest, want) {
			t.Errorf("%s/%s: digest %X, want Microsoft's %X", res.Status, res.Reason, res.Digest, want)
		}

		osslSigned := filepath.Join(dir, "gcab-osslsigncode.cab")
		sign(t, dir, gcab.file, osslSigned, signer{leaf: pki.ecLeaf})
		ossl := readCab(t, osslSigned)
		osslCab, cerr := parseCabinet(ossl)
		if cerr != nil {
			t.Fatal(cerr)
		}
		out, err = SignCab(ctx, gcab.data, pki.ecSigner(crypto.SHA256))
		if err != nil {
			t.Fatal(err)
		}
		if !equalExceptSigLen(out[:len(gcab.data)+24], ossl[:osslCab.sigOffset]) {
			t.Errorf("SignCab's cabinet before the signature differs from osslsigncode's:\n% x\n% x", out[:64], ossl[:64])
		}
		if a, b := VerifyCab(out, pki.roots()), VerifyCab(ossl, pki.roots()); !a.Valid() || !b.Valid() || !bytes.Equal(a.Digest, b.Digest) {
			t.Errorf("SignCab %s/%s digest %X, osslsigncode %s/%s digest %X", a.Status, a.Reason, a.Digest, b.Status, b.Reason, b.Digest)
		}
		// The signed content, SpcIndirectDataContent, is byte for byte osslsigncode's; the
		// signed attributes are those Microsoft uses.
		ourCab, _ := parseCabinet(out)
		ours, err := parsePKCS7(ourCab.signature())
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := parsePKCS7(osslCab.signature())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours.Content, theirs.Content) {
			t.Errorf("SpcIndirectDataContent\n% x\nosslsigncode's\n% x", ours.Content, theirs.Content)
		}
		var attrs []string
		for _, a := range ours.Signers[0].AuthenticatedAttributes {
			attrs = append(attrs, a.Type.String())
			if a.Type.Equal(oidSpcSpOpusInfo) && !bytes.Equal(a.Value.Bytes, []byte{0x30, 0}) {
				t.Errorf("SpcSpOpusInfo % x, want an empty SEQUENCE", a.Value.Bytes)
			}
		}
		slices.Sort(attrs)
		if want := []string{"1.2.840.113549.1.9.3", "1.2.840.113549.1.9.4", "1.2.840.113549.1.9.5",
			"1.3.6.1.4.1.311.2.1.11", "1.3.6.1.4.1.311.2.1.12"}; !slices.Equal(attrs, want) {
			t.Errorf("signed attributes %v, want %v (contentType, messageDigest, signingTime, SpcStatementType, SpcSpOpusInfo)", attrs, want)
		}
		out, err = SignCab(ctx, gcab.data, pki.rsaSigner(crypto.SHA256))
		if err != nil {
			t.Fatal(err)
		}
		rsaCab, _ := parseCabinet(out)
		p7, err := parsePKCS7(rsaCab.signature())
		if err != nil {
			t.Fatal(err)
		}
		if alg := p7.Signers[0].DigestEncryptionAlgorithm; !alg.Algorithm.Equal(oidRSAEncryption) || !bytes.Equal(alg.Parameters.FullBytes, []byte{5, 0}) {
			t.Errorf("RSA signature algorithm %v % x, want rsaEncryption with NULL parameters as Microsoft's", alg.Algorithm, alg.Parameters.FullBytes)
		}
		if len(p7.Certificates) != 2 || !p7.Certificates[1].Equal(pki.inter) {
			t.Errorf("the signature embeds %d certificates, want the signer's and its intermediate", len(p7.Certificates))
		}
	})

	// Signed cabinets get their signature replaced: Microsoft's, osslsigncode's and SignCab's.
	t.Run("re-sign", func(t *testing.T) {
		osslSigned := filepath.Join(dir, "gcab-osslsigncode-ts.cab")
		sign(t, dir, gcab.file, osslSigned, signer{leaf: pki.ecLeaf, hash: "sha384"})
		ours, err := SignCab(ctx, gcab.data, pki.rsaSigner(crypto.SHA384))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			data []byte
			body []byte // the unsigned cabinet it holds
		}{
			{"Microsoft's Nov-2024", readCab(t, testutil.NovCab), nov.data},
			{"osslsigncode's", readCab(t, osslSigned), gcab.data},
			{"SignCab's", ours, gcab.data},
		} {
			old, _ := parseCabinet(c.data)
			for _, s := range []Signer{pki.ecSigner(crypto.SHA256), withTimestamper(pki.rsaSigner(crypto.SHA512), pki.timestamper())} {
				out, err := SignCab(ctx, c.data, s)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				res := VerifyCab(out, pki.roots())
				if !res.Valid() || res.Signer != s.Certificate.Subject.CommonName {
					t.Errorf("%s re-signed by %q: %s/%s (%s)", c.name, s.Certificate.Subject.CommonName, res.Status, res.Reason, res.Detail)
				}
				cab, _ := parseCabinet(out)
				if cab.sigOffset != old.sigOffset || !equalExceptSigLen(out[:cab.sigOffset], c.data[:old.sigOffset]) {
					t.Errorf("%s: the cabinet before the signature changed", c.name)
				}
				if !bytes.Equal(removeSignature(t, out), c.body) {
					t.Errorf("%s: removing the new signature does not give the unsigned cabinet", c.name)
				}
				file := filepath.Join(t.TempDir(), "resigned.cab")
				writeFile(t, file, out)
				if ok, msg := osslVerifySigned(t, file, pki.rootPEM, pki.tsaRootPEM); !ok {
					t.Errorf("%s: osslsigncode verify failed:\n%s", c.name, msg)
				}
			}
		}
	})
}

func withTimestamper(s Signer, ts func(context.Context, []byte) ([]byte, error)) Signer {
	s.Timestamper = ts
	return s
}

// equalExceptSigLen compares the signed cabinets' bytes before their signatures except the
// recorded signature length.
func equalExceptSigLen(a, b []byte) bool {
	return len(a) == len(b) && len(a) >= 52 && bytes.Equal(a[:48], b[:48]) && bytes.Equal(a[52:], b[52:])
}

// smallUnsigned is the unsigned 3-member cabinet inside the signed fuzz seed: tests that need
// an unsigned cabinet but no external tool start from it.
func smallUnsigned(t testing.TB) []byte {
	t.Helper()
	return removeSignature(t, readCab(t, filepath.Join("testdata", "small-rfc3161.cab")))
}

// TestSignCabRejects feeds SignCab malformed cabinets and signers: each is an error naming the
// problem, never a panic, and the input is left alone.
func TestSignCabRejects(t *testing.T) {
	ctx := t.Context()
	pki := newSignPKI(t, t.TempDir())
	good := pki.ecSigner(crypto.SHA256)
	unsigned := smallUnsigned(t)
	signed, err := SignCab(ctx, unsigned, good)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	edit := func(b []byte, f func(b []byte)) []byte { b = bytes.Clone(b); f(b); return b }

	type badCab struct {
		name string
		data []byte
		want string
	}
	cabs := []badCab{
		{"nil", nil, "not a Microsoft Cabinet"},
		{"MSCF", []byte("MSCF"), "not a Microsoft Cabinet"},
		{"zip", append([]byte("PK\x03\x04"), make([]byte, 100)...), "not a Microsoft Cabinet"},
		{"reserved1", edit(unsigned, func(b []byte) { b[4] = 1 }), "reserved1"},
		{"cbCabinet too large", edit(unsigned, func(b []byte) { le.PutUint32(b[8:], 1<<31) }), "cbCabinet"},
		{"junk appended", append(bytes.Clone(unsigned), "junk"...), "cbCabinet"},
		{"previous cabinet", edit(unsigned, func(b []byte) { b[30] |= flagPrevCabinet }), "multi-volume"},
		{"next cabinet, no names", edit(unsigned, func(b []byte) {
			b[30] |= flagNextCabinet
			for i := 36; i < len(b); i++ {
				if b[i] == 0 {
					b[i] = 'x'
				}
			}
		}), "unterminated"},
		{"coffFiles", edit(unsigned, func(b []byte) { le.PutUint32(b[16:], le.Uint32(b[16:])+1) }), "coffFiles"},
		{"cFolders", edit(unsigned, func(b []byte) { le.PutUint16(b[26:], 0xffff) }), "CFFOLDER entries"},
		{"coffCabStart", edit(unsigned, func(b []byte) { le.PutUint32(b[36:], 1<<30) }), "coffCabStart"},
		{"other header reserve", edit(unsigned, func(b []byte) { b[30] |= flagReservePresent }), "not a signed cabinet"},
		{"signed, junk appended", append(bytes.Clone(signed), 0), "not a signed cabinet"},
		{"signed, truncated", signed[:len(signed)-1], "not a signed cabinet"},
		{"signed, empty signature record", edit(signed, func(b []byte) { clear(b[44:52]) }), "not a signed cabinet"},
		{"signed, cbCabinet", edit(signed, func(b []byte) { le.PutUint32(b[8:], 1) }), "cbCabinet"},
	}
	for n := range len(unsigned) {
		cabs = append(cabs, badCab{fmt.Sprintf("unsigned cut to %d bytes", n), unsigned[:n], ""})
	}
	for n := 0; n < len(signed); n += 7 {
		cabs = append(cabs, badCab{fmt.Sprintf("signed cut to %d bytes", n), signed[:n], ""})
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := range 200 {
		b := bytes.Clone(unsigned)
		if i%2 == 1 {
			b = bytes.Clone(signed)
		}
		for range 1 + rng.IntN(4) {
			b[rng.IntN(60)] = byte(rng.Uint32())
		}
		cabs = append(cabs, badCab{fmt.Sprintf("random header edit %d", i), b, "?"})
	}
	for _, c := range cabs {
		orig := bytes.Clone(c.data)
		out, err := SignCab(ctx, c.data, good)
		if !bytes.Equal(orig, c.data) {
			t.Errorf("%s: SignCab modified its input", c.name)
		}
		if c.want == "?" { // random edits may leave a signable cabinet: then it must verify
			if err == nil {
				if res := VerifyCab(out, pki.roots()); !res.Valid() {
					t.Errorf("%s: signed without error, but %s/%s: %s", c.name, res.Status, res.Reason, res.Detail)
				}
			} else if !strings.HasPrefix(err.Error(), "signing cabinet: ") {
				t.Errorf("%s: error %q", c.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}

	edKeyPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edCert := createCert(t, &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: "ed25519 signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}, pki.root.cert, edKeyPub, pki.root.key)
	errTSA := errors.New("TSA unreachable")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		s    Signer
		want string
	}{
		{"no certificate", ctx, Signer{Key: good.Key}, "no signing certificate"},
		{"no key", ctx, Signer{Certificate: good.Certificate}, "no private key"},
		{"key of another certificate", ctx, Signer{Certificate: good.Certificate, Key: pki.rsaKey}, "does not belong"},
		{"TSA certificate", ctx, Signer{Certificate: pki.tsa.cert, Key: pki.tsa.key}, "does not allow code signing"},
		{"SHA-1", ctx, pki.ecSigner(crypto.SHA1), "unsupported hash"},
		{"MD5", ctx, pki.ecSigner(crypto.MD5), "unsupported hash"},
		{"Ed25519", ctx, Signer{Certificate: edCert, Key: edKey}, "unsupported ed25519.PublicKey key"},
		{"wrong chain", ctx, Signer{Certificate: pki.rsaLeaf, Key: pki.rsaKey, Chain: []*x509.Certificate{pki.tsaRoot.cert}}, "signing with"},
		{"nil chain entry", ctx, Signer{Certificate: pki.rsaLeaf, Key: pki.rsaKey, Chain: []*x509.Certificate{nil}}, "chain certificate 0 is nil"},
		{"canceled", canceled, good, "context canceled"},
		{"timestamper fails", ctx, withTimestamper(good, func(context.Context, []byte) ([]byte, error) { return nil, errTSA }), "TSA unreachable"},
		{"timestamper returns garbage", ctx, withTimestamper(good, func(context.Context, []byte) ([]byte, error) { return []byte("garbage"), nil }), "not one DER ContentInfo"},
		{"timestamper returns trailing data", ctx, withTimestamper(good, func(context.Context, []byte) ([]byte, error) { return []byte{0x30, 0, 0}, nil }), "1 trailing bytes"},
		{"timestamper canceled", canceled, withTimestamper(good, pki.timestamper()), "context canceled"},
	} {
		_, err := SignCab(c.ctx, unsigned, c.s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
		if c.name == "timestamper fails" && !errors.Is(err, errTSA) {
			t.Errorf("%s: %v does not wrap the timestamper's error", c.name, err)
		}
	}
}

// TestLocalTimestamper checks the token itself and the certificates it refuses.
func TestLocalTimestamper(t *testing.T) {
	ctx := t.Context()
	pki := newSignPKI(t, t.TempDir())
	sig := []byte("the encrypted digest of some signature")
	token, err := pki.timestamper()(ctx, sig)
	if err != nil {
		t.Fatal(err)
	}
	ts, terr := verifyRFC3161(token, sig, nil)
	if terr != nil {
		t.Fatalf("the verifier rejects the token: %s", terr.detail)
	}
	if !ts.time.Equal(pki.tsTime) || !ts.cert.Equal(pki.tsa.cert) || ts.kind != "RFC 3161" {
		t.Errorf("token: %s by %q (%s)", ts.time, ts.cert.Subject.CommonName, ts.kind)
	}
	if _, terr := verifyRFC3161(token, []byte("another signature"), nil); terr == nil {
		t.Error("the token also covers another signature")
	}
	tok, err := parsePKCS7(token)
	if err != nil {
		t.Fatal(err)
	}
	var info tstInfo
	if _, err := asn1.Unmarshal(tok.Content, &info); err != nil {
		t.Fatal(err)
	}
	if !info.Policy.Equal(oidLocalTSAPolicy) {
		t.Errorf("policy %s, want %s", info.Policy, oidLocalTSAPolicy)
	}
	if info.SerialNumber.Sign() <= 0 {
		t.Errorf("serial number %v", info.SerialNumber)
	}
	// The default clock is the current time.
	before := time.Now().Truncate(time.Second)
	token, err = LocalTimestamper(pki.tsa.cert, pki.tsa.key, nil, nil)(ctx, sig)
	if err != nil {
		t.Fatal(err)
	}
	if ts, terr := verifyRFC3161(token, sig, nil); terr != nil || ts.time.Before(before) || ts.time.After(time.Now()) {
		t.Errorf("default clock: %v %v", ts, terr)
	}

	// An RSA authority below an intermediate, which the token embeds.
	rsaTSA := createCert(t, &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: "RSA TSA"},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: mustMarshal(t, []asn1.ObjectIdentifier{oidKPTimeStamping})}},
	}, pki.inter, pki.rsaKey.Public(), pki.interKey)
	out, err := SignCab(ctx, smallUnsigned(t), withTimestamper(pki.ecSigner(crypto.SHA512),
		LocalTimestamper(rsaTSA, pki.rsaKey, []*x509.Certificate{pki.inter}, func() time.Time { return pki.tsTime })))
	if err != nil {
		t.Fatal(err)
	}
	if res := VerifyCab(out, Roots{CodeSigning: pki.root.pool(), Timestamp: pki.root.pool()}); !res.Valid() ||
		res.TimestampSigner != "RSA TSA" || !res.Timestamp.Equal(pki.tsTime) {
		t.Errorf("RSA authority: %s/%s: %s", res.Status, res.Reason, res.Detail)
	}
	if res := VerifyCab(out, pki.roots()); res.Reason != ReasonBadTimestamp {
		t.Errorf("RSA authority under the code-signing root, verified with the TSA root: %s/%s: %s", res.Status, res.Reason, res.Detail)
	}
	noncritical := createCert(t, &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: "non-critical TSA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	}, pki.tsaRoot.cert, pki.tsa.key.Public(), pki.tsaRoot.key)
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		cert *x509.Certificate
		key  crypto.Signer
		want string
	}{
		{"no certificate", ctx, nil, pki.tsa.key, "no certificate"},
		{"code-signing certificate", ctx, pki.ecLeaf.cert, pki.ecLeaf.key, "not a timestamping certificate"},
		{"non-critical EKU", ctx, noncritical, pki.tsa.key, "not a timestamping certificate"},
		{"wrong key", ctx, pki.tsa.cert, otherKey, "does not belong"},
		{"no key", ctx, pki.tsa.cert, nil, "no private key"},
		{"canceled", canceled, pki.tsa.cert, pki.tsa.key, "context canceled"},
	} {
		_, err := LocalTimestamper(c.cert, c.key, nil, nil)(c.ctx, sig)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzSignCab: SignCab never panics; what it signs verifies, and an unsigned input comes back
// when the signature is removed again.
func FuzzSignCab(f *testing.F) {
	unsigned := smallUnsigned(f)
	f.Add(unsigned)
	f.Add(readCab(f, filepath.Join("testdata", "small-rfc3161.cab")))
	f.Add(readCab(f, filepath.Join("testdata", "small-legacy-timestamp.cab")))
	f.Add([]byte("MSCF"))
	f.Add(unsigned[:40])
	pki := newSignPKI(f, f.TempDir())
	s := withTimestamper(pki.ecSigner(crypto.SHA256), pki.timestamper())
	roots := pki.roots()
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := SignCab(context.Background(), data, s)
		if err != nil {
			return
		}
		if res := VerifyCab(out, roots); !res.Valid() {
			t.Fatalf("signed without error, but %s/%s: %s", res.Status, res.Reason, res.Detail)
		}
		if binary.LittleEndian.Uint16(data[30:32])&(flagReservePresent|flagNextCabinet) == 0 {
			if back := removeSignature(t, out); !bytes.Equal(back, data) {
				t.Fatalf("removing the signature gives\n% x\nnot the input\n% x", back, data)
			}
		}
	})
}
