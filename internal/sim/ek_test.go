package sim

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aikwatch/aikwatch/internal/ekid"
	"github.com/aikwatch/aikwatch/trustlist"
	"github.com/smallstep/pkcs7"
)

func TestEKCertificates(t *testing.T) {
	s := startSim(t)
	eks := s.EKs()
	if len(eks) != 2 || eks[0].Vendor != "intel" || eks[1].Vendor != "amd" {
		t.Fatalf("EKs: %+v", eks)
	}
	manuf := map[string]string{"intel": "id:494E5443", "amd": "id:414D4400"}
	for _, ek := range eks {
		c := ek.Cert
		if len(c.Subject.Names) != 0 || len(c.RawSubject) != 2 {
			t.Errorf("%s: subject not empty: %q", ek.Vendor, c.Subject)
		}
		// Chain: EK <- issuing CA <- root, AKI = the issuing CA's SKI.
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(ek.Chain[1])
		inter.AddCert(ek.Chain[0])
		// Go does not handle a SAN holding only a directoryName and flags it as an unhandled
		// critical extension, as for real EK certificates; verifiers drop it from the list.
		cc := *c
		cc.UnhandledCriticalExtensions = nil
		if _, err := cc.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s: EK does not chain: %v", ek.Vendor, err)
		}
		if len(ek.Chain[0].SubjectKeyId) == 0 || !bytes.Equal(c.AuthorityKeyId, ek.Chain[0].SubjectKeyId) {
			t.Errorf("%s: AKI %x, issuing CA SKI %x", ek.Vendor, c.AuthorityKeyId, ek.Chain[0].SubjectKeyId)
		}
		if len(c.UnknownExtKeyUsage) != 1 || !c.UnknownExtKeyUsage[0].Equal(oidEKCertificate) {
			t.Errorf("%s: EKU %v", ek.Vendor, c.UnknownExtKeyUsage)
		}
		var san *struct {
			critical bool
			value    []byte
		}
		for _, e := range c.Extensions {
			if e.Id.Equal(oidSubjectAltName) {
				san = &struct {
					critical bool
					value    []byte
				}{e.Critical, e.Value}
			}
		}
		if san == nil || !san.critical {
			t.Fatalf("%s: no critical subjectAltName", ek.Vendor)
		}
		attrs := tcgAttributes(t, san.value)
		if attrs["2.23.133.2.1"] != manuf[ek.Vendor] || attrs["2.23.133.2.2"] == "" || attrs["2.23.133.2.3"] == "" {
			t.Errorf("%s: TCG attributes %v", ek.Vendor, attrs)
		}
		// The URL derives from the public key.
		var want string
		if ek.Vendor == "intel" {
			want, _ = ekid.IntelURL(c.PublicKey)
		} else {
			want, _ = ekid.AMDURL(c.PublicKey)
		}
		if ek.URL != want || !strings.HasSuffix(ek.URL, "/"+ek.ID) {
			t.Errorf("%s: URL %s, want %s", ek.Vendor, ek.URL, want)
		}
		n, err := trustlist.ParseAIKHost(ek.AIKHost)
		if err != nil || n.ID != hex.EncodeToString(ek.Chain[0].SubjectKeyId) {
			t.Errorf("%s: AIK host %s: %v", ek.Vendor, ek.AIKHost, err)
		}
	}
}

// tcgAttributes decodes a subjectAltName holding one directoryName into OID -> value.
func tcgAttributes(t *testing.T, san []byte) map[string]string {
	t.Helper()
	var names []asn1.RawValue
	if _, err := asn1.Unmarshal(san, &names); err != nil || len(names) != 1 || names[0].Tag != 4 {
		t.Fatalf("SAN: %v %v", err, names)
	}
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(names[0].Bytes, &rdns); err != nil {
		t.Fatalf("directoryName: %v", err)
	}
	out := map[string]string{}
	for _, rdn := range rdns {
		for _, a := range rdn {
			out[a.Type.String()], _ = a.Value.(string)
		}
	}
	return out
}

func TestEKServices(t *testing.T) {
	s := startSim(t)
	c := s.Client()
	intel, amd := s.EKs()[0], s.EKs()[1]

	code, hdr, body := get(t, c, "GET", intel.URL, nil)
	if code != 200 || hdr.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("intel: %d %s", code, body)
	}
	var a IntelAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	der, err := base64.URLEncoding.DecodeString(a.Certificate)
	if err != nil || !bytes.Equal(der, intel.Cert.Raw) || a.PubHash != intel.ID {
		t.Errorf("intel answer: pubhash %q, certificate matches %v (%v)", a.PubHash, bytes.Equal(der, intel.Cert.Raw), err)
	}
	// %3d in lower case is the same id.
	if code, _, _ := get(t, c, "GET", strings.Replace(intel.URL, "%3D", "%3d", 1), nil); code != 200 {
		t.Errorf("intel with %%3d: %d", code)
	}
	unescaped := strings.Replace(intel.URL, "%3D", "=", 1)
	if code, _, _ := get(t, c, "GET", unescaped, nil); code != 403 {
		t.Errorf("intel with a bare '=': %d, want 403", code)
	}
	if code, _, body := get(t, c, "GET", ekid.IntelBaseURL+"WVEG2rRwkQ7m3RpXlUphgo6Y2HLxl18h6ZZkkOAdnBE%3D", nil); code != 404 || string(body) != intelNotFound {
		t.Errorf("intel unknown id: %d %q", code, body)
	}

	code, hdr, body = get(t, c, "GET", amd.URL, nil)
	if code != 200 || hdr.Get("Content-Type") != "application/pkix-cert" || !bytes.Equal(body, amd.Cert.Raw) {
		t.Errorf("amd: %d %q", code, hdr.Get("Content-Type"))
	}
	if code, _, _ := get(t, c, "GET", ekid.AMDBaseURL+strings.ToLower(amd.ID), nil); code != 200 {
		t.Errorf("amd lower-case id: %d", code)
	}
	if code, _, _ := get(t, c, "GET", ekid.AMDBaseURL+"D027B3CE6A9B6B56846D2B9935884A88", nil); code != 404 {
		t.Errorf("amd unknown id: %d", code)
	}

	q := "https://" + HostQualcommEK + QualcommEKPath
	if code, _, _ := get(t, c, "GET", q, nil); code != 400 {
		t.Errorf("qualcomm GET: %d", code)
	}
	req := func(body string) int {
		resp, err := c.Post(q, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := req(`{"ekPub":"x"}`); code != 404 {
		t.Errorf("qualcomm JSON POST: %d", code)
	}
	if code := req(`{bad`); code != 400 {
		t.Errorf("qualcomm bad JSON: %d", code)
	}
}

// TestSimAIKHosts: the simulator's own EK issuing CAs have working AIK hosts whose chain
// holds a generated AIK CA named after the host, issued by the simulated Microsoft root.
func TestSimAIKHosts(t *testing.T) {
	s := startSim(t)
	for _, ek := range s.EKs() {
		if !strings.Contains(strings.Join(s.AIKHosts(), " "), ek.AIKHost) {
			t.Errorf("AIKHosts lacks %s", ek.AIKHost)
		}
		code, _, body := get(t, s.Client(), "GET", "https://"+ek.AIKHost+SCEPPath+"?operation=GetCACertChain&message=default", nil)
		if code != 200 {
			t.Fatalf("%s: %d", ek.AIKHost, code)
		}
		p7, err := pkcs7.Parse(body)
		if err != nil || len(p7.Certificates) != 4 {
			t.Fatalf("%s: %v", ek.AIKHost, err)
		}
		aik := p7.Certificates[1]
		if aik.Subject.CommonName != strings.ToUpper(strings.TrimSuffix(ek.AIKHost, AIKSuffix)) {
			t.Errorf("AIK CA CN %q", aik.Subject.CommonName)
		}
		if err := aik.CheckSignatureFrom(s.MicrosoftRoot()); err != nil || p7.Certificates[0].Subject.CommonName != msRootCN {
			t.Errorf("AIK CA not issued by the simulated root: %v", err)
		}
		if st := s.HostState(ek.AIKHost); !st.Known || st.Kind != "aik-sim" {
			t.Errorf("state %+v", st)
		}
	}
}

func TestWriteEKFiles(t *testing.T) {
	s, err := New(Config{TrustList: readCab(t, novCabPath())})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := filepath.Join(t.TempDir(), "eks")
	paths, err := s.WriteEKFiles(dir)
	if err != nil || len(paths) != 6 {
		t.Fatalf("%v %v", paths, err)
	}
	for _, v := range []string{"intel", "amd"} {
		c, _, err := trustlist.ParseCertificate(mustRead(t, filepath.Join(dir, "ek-"+v+".pem")))
		if err != nil {
			t.Fatal(err)
		}
		pub := string(mustRead(t, filepath.Join(dir, "ek-"+v+"-pub.pem")))
		chain := string(mustRead(t, filepath.Join(dir, "ek-"+v+"-chain.pem")))
		if !strings.Contains(pub, "BEGIN PUBLIC KEY") || strings.Count(chain, "BEGIN CERTIFICATE") != 2 || len(c.AuthorityKeyId) == 0 {
			t.Errorf("%s files", v)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
