package authenticode

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// signPKI is the throwaway PKI of the signing tests: a code-signing root with an ECDSA signer
// directly below it and an RSA signer below an intermediate, and a separate timestamping root
// with its authority.
type signPKI struct {
	root, tsaRoot *testCA
	inter         *x509.Certificate // intermediate CA, issued by root
	interKey      crypto.Signer
	rsaLeaf       *x509.Certificate // RSA 2048 code-signing certificate, issued by inter
	rsaKey        *rsa.PrivateKey
	ecLeaf        *testLeaf // ECDSA P-256 code-signing certificate, issued by root
	tsa           *testLeaf // ECDSA timestamp authority (critical EKU timeStamping), issued by tsaRoot
	tsTime        time.Time // the time the local timestamp authority asserts
	rootPEM       string    // file with root
	tsaRootPEM    string    // file with tsaRoot
}

func newSignPKI(t testing.TB, dir string) *signPKI {
	t.Helper()
	now := time.Now()
	p := &signPKI{
		root:    newTestCA(t, "aikwatch simulator root"),
		tsaRoot: newTestCA(t, "aikwatch simulator TSA root"),
		tsTime:  now.Add(-time.Hour).UTC().Truncate(time.Second),
	}
	interKey := newKey(t)
	p.interKey = interKey
	p.inter = createCert(t, &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: "aikwatch simulator code signing CA"},
		NotBefore:             now.Add(-48 * time.Hour),
		NotAfter:              now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, p.root.cert, interKey.Public(), p.root.key)
	var err error
	if p.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	p.rsaLeaf = createCert(t, &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: "aikwatch simulator RSA signer"},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}, p.inter, p.rsaKey.Public(), interKey)
	p.ecLeaf = p.root.issue(t, "aikwatch simulator ECDSA signer", oidKPCodeSigning, now.Add(-24*time.Hour), now.Add(365*24*time.Hour))
	p.tsa = p.tsaRoot.issue(t, "aikwatch simulator TSA", oidKPTimeStamping, now.Add(-30*24*time.Hour), now.Add(365*24*time.Hour))
	p.rootPEM, p.tsaRootPEM = filepath.Join(dir, "root.pem"), filepath.Join(dir, "tsaroot.pem")
	writeFile(t, p.rootPEM, pemCert(p.root.cert))
	writeFile(t, p.tsaRootPEM, pemCert(p.tsaRoot.cert))
	return p
}

func createCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// roots trusts the simulator's roots.
func (p *signPKI) roots() Roots {
	return Roots{CodeSigning: p.root.pool(), Timestamp: p.tsaRoot.pool()}
}

// timestamper is the local timestamp authority, asserting tsTime.
func (p *signPKI) timestamper() func(context.Context, []byte) ([]byte, error) {
	return LocalTimestamper(p.tsa.cert, p.tsa.key, nil, func() time.Time { return p.tsTime })
}

// rsaSigner signs with the RSA certificate, embedding its intermediate.
func (p *signPKI) rsaSigner(h crypto.Hash) Signer {
	return Signer{Certificate: p.rsaLeaf, Key: p.rsaKey, Chain: []*x509.Certificate{p.inter}, Hash: h}
}

// ecSigner signs with the ECDSA certificate issued directly by the root.
func (p *signPKI) ecSigner(h crypto.Hash) Signer {
	return Signer{Certificate: p.ecLeaf.cert, Key: p.ecLeaf.key, Hash: h}
}

// osslVerifySigned runs `osslsigncode verify` with separate code-signing and timestamp roots
// and returns whether it succeeded and its output.
func osslVerifySigned(t testing.TB, file, rootPEM, tsaRootPEM string) (bool, string) {
	t.Helper()
	cmd := exec.Command("osslsigncode", "verify", "-CAfile", rootPEM, "-TSA-CAfile", tsaRootPEM, "-ignore-crl", "-in", file)
	cmd.Env = toolEnv()
	out, err := cmd.CombinedOutput()
	return err == nil, string(out)
}

// extractAll extracts the cabinet file with `cabextract -q -d` and returns its members by path.
func extractAll(t testing.TB, file, dir string) map[string][]byte {
	t.Helper()
	run(t, filepath.Dir(file), "cabextract", "-q", "-d", dir, file)
	members := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		members[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return members
}

// extractStream returns the concatenated members of the cabinet file (`cabextract -p`) and its
// listing (`cabextract -l`) without the line naming the file: for large cabinets, whose
// extraction to disk takes long.
func extractStream(t testing.TB, file string) (data []byte, listing string) {
	t.Helper()
	cmd := exec.Command("cabextract", "-q", "-p", file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	data, err := cmd.Output()
	if err != nil {
		t.Fatalf("cabextract -p %s: %v\n%s", file, err, stderr.Bytes())
	}
	var lines []string
	for l := range strings.SplitSeq(run(t, filepath.Dir(file), "cabextract", "-l", file), "\n") {
		if !strings.Contains(l, file) { // "Viewing cabinet: FILE" and warnings naming it
			lines = append(lines, l)
		}
	}
	return data, strings.Join(lines, "\n")
}

// removeSignature is the inverse of SignCab on an unsigned cabinet, written independently of
// it after osslsigncode remove-signature: it drops the signature, the 24 bytes of
// cbCFHeader/cbCFFolder/cbCFData and reserve, and the reserve flag, and moves the offsets back.
// It expects a well-formed signed cabinet without next-cabinet names.
func removeSignature(t testing.TB, signed []byte) []byte {
	t.Helper()
	le := binary.LittleEndian
	c, cerr := parseCabinet(signed)
	if cerr != nil {
		t.Fatalf("removeSignature: %v", cerr)
	}
	if le.Uint16(signed[30:32])&flagNextCabinet != 0 {
		t.Fatal("removeSignature: next-cabinet names are not supported")
	}
	const shift = 24
	out := append(bytes.Clone(signed[:36]), signed[60:c.sigOffset]...)
	le.PutUint32(out[8:12], uint32(len(out)))
	le.PutUint32(out[16:20], le.Uint32(out[16:20])-shift)
	le.PutUint16(out[30:32], le.Uint16(out[30:32])&^flagReservePresent)
	for i := range int(le.Uint16(out[26:28])) {
		at := 36 + 8*i
		le.PutUint32(out[at:at+4], le.Uint32(out[at:at+4])-shift)
	}
	return out
}
