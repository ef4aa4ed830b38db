package authenticode

import (
	"bytes"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

// asn1Children splits the contents of a constructed DER element into its elements.
func asn1Children(t testing.TB, b []byte) []asn1.RawValue {
	t.Helper()
	var out []asn1.RawValue
	for len(b) > 0 {
		var v asn1.RawValue
		var err error
		if b, err = asn1.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// asn1Rebuild re-encodes the constructed element v with new children.
func asn1Rebuild(t testing.TB, v asn1.RawValue, children []asn1.RawValue) []byte {
	t.Helper()
	var inner []byte
	for _, c := range children {
		inner = append(inner, c.FullBytes...)
	}
	b, err := asn1.Marshal(asn1.RawValue{Class: v.Class, Tag: v.Tag, IsCompound: true, Bytes: inner})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stripUnsignedAttributes removes the unsigned attributes (and so the timestamp) of the first
// SignerInfo of the Authenticode signature sig. The signature stays cryptographically valid:
// unsigned attributes are not signed.
func stripUnsignedAttributes(t testing.TB, sig []byte) []byte {
	t.Helper()
	var ci asn1.RawValue
	if _, err := asn1.Unmarshal(sig, &ci); err != nil {
		t.Fatal(err)
	}
	ciKids := asn1Children(t, ci.Bytes)          // OID, [0]
	sdSeq := asn1Children(t, ciKids[1].Bytes)[0] // SignedData
	sdKids := asn1Children(t, sdSeq.Bytes)       // ..., SignerInfos
	infos := sdKids[len(sdKids)-1]               // SET
	si := asn1Children(t, infos.Bytes)[0]        // SignerInfo
	var kept []asn1.RawValue
	for _, f := range asn1Children(t, si.Bytes) {
		if f.Class == asn1.ClassContextSpecific && f.Tag == 1 {
			continue
		}
		kept = append(kept, f)
	}
	si.FullBytes = asn1Rebuild(t, si, kept)
	infos.FullBytes = asn1Rebuild(t, infos, []asn1.RawValue{si})
	sdKids[len(sdKids)-1] = infos
	sdSeq.FullBytes = asn1Rebuild(t, sdSeq, sdKids)
	ciKids[1].FullBytes = asn1Rebuild(t, ciKids[1], []asn1.RawValue{sdSeq})
	return asn1Rebuild(t, ci, ciKids)
}

// replaceSignature returns a copy of the signed cabinet data with its signature replaced by
// edit(old signature), padded to 8 bytes like osslsigncode does.
func replaceSignature(t testing.TB, data []byte, edit func([]byte) []byte) []byte {
	t.Helper()
	c, cerr := parseCabinet(data)
	if cerr != nil {
		t.Fatal(cerr)
	}
	sig := edit(bytes.Clone(c.signature()))
	sig = append(sig, make([]byte, (8-len(sig)%8)%8)...)
	out := append(bytes.Clone(data[:c.sigOffset]), sig...)
	binary.LittleEndian.PutUint32(out[48:52], uint32(len(sig)))
	return out
}

// toolEnv is the environment of external tools: the test TSA is on loopback, never proxied.
func toolEnv() []string {
	return append(os.Environ(), "no_proxy=127.0.0.1,localhost", "NO_PROXY=127.0.0.1,localhost")
}

func run(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, toolEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// osslVerify reports whether `osslsigncode verify` accepts file with rootsPEM as the trusted
// roots of both chains, and the most telling line of its output.
func osslVerify(t testing.TB, file, rootsPEM string) (bool, string) {
	t.Helper()
	cmd := exec.Command("osslsigncode", "verify", "-CAfile", rootsPEM, "-TSA-CAfile", rootsPEM, "-ignore-crl", "-in", file)
	cmd.Env = toolEnv()
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, key := range []string{"No signature found", "Initialization error", "Error: ", "Timestamp Server Signature verification: failed", "verification: failed"} {
		for _, l := range lines {
			if strings.Contains(l, key) && !strings.Contains(l, ":error:") {
				return err == nil, strings.TrimSpace(l)
			}
		}
	}
	return err == nil, strings.TrimSpace(lines[len(lines)-1])
}

// signer is what osslsigncode signs a test cabinet with.
type signer struct {
	leaf *testLeaf
	hash string // osslsigncode -h value; sha256 when empty
	ts   string // "-ts URL" (RFC 3161) or "-t URL" (legacy), empty for none
}

func sign(t testing.TB, dir, in, out string, s signer) {
	t.Helper()
	cert, key := s.leaf.writeFiles(t, dir, "signer-"+filepath.Base(out))
	h := s.hash
	if h == "" {
		h = "sha256"
	}
	args := []string{"sign", "-certs", cert, "-key", key, "-h", h}
	if s.ts != "" {
		args = append(args, strings.Fields(s.ts)...)
	}
	run(t, dir, "osslsigncode", append(args, "-in", in, "-out", out)...)
}

// badTimestampDeviation: osslsigncode reports "Timestamp Server Signature verification: failed"
// and then verifies the signer at the current time; VerifyCab treats a timestamp that is present
// but does not verify as an invalid signature.
const badTimestampDeviation = "osslsigncode ignores a failed timestamp and verifies at the current time"

// TestVariants verifies real, tampered and re-signed cabinets, and cross-checks every verdict
// with osslsigncode: it must accept a file exactly when VerifyCab says valid.
func TestVariants(t *testing.T) {
	testutil.RequireTool(t, "osslsigncode")
	testutil.RequireTool(t, "gcab")
	dir := t.TempDir()
	if d := os.Getenv("AUTHENTICODE_KEEP_DIR"); d != "" {
		dir = d
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	now := time.Now()

	// Oracle root files.
	msRoots := path("ms-roots.pem")
	def := DefaultRoots()
	var msPEM []byte
	for _, f := range []string{codeSigningRootFile, timestampRootFile} {
		b, err := embeddedRoots.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		certs, err := ParseCertificates(b)
		if err != nil {
			t.Fatal(err)
		}
		msPEM = append(msPEM, pemCert(certs[0])...)
	}
	writeFile(t, msRoots, msPEM)

	ca := newTestCA(t, "aikwatch test root")
	otherCA := newTestCA(t, "aikwatch other root")
	testRootsPEM := path("test-root.pem")
	writeFile(t, testRootsPEM, pemCert(ca.cert))
	testRoots := Roots{CodeSigning: ca.pool(), Timestamp: ca.pool()}

	codeSigner := ca.issue(t, "aikwatch test signer", oidKPCodeSigning, now.Add(-24*time.Hour), now.Add(365*24*time.Hour))
	expiredSigner := ca.issue(t, "aikwatch expired signer", oidKPCodeSigning, now.Add(-10*24*time.Hour), now.Add(-24*time.Hour))
	serverCert := ca.issue(t, "aikwatch server", oidKPServerAuth, now.Add(-24*time.Hour), now.Add(365*24*time.Hour))
	tsa := newTestTSA(t, ca.issue(t, "aikwatch test TSA", oidKPTimeStamping, now.Add(-30*24*time.Hour), now.Add(365*24*time.Hour)))
	backdatedTSA := newTestTSA(t, tsa.leaf)
	backdatedTSA.genTime = now.Add(-5 * 24 * time.Hour)
	lyingTSA := newTestTSA(t, tsa.leaf)
	lyingTSA.wrongImprint = true
	foreignTSA := newTestTSA(t, otherCA.issue(t, "aikwatch foreign TSA", oidKPTimeStamping, now.Add(-24*time.Hour), now.Add(365*24*time.Hour)))

	// An unsigned cabinet built with gcab, and the real one without its signature.
	for i, body := range []string{"first member\n", "second member, a bit longer\n", strings.Repeat("compressible ", 500)} {
		writeFile(t, path(fmt.Sprintf("m%d.txt", i)), []byte(body))
	}
	run(t, dir, "gcab", "-c", "-z", "gcab.cab", "m0.txt", "m1.txt", "m2.txt")
	run(t, dir, "osslsigncode", "remove-signature", "-in", testutil.NovCab, "-out", path("nov-unsigned.cab"))

	nov := readCab(t, testutil.NovCab)
	novCab, cerr := parseCabinet(nov)
	if cerr != nil {
		t.Fatal(cerr)
	}
	edit := func(name string, f func(b []byte) []byte) string {
		writeFile(t, path(name), f(bytes.Clone(nov)))
		return path(name)
	}
	signed := func(name, in string, s signer) string {
		sign(t, dir, in, path(name), s)
		return path(name)
	}

	type variant struct {
		name      string
		file      string
		roots     Roots
		oracle    string // roots PEM for osslsigncode
		status    Status
		reason    Reason
		timestamp bool // a timestamp must be reported
	}
	// deviations explain why osslsigncode accepts a file VerifyCab rejects.
	deviations := map[string]string{
		"gcab signed, timestamp of another message": badTimestampDeviation,
		"gcab signed, TSA under an untrusted root":  badTimestampDeviation,
	}
	// wantDetail holds text the Detail of some variants must contain.
	wantDetail := map[string]string{
		"gcab signed, legacy Authenticode timestamp, test roots": "Authenticode timestamp",
		"gcab signed, RFC 3161, test roots":                      "RFC 3161 timestamp",
		"gcab signed by expired cert, no timestamp":              "no timestamp",
		"Nov: timestamp removed":                                 "no timestamp",
		"gcab signed, TSA under an untrusted root":               "aikwatch foreign TSA",
		"Nov: junk appended":                                     "24 bytes of unsigned data after the signature",
	}
	variants := []variant{
		{"real Jun-2024", testutil.JunCab, def, msRoots, StatusValid, ReasonNone, true},
		{"real Nov-2024", testutil.NovCab, def, msRoots, StatusValid, ReasonNone, true},
		{"Nov: data byte flipped", edit("flip.cab", func(b []byte) []byte {
			b[novCab.sigOffset-1000] ^= 0x01
			return b
		}), def, msRoots, StatusInvalid, ReasonDigestMismatch, false},
		{"Nov: member renamed", edit("rename.cab", func(b []byte) []byte {
			b[novCab.coffFiles+16] ^= 0x20 // first letter of the first CFFILE name, case flipped
			return b
		}), def, msRoots, StatusInvalid, ReasonDigestMismatch, false},
		{"Nov: truncated in signature", edit("trunc-sig.cab", func(b []byte) []byte { return b[:len(b)-100] }),
			def, msRoots, StatusInvalid, ReasonTruncated, false},
		{"Nov: truncated to half", edit("trunc-half.cab", func(b []byte) []byte { return b[:len(b)/2] }),
			def, msRoots, StatusInvalid, ReasonTruncated, false},
		{"Nov: truncated to 50 bytes", edit("trunc-50.cab", func(b []byte) []byte { return b[:50] }),
			def, msRoots, StatusInvalid, ReasonTruncated, false},
		{"Nov: junk appended", edit("junk.cab", func(b []byte) []byte { return append(b, "junk after the signature"...) }),
			def, msRoots, StatusInvalid, ReasonMalformedCabinet, false},
		{"Nov: timestamp removed", edit("nots.cab", func(b []byte) []byte {
			return replaceSignature(t, b, func(sig []byte) []byte { return stripUnsignedAttributes(t, sig) })
		}), def, msRoots, StatusInvalid, ReasonExpired, false},
		{"Nov: timestamp genTime altered", edit("tsdate.cab", func(b []byte) []byte {
			i := bytes.Index(b[novCab.sigOffset:], []byte("20241122000332"))
			if i < 0 {
				t.Fatal("genTime not found")
			}
			b[int(novCab.sigOffset)+i+13] = '3' // 00:03:32 -> 00:03:33
			return b
		}), def, msRoots, StatusInvalid, ReasonBadTimestamp, false},
		{"Nov: signature removed (osslsigncode)", path("nov-unsigned.cab"), def, msRoots, StatusUnsigned, ReasonNone, false},
		{"gcab -c -z, unsigned", path("gcab.cab"), def, msRoots, StatusUnsigned, ReasonNone, false},
	}
	novTest := signed("nov-test-rfc3161.cab", path("nov-unsigned.cab"), signer{leaf: codeSigner, ts: "-ts " + tsa.url})
	gcabNoTS := signed("gcab-nots.cab", path("gcab.cab"), signer{leaf: codeSigner})
	gcabRFC := signed("gcab-rfc3161.cab", path("gcab.cab"), signer{leaf: codeSigner, ts: "-ts " + tsa.url})
	variants = append(variants,
		variant{"Nov re-signed, test key + RFC 3161, default roots", novTest, def, msRoots, StatusInvalid, ReasonUntrustedChain, true},
		variant{"Nov re-signed, test key + RFC 3161, test roots", novTest, testRoots, testRootsPEM, StatusValid, ReasonNone, true},
		variant{"gcab signed, no timestamp, default roots", gcabNoTS, def, msRoots, StatusInvalid, ReasonUntrustedChain, false},
		variant{"gcab signed, no timestamp, test roots", gcabNoTS, testRoots, testRootsPEM, StatusValid, ReasonNone, false},
		variant{"gcab signed, RFC 3161, test roots", gcabRFC, testRoots, testRootsPEM, StatusValid, ReasonNone, true},
		variant{"gcab signed, legacy Authenticode timestamp, test roots",
			signed("gcab-legacy.cab", path("gcab.cab"), signer{leaf: codeSigner, ts: "-t " + tsa.url}),
			testRoots, testRootsPEM, StatusValid, ReasonNone, true},
		variant{"gcab signed, SHA-1", signed("gcab-sha1.cab", path("gcab.cab"), signer{leaf: codeSigner, hash: "sha1"}),
			testRoots, testRootsPEM, StatusValid, ReasonNone, false},
		variant{"gcab signed, SHA-384", signed("gcab-sha384.cab", path("gcab.cab"), signer{leaf: codeSigner, hash: "sha384"}),
			testRoots, testRootsPEM, StatusValid, ReasonNone, false},
		variant{"gcab signed, SHA-512", signed("gcab-sha512.cab", path("gcab.cab"), signer{leaf: codeSigner, hash: "sha512"}),
			testRoots, testRootsPEM, StatusValid, ReasonNone, false},
		variant{"gcab signed by expired cert, timestamp inside its validity",
			signed("gcab-expired-ts.cab", path("gcab.cab"), signer{leaf: expiredSigner, ts: "-ts " + backdatedTSA.url}),
			testRoots, testRootsPEM, StatusValid, ReasonNone, true},
		variant{"gcab signed by expired cert, timestamp after its expiry",
			signed("gcab-expired-latets.cab", path("gcab.cab"), signer{leaf: expiredSigner, ts: "-ts " + tsa.url}),
			testRoots, testRootsPEM, StatusInvalid, ReasonExpired, false},
		variant{"gcab signed by expired cert, no timestamp",
			signed("gcab-expired-nots.cab", path("gcab.cab"), signer{leaf: expiredSigner}),
			testRoots, testRootsPEM, StatusInvalid, ReasonExpired, false},
		variant{"gcab signed, timestamp of another message",
			signed("gcab-wrongimprint.cab", path("gcab.cab"), signer{leaf: codeSigner, ts: "-ts " + lyingTSA.url}),
			testRoots, testRootsPEM, StatusInvalid, ReasonBadTimestamp, false},
		variant{"gcab signed, TSA under an untrusted root",
			signed("gcab-foreigntsa.cab", path("gcab.cab"), signer{leaf: codeSigner, ts: "-ts " + foreignTSA.url}),
			testRoots, testRootsPEM, StatusInvalid, ReasonBadTimestamp, true},
		variant{"gcab signed by a serverAuth-only cert",
			signed("gcab-servercert.cab", path("gcab.cab"), signer{leaf: serverCert}),
			testRoots, testRootsPEM, StatusInvalid, ReasonUntrustedChain, false},
		variant{"gcab signed, data byte flipped", func() string {
			b := readCab(t, gcabRFC)
			c, _ := parseCabinet(b)
			b[c.sigOffset-10] ^= 0x80
			writeFile(t, path("gcab-flip.cab"), b)
			return path("gcab-flip.cab")
		}(), testRoots, testRootsPEM, StatusInvalid, ReasonDigestMismatch, false},
	)

	t.Logf("| variant | VerifyCab | osslsigncode verify |")
	t.Logf("|---|---|---|")
	for _, v := range variants {
		res := VerifyCab(readCab(t, v.file), v.roots)
		ok, last := osslVerify(t, v.file, v.oracle)
		ours := string(res.Status)
		if res.Reason != ReasonNone {
			ours += " / " + string(res.Reason)
		}
		oracle := "fails: " + last
		if ok {
			oracle = "succeeds"
		}
		t.Logf("| %s | %s | %s |", v.name, ours, oracle)
		if res.Status != v.status || res.Reason != v.reason {
			t.Errorf("%s: got %s/%s (%s), want %s/%s", v.name, res.Status, res.Reason, res.Detail, v.status, v.reason)
		}
		if want := wantDetail[v.name]; !strings.Contains(res.Detail, want) {
			t.Errorf("%s: detail %q does not contain %q", v.name, res.Detail, want)
		}
		if v.timestamp && res.Timestamp.IsZero() {
			t.Errorf("%s: no timestamp reported (%s)", v.name, res.Detail)
		}
		if dev := deviations[v.name]; dev != "" {
			t.Logf("|   | (deviation: %s) | |", dev)
			if !ok || res.Status == StatusValid {
				t.Errorf("%s: the known deviation is gone: osslsigncode ok=%v (%s), VerifyCab %s/%s",
					v.name, ok, last, res.Status, res.Reason)
			}
		} else if ok != (res.Status == StatusValid) {
			t.Errorf("%s: osslsigncode verify ok=%v (%s) but VerifyCab says %s/%s: %s",
				v.name, ok, last, res.Status, res.Reason, res.Detail)
		}
	}
}
