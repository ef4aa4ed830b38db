package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aikwatch/aikwatch/internal/sim"
	"github.com/aikwatch/aikwatch/internal/testutil"
	"github.com/aikwatch/aikwatch/trustlist"
)

// The EK public keys of google/go-attestation attest/tpm_test.go (TestIntelEKURL,
// TestAMDEKURL) and the URLs that test expects for them.
const (
	ekCLIIntelKey = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwyDi8kSoYBqs8+AdJsZl
JJk1Vi3h2hl+nn8HbEaWE8+2U+mOwsOG/B0TPyyMbMM4tzLwsgi9g4qHej5bvD4d
QIToNcfIkGocBbTS0w/b68HbrZUPprFlvUtqhkYDFGFkwMT1nUiQEe8fko3upukA
YfPTdeVkYnMVHvYiJSCYvhpKsB3AoSInxgn9rOsRWvQI1Gk6b0mRl3RpWwwSvBih
/3EgpzN7L7XxlR2Lt/CU1bVUwRyVI7MHKf5keH0KE7nmMEiNq039hmNKUnDscvzF
pE3GeajzKTjdgZfina6Dn1tMoPXeJ8lSLCPFThws5XhZUlEYvURwsYGA7veK5CZ7
zQIDAQAB
-----END PUBLIC KEY-----
`
	ekCLIAMDKey = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAo8ID3MRLZQWgq2WIK1qT
e2HQxzZgiDWn6Tzw6uQOoXI1iyO9pxIailRxll2NeK1lRVP/dEKCV+mGwv75T+y2
MmzpFhUY/O5RtEG8TiocDw6WkHRAJ9A9h1OMP+vD3mPClNoA9/ssB36/0ScmVtYR
0gRkL+cZkAT6qro7xz4eRKLt8KfX6OG/Y9kCfJsKDCtYbc4OavHSf11VgbBLtxm7
jSVE+pnO+x/om6qwACjZbU4qrq4PUbAxD1S9dJ2cZzKaYSsCA8wMIho0umYa3jGv
eptunXDcE993BlsUGjLNbXC4aWVEtgo9yu98gKqhYGFEx7Mtk5NYOvWoNvcUBe2L
2QIDAQAB
-----END PUBLIC KEY-----
`
)

func ekWriteFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEKURLCommand(t *testing.T) {
	intel := ekWriteFile(t, "intel.pem", []byte(ekCLIIntelKey))
	amd := ekWriteFile(t, "amd.pem", []byte(ekCLIAMDKey))
	for _, tc := range []struct{ vendor, file, want string }{
		{"intel", intel, "https://ekop.intel.com/ekcertservice/WVEG2rRwkQ7m3RpXlUphgo6Y2HLxl18h6ZZkkOAdnBE%3D\n"},
		{"amd", amd, "https://ftpm.amd.com/pki/aia/D027B3CE6A9B6B56846D2B9935884A88\n"},
	} {
		code, out, stderr := runCLI(t, "ek", "url", "--vendor", tc.vendor, tc.file)
		if code != 0 || out != tc.want {
			t.Errorf("%s: exit %d, %q (stderr %q), want %q", tc.vendor, code, out, stderr, tc.want)
		}
	}
	// A certificate works as well as a bare key (a real AMD CA certificate, used as a key here).
	if code, out, _ := runCLI(t, "ek", "url", "--vendor", "amd", testutil.Testdata("tpm-vendor-certs", "AMD-Root-CA.crt")); code != 0 || !strings.HasPrefix(out, "https://ftpm.amd.com/pki/aia/") {
		t.Errorf("certificate: %d %q", code, out)
	}
	bad := ekWriteFile(t, "bad.pem", []byte("hello"))
	for _, args := range [][]string{
		{"ek", "url", "--vendor", "intel", bad},
		{"ek", "url", "--vendor", "intel", filepath.Join(t.TempDir(), "missing.pem")},
		{"ek", "url", "--vendor", "qualcomm", intel},
		{"ek", "url", intel},
	} {
		if code, out, stderr := runCLI(t, args...); code != 2 || out != "" || stderr == "" {
			t.Errorf("%q: exit %d, out %q, stderr %q", args, code, out, stderr)
		}
	}
}

// ekCLIPKI issues throw-away certificates for the command tests.
type ekCLIPKI struct {
	t      *testing.T
	serial int64
}

type ekCLICert struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

func (p *ekCLIPKI) issue(tmpl *x509.Certificate, parent *ekCLICert) *ekCLICert {
	p.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serial++
	tmpl.SerialNumber = big.NewInt(p.serial)
	tmpl.NotBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	tmpl.NotAfter = time.Date(2045, 1, 1, 0, 0, 0, 0, time.UTC)
	tmpl.BasicConstraintsValid = tmpl.IsCA
	signer, pc := key, tmpl
	if parent != nil {
		signer, pc = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pc, &key.PublicKey, signer)
	if err != nil {
		p.t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &ekCLICert{cert: c, der: der, key: key}
}

// ekCLISAN is a SubjectAltName with a directoryName holding the TCG TPM manufacturer.
func ekCLISAN(t *testing.T, manufacturer string) pkix.Extension {
	t.Helper()
	name, err := asn1.Marshal(pkix.RDNSequence{{{Type: asn1.ObjectIdentifier{2, 23, 133, 2, 1}, Value: manufacturer}}})
	if err != nil {
		t.Fatal(err)
	}
	gn, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: name})
	san, _ := asn1.Marshal([]asn1.RawValue{{FullBytes: gn}})
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Critical: true, Value: san}
}

// TestEKInspectCommandNov inspects, against the real Nov-2024 cab and without a live probe,
// an EK certificate whose issuing CA carries the key id of a real Intel AIK host but is not
// Intel's CA.
func TestEKInspectCommandNov(t *testing.T) {
	p := &ekCLIPKI{t: t}
	root := p.issue(&x509.Certificate{Subject: pkix.Name{CommonName: "root"}, IsCA: true}, nil)
	ski, _ := hex.DecodeString("34219b21f477f6c7f78a0f26b23d0430deea4363")
	ica := p.issue(&x509.Certificate{Subject: pkix.Name{CommonName: "ica"}, IsCA: true, SubjectKeyId: ski}, root)
	ek := p.issue(&x509.Certificate{ExtraExtensions: []pkix.Extension{ekCLISAN(t, "id:494E5443")}}, ica)
	file := ekWriteFile(t, "ek.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ek.der}))

	code, out, stderr := runCLI(t, "ek", "inspect", "--no-probe", "--trustlist", testutil.NovCab, "-o", "json", file)
	if code != 1 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	var v struct {
		TrustList struct {
			Format, Signature string
			VersionDate       time.Time `json:"version_date"`
		} `json:"trust_list"`
		AIKHost     string `json:"aik_host"`
		InTrustList bool   `json:"aik_host_in_trust_list"`
		IssuingCA   struct {
			Path, Signature string
		} `json:"issuing_ca"`
		Ready    bool
		Problems []string
		Probe    *struct{} `json:"probe"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if v.TrustList.Format != "cab" || v.TrustList.Signature != "valid" || v.TrustList.VersionDate.Format("2006-01-02") != "2024-11-21" ||
		v.AIKHost != "intc-keyid-34219b21f477f6c7f78a0f26b23d0430deea4363.microsoftaik.azure.net" || !v.InTrustList ||
		v.IssuingCA.Path != "Intel/IntermediateCA/ADL_PROD_00002226_ODCA_CA2.cer" || v.IssuingCA.Signature != "bad_signature" ||
		v.Ready || len(v.Problems) != 1 || v.Probe != nil {
		t.Errorf("%+v", v)
	}
	code, out, _ = runCLI(t, "ek", "inspect", "--no-probe", "--trustlist", testutil.NovCab, file)
	if code != 1 || !strings.Contains(out, "NOT READY") || !strings.Contains(out, "signature      bad_signature") ||
		!strings.Contains(out, "in trust list  yes (4 certificates)") || !strings.Contains(out, "Live probe       not run") {
		t.Errorf("text: exit %d\n%s", code, out)
	}

	// Errors: no such certificate, not a certificate, no such trust list.
	junk := ekWriteFile(t, "junk.pem", []byte("junk"))
	for _, args := range [][]string{
		{"ek", "inspect", "--no-probe", "--trustlist", testutil.NovCab, filepath.Join(t.TempDir(), "none.pem")},
		{"ek", "inspect", "--no-probe", "--trustlist", testutil.NovCab, junk},
		{"ek", "inspect", "--no-probe", "--trustlist", filepath.Join(t.TempDir(), "none.cab"), file},
		{"ek", "inspect", "--no-probe", "--trustlist", t.TempDir(), file},
	} {
		if code, _, stderr := runCLI(t, args...); code != 2 || stderr == "" {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// ekCLITrustDir writes a release directory: the given EK CA certificates, and an AIK CA
// certificate named for host.
func ekCLITrustDir(t *testing.T, p *ekCLIPKI, vendor string, cas map[string][]byte, host string) string {
	t.Helper()
	dir := t.TempDir()
	label := strings.ToUpper(strings.TrimSuffix(host, trustlist.AIKHostSuffix))
	aik := p.issue(&x509.Certificate{Subject: pkix.Name{CommonName: label}, IsCA: true}, nil)
	files := map[string][]byte{"Microsoft/IntermediateCA/" + label + ".cer": aik.der}
	for k, v := range cas {
		files[vendor+"/"+k] = v
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestEKInspectCommandReady: a release directory with the EK's issuing CA (no SKI: a nameid
// host) and its AIK CA gives exit 0 without a live probe.
func TestEKInspectCommandReady(t *testing.T) {
	p := &ekCLIPKI{t: t}
	root := p.issue(&x509.Certificate{Subject: pkix.Name{CommonName: "NTC test root"}}, nil) // not a CA template: no SKI
	ek := p.issue(&x509.Certificate{ExtraExtensions: []pkix.Extension{ekCLISAN(t, "id:4E544300")}}, root)
	sum := sha1.Sum(root.cert.RawSubject)
	host := "ntc-nameid-" + hex.EncodeToString(sum[:]) + trustlist.AIKHostSuffix
	dir := ekCLITrustDir(t, p, "Nuvoton", map[string][]byte{"RootCA/root.cer": root.der}, host)
	file := ekWriteFile(t, "ek.der", ek.der)
	code, out, stderr := runCLI(t, "ek", "inspect", "--no-probe", "--trustlist", dir, file)
	if code != 0 || !strings.Contains(out, "READY: everything") || !strings.Contains(out, host) || !strings.Contains(out, "(dir, unsigned") {
		t.Errorf("exit %d\n%s\n%s", code, out, stderr)
	}
}

// TestEKInspectCommandLiveProbe inspects the simulator's Intel EK against a release holding
// its issuing chain, probing the AIK host live through --resolve and --ca-file: exit 0, then
// exit 1 once the simulator withdraws the host.
func TestEKInspectCommandLiveProbe(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })
	cab, err := os.ReadFile(testutil.NovCab)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := sim.New(sim.Config{TrustList: cab})
	if err != nil {
		t.Fatal(err)
	}
	if err := sm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close() })
	var ek sim.EK
	for _, e := range sm.EKs() {
		if e.Vendor == "intel" {
			ek = e
		}
	}
	if ek.Cert == nil {
		t.Fatal("no simulator Intel EK")
	}
	p := &ekCLIPKI{t: t}
	dir := ekCLITrustDir(t, p, "Intel", map[string][]byte{"RootCA/root.cer": ek.Chain[1].Raw, "IntermediateCA/ica.cer": ek.Chain[0].Raw}, ek.AIKHost)
	ca := ekWriteFile(t, "ca.pem", sm.CACertPEM())
	file := ekWriteFile(t, "ek.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ek.Cert.Raw}))
	args := []string{"ek", "inspect", "--trustlist", dir, "--resolve", "*=" + sm.Addr(), "--ca-file", ca, "--timeout", "5s", file}

	code, out, stderr := runCLI(t, args...)
	if code != 0 || !strings.Contains(out, "Live probe       ok (HTTP 200)") || !strings.Contains(out, ek.URL) {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	if err := sm.SetMode(ek.AIKHost, sim.ModeWithdrawn, 0); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = runCLI(t, append(args[:len(args)-1:len(args)-1], "-o", "json", file)...)
	if code != 1 {
		t.Fatalf("withdrawn: exit %d\n%s\n%s", code, out, stderr)
	}
	var v struct {
		Ready bool
		Probe struct {
			OK         bool
			Status     string
			HTTPStatus int    `json:"http_status"`
			Message    string `json:"message"`
		}
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if v.Ready || v.Probe.OK || v.Probe.Status != "withdrawn" || v.Probe.HTTPStatus != 404 || !strings.Contains(v.Probe.Message, "does not exist") {
		t.Errorf("withdrawn: %+v", v)
	}
}
