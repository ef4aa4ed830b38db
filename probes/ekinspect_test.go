package probes

import (
	"context"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aikwatch/aikwatch/internal/sim"
	"github.com/aikwatch/aikwatch/internal/testutil"
	"github.com/aikwatch/aikwatch/trustlist"
	"github.com/aikwatch/aikwatch/trustlist/changelog"
)

func TestEKVendorCode(t *testing.T) {
	for in, want := range map[string]string{
		"id:494E5443": "INTC", "id:49465800": "IFX", "id:53544D20": "STM", "id:414D4400": "AMD",
		"id:4E544300": "NTC", "id:4E545A00": "NTZ", "id:57454300": "WEC", "id:4D534654": "MSFT",
		"id:51434F4D": "QCOM", "id:41544D4C": "ATML", "ID:494e5443": "INTC", " id:494E5443 ": "INTC",
		"INTC": "INTC", "ifx": "IFX", "id:zz": "", "id:00000000": "", "id:49FF": "", "": "", "a b": "",
	} {
		if got := EKVendorCode(in); got != want {
			t.Errorf("EKVendorCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEKManufacturerOf(t *testing.T) {
	p := &ekPKI{t: t}
	root := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "root"}, ca: true}, nil)

	san := p.issue(ekCertOpts{san: ekTCGSAN(t, "id:494E5443", "PTT", "id:00020000")}, root)
	m, err := EKManufacturerOf(san.cert)
	if err != nil || m == nil || *m != (EKManufacturer{ID: "id:494E5443", Code: "INTC", Name: "Intel", Model: "PTT", Version: "id:00020000", Source: "subject_alt_name"}) {
		t.Errorf("SAN: %+v, %v", m, err)
	}
	subj := p.issue(ekCertOpts{subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: ekOIDTPMManufacturer, Value: "id:49465800"}, {Type: ekOIDTPMModel, Value: "SLB9670"},
	}}}, root)
	if m, err := EKManufacturerOf(subj.cert); err != nil || m == nil || m.Code != "IFX" || m.Name != "Infineon" || m.Source != "subject" || m.Model != "SLB9670" {
		t.Errorf("subject: %+v, %v", m, err)
	}
	none := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "no attributes"}}, root)
	if m, err := EKManufacturerOf(none.cert); m != nil || err != nil {
		t.Errorf("none: %+v, %v", m, err)
	}
	// Model alone names no manufacturer; an unknown vendor keeps its code, without a name.
	modelOnly := p.issue(ekCertOpts{san: ekTCGSAN(t, "", "x", "y")}, root)
	if m, _ := EKManufacturerOf(modelOnly.cert); m != nil {
		t.Errorf("model only: %+v", m)
	}
	unknown := p.issue(ekCertOpts{san: ekTCGSAN(t, "id:58595A00", "x", "y")}, root)
	if m, _ := EKManufacturerOf(unknown.cert); m == nil || m.Code != "XYZ" || m.Name != "" {
		t.Errorf("unknown vendor: %+v", m)
	}
	// A SAN with only a DNS name: the subject is looked at.
	dns := p.issue(ekCertOpts{subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: ekOIDTPMManufacturer, Value: "id:4E544300"}}},
		san: []byte{0x30, 0x0b, 0x82, 0x09, 'e', 'x', '.', 'i', 'n', 'v', 'a', 'l', 'i'}}, root)
	if m, err := EKManufacturerOf(dns.cert); err != nil || m == nil || m.Code != "NTC" {
		t.Errorf("dns SAN: %+v, %v", m, err)
	}
	// The real vendor CA certificates name no TPM manufacturer.
	if c := ekReadTestCert(t, "ADL_PROD_00002226_ODCA_CA2.cer"); c != nil {
		if m, err := EKManufacturerOf(c); m != nil || err != nil {
			t.Errorf("ADL: %+v %v", m, err)
		}
	}
}

func ekReadTestCert(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	c, _, err := trustlist.ParseCertificate(testutil.ReadTestdata(t, "tpm-vendor-certs", name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// TestEKAIKHostRealCerts derives AIK CA hosts from the real vendor CA certificates of
// testdata/tpm-vendor-certs (their SOURCES.md lists the SKI and name ids) and finds them in
// the real Nov-2024 release.
func TestEKAIKHostRealCerts(t *testing.T) {
	s, _ := ekNovRelease(t)
	for _, tc := range []struct{ file, vendor, host string }{
		{"AMD-fTPM-RSA-ICA-STXFamily-AC721D42534F54F84DBA160B17E1C920.crt", "AMD", "amd-keyid-1b4973cf8074bc4dd4b9de8a336fe3152ce6ec9d"},
		{"NTC TPM EK Root CA 01.cer", "NTC", "ntc-nameid-a074a1271ddf515f97b1f4b9d44fe255d7644501"},
		{"Nuvoton TPM Root CA 1110.cer", "NTC", "ntc-keyid-1591d4b6eaf98d0104864b6903a48dd0026077d3"},
		{"ADL_PROD_00002226_ODCA_CA2.cer", "INTC", "intc-keyid-34219b21f477f6c7f78a0f26b23d0430deea4363"},
		{"Infineon_OPTIGA(TM)_RSA_Manufacturing_CA_009.crt", "IFX", "ifx-keyid-090caae1858a3c3a3b6d4df8978916fb205fca90"},
		{"NPCTxxxECC384LeafCA022110.cer", "NTC", "ntc-keyid-61d19da22b4f88fee2aec41146dee86715d1ca15"},
		{"Pluton-Factory-DEVICE-EK-ICA-DFID008A0F00.cer", "MSFT", "msft-keyid-1cb4a0687b9d82072c5783a6b57d10d74000fcb9"},
		{"m2-wus-prod-ekcert-signing-V1.cer", "QCOM", "qcom-keyid-16f35f91a04edd3b831da8c6d1eceee6ee497d60"},
		{"STM TPM EK Intermediate CA 05_2.crt", "STM", "stm-keyid-1adb994ab58be57a0cc9b900e7851e1a43c08660"},
	} {
		c := ekReadTestCert(t, tc.file)
		got := EKAIKHostOfCA(tc.vendor, c)
		if got != tc.host+trustlist.AIKHostSuffix {
			t.Errorf("%s: %s, want %s", tc.file, got, tc.host)
			continue
		}
		if _, ok := s.AIKHost(got); !ok && tc.file != "NTC TPM EK Root CA 01.cer" && tc.file != "Nuvoton TPM Root CA 1110.cer" {
			t.Errorf("%s: %s not in the Nov-2024 release", tc.file, got)
		}
	}
	// NTC TPM EK Root CA 01 has no SKI: its EK certificates are served by a nameid host,
	// SHA-1 of its DER subject.
	ntc := ekReadTestCert(t, "NTC TPM EK Root CA 01.cer")
	if len(ntc.SubjectKeyId) != 0 {
		t.Fatal("NTC TPM EK Root CA 01 has an SKI")
	}
	// EKAIKHost of a certificate issued by the ADL CA (its AKI) is the same host as
	// EKAIKHostOfCA of the CA; of one issued by the NTC root (no AKI), the nameid host.
	p := &ekPKI{t: t}
	byADL := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "x"}}, nil)
	byADL.cert.AuthorityKeyId = ekReadTestCert(t, "ADL_PROD_00002226_ODCA_CA2.cer").SubjectKeyId
	if got := EKAIKHost("INTC", byADL.cert); got != "intc-keyid-34219b21f477f6c7f78a0f26b23d0430deea4363"+trustlist.AIKHostSuffix {
		t.Errorf("by ADL: %s", got)
	}
	byNTC := &x509.Certificate{RawIssuer: ntc.RawSubject}
	if got := EKAIKHost("NTC", byNTC); got != "ntc-nameid-a074a1271ddf515f97b1f4b9d44fe255d7644501"+trustlist.AIKHostSuffix {
		t.Errorf("by NTC root: %s", got)
	}
}

// TestEKInspectRealIntermediateAsEK inspects a real AMD fTPM intermediate as if it were an
// EK certificate: it names no manufacturer, and its AKI (the AMDTPM RSA root's key id) is the
// id of AMD AIK CAs that version.txt removed on 15-March-2022.
func TestEKInspectRealIntermediateAsEK(t *testing.T) {
	s, files := ekNovRelease(t)
	der := testutil.ReadTestdata(t, "tpm-vendor-certs", "AMD-fTPM-RSA-ICA-STXFamily-AC721D42534F54F84DBA160B17E1C920.crt")
	in := EKInspect(context.Background(), der, s, EKInspectOptions{Files: files, Now: ekTestNow})
	const host = "amd-keyid-578c545f796951421221a4a578acdb5f682f89c8.microsoftaik.azure.net"
	if in.Error != "" || in.Ready || in.Manufacturer != nil || in.AIKHost != host || in.AIKHostFrom != "changelog" ||
		in.AIKHostInTrustList || !in.EverRemoved || in.IssuingCA != nil {
		t.Fatalf("%+v", in)
	}
	if last := ekLastRemoval(in.Changelog); !last.Date.Equal(time.Date(2022, 3, 15, 0, 0, 0, 0, time.UTC)) || last.Action != changelog.Removed {
		t.Errorf("last removal %+v", last)
	}
	ekWantMessages(t, in.Problems, "no AIK CA for "+host, "no EK CA with key id 578c545f")
	ekWantMessages(t, in.Warnings, "removed (2022-03-15", "live probe of the AIK CA host skipped")

	// The ADL issuing CA inspected as an EK: its issuer (the ODCA CSME intermediate, shipped
	// in Intel/RootCA) is found by key id and verifies its signature.
	der = testutil.ReadTestdata(t, "tpm-vendor-certs", "ADL_PROD_00002226_ODCA_CA2.cer")
	in = EKInspect(context.Background(), der, s, EKInspectOptions{Files: files, Now: ekTestNow})
	if ic := in.IssuingCA; ic == nil || ic.Path != "Intel/RootCA/ODCA_CA2_CSME_Intermediate.cer" || ic.MatchedBy != "key_id" ||
		ic.Signature != "ok" || ic.Chain != EKChainOK || !slices.Equal(ic.ChainPath, []string{"Intel/RootCA/OnDie_CA_RootCA_Certificate.cer"}) {
		t.Errorf("ADL issuing CA: %+v", in.IssuingCA)
	}
	// An expired, SHA-1-signed issuer: IFX TPM EK Intermediate CA 01 as the "EK" shows the
	// SHA-1 root's signature checked; the intermediate's own expiry is a warning.
	der = testutil.ReadTestdata(t, "tpm-vendor-certs", "IFX_TPM_EK_Intermediate_CA_01.crt")
	in = EKInspect(context.Background(), der, s, EKInspectOptions{Files: files, Now: ekTestNow})
	if ic := in.IssuingCA; ic == nil || ic.Path != "Infineon/RootCA/IFX TPM EK Root CA.cer" || ic.Signature != "ok" || !ic.SHA1Signature || ic.Expired {
		t.Errorf("IFX 01 issuing CA: %+v", in.IssuingCA)
	}
	ekWantMessages(t, in.Warnings, "the EK certificate itself expired on 2025-10-20", "is SHA-1-signed")
}

func ekWantMessages(t *testing.T, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("no message containing %q in %q", w, got)
		}
	}
}

// TestEKInspectForgedKeyID issues, under a throw-away root, an EK intermediate whose SKI is set
// to the key id of a real Intel AIK host (an SKI is just bytes), and an EK certificate under
// it. The AIK host is found in the real release, and so is an issuing CA with that key id, but
// it is not the CA that signed the certificate: the inspection says so.
func TestEKInspectForgedKeyID(t *testing.T) {
	s, files := ekNovRelease(t)
	p := &ekPKI{t: t}
	root := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "Forged Intel EK Root"}, ca: true}, nil)
	ski, _ := hex.DecodeString("34219b21f477f6c7f78a0f26b23d0430deea4363")
	inter := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "www.intel.com", OrganizationalUnit: []string{"ODCA 2 CSME P_ADL 00002226 Issuing CA"}}, ca: true, ski: ski}, root)
	ek := p.issue(ekCertOpts{san: ekTCGSAN(t, "id:494E5443", "PTT", "id:00020000")}, inter)
	if hex.EncodeToString(ek.cert.AuthorityKeyId) != "34219b21f477f6c7f78a0f26b23d0430deea4363" {
		t.Fatalf("AKI %x", ek.cert.AuthorityKeyId)
	}
	in := EKInspect(context.Background(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ek.der}), s, EKInspectOptions{Files: files, Now: ekTestNow})
	const host = "intc-keyid-34219b21f477f6c7f78a0f26b23d0430deea4363.microsoftaik.azure.net"
	if in.Error != "" || in.Manufacturer == nil || in.Manufacturer.Code != "INTC" || in.AIKHost != host || in.AIKHostFrom != "manufacturer" ||
		!in.AIKHostInTrustList || in.EverRemoved || in.Ready {
		t.Fatalf("%+v", in)
	}
	if want := []string{
		"Microsoft/IntermediateCA/EUS-intc-keyid-34219b21f477f6c7f78a0f26b23d0430deea4363.cer",
		"Microsoft/IntermediateCA/NCU-intc-keyid-34219b21f477f6c7f78a0f26b23d0430deea4363.cer",
		"Microsoft/IntermediateCA/WUS-intc-keyid-34219b21f477f6c7f78a0f26b23d0430deea4363.cer",
		"Microsoft/IntermediateCA/intc-keyid-34219b21f477f6c7f78a0f26b23d0430deea4363.cer",
	}; !slices.Equal(in.AIKHostFiles, want) {
		t.Errorf("files %q", in.AIKHostFiles)
	}
	if in.AIKHostURL != "https://"+host+"/templates/Aik/scep" {
		t.Errorf("url %q", in.AIKHostURL)
	}
	ic := in.IssuingCA
	if ic == nil || ic.Path != "Intel/IntermediateCA/ADL_PROD_00002226_ODCA_CA2.cer" || ic.MatchedBy != "key_id" || ic.Signature != "bad_signature" ||
		ic.Chain != EKChainOK || ic.Expired {
		t.Fatalf("issuing CA %+v", ic)
	}
	ekWantMessages(t, in.Problems, "found by key id, but the EK certificate's signature does not verify")
	if len(in.Problems) != 1 {
		t.Errorf("problems %q", in.Problems)
	}
	if want, _ := EKIntelURL(ek.cert.PublicKey); in.EKServiceURL != want || want == "" {
		t.Errorf("EK service URL %q, want %q", in.EKServiceURL, want)
	}

	// Same trick with the AMD STX issuing CA's key id: its AIK host is shipped, yet version.txt
	// listed it as removed on 05-May-2024.
	ski, _ = hex.DecodeString("1b4973cf8074bc4dd4b9de8a336fe3152ce6ec9d")
	amdICA := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "PRG-STX"}, ca: true, ski: ski}, root)
	amdEK := p.issue(ekCertOpts{san: ekTCGSAN(t, "id:414D4400", "AMD", "id:00030000")}, amdICA)
	in = EKInspect(context.Background(), amdEK.der, s, EKInspectOptions{Files: files, Now: ekTestNow})
	if in.AIKHost != "amd-keyid-1b4973cf8074bc4dd4b9de8a336fe3152ce6ec9d.microsoftaik.azure.net" || !in.AIKHostInTrustList || !in.EverRemoved {
		t.Fatalf("AMD: %+v", in)
	}
	ekWantMessages(t, in.Warnings, "removed (2024-05-05", "the release still ships it")
	if ic := in.IssuingCA; ic == nil || ic.Path != "AMD/IntermediateCA/AMD-fTPM-RSA-ICA-STXFamily-AC721D42534F54F84DBA160B17E1C920.crt" || ic.Chain != EKChainNoIssuer {
		t.Errorf("AMD issuing CA %+v", in.IssuingCA)
	}
	if want, _ := EKAMDURL(amdEK.cert.PublicKey); in.EKServiceURL != want {
		t.Errorf("AMD EK service URL %q", in.EKServiceURL)
	}

	// Without the members' bytes the signature cannot be checked: not ready, and said so.
	in = EKInspect(context.Background(), ek.der, s, EKInspectOptions{Now: ekTestNow})
	if in.IssuingCA == nil || in.IssuingCA.Signature != "unknown" || in.Ready {
		t.Errorf("no files: %+v", in.IssuingCA)
	}
	ekWantMessages(t, in.Problems, "not available")
}

// TestEKInspectNameIDReady builds a small release around a CA without a subject key id: its
// EK certificates carry no AKI and are served by a nameid host. Everything is in place, so the
// inspection is ready (the live probe is skipped and said so).
func TestEKInspectNameIDReady(t *testing.T) {
	p := &ekPKI{t: t}
	// A non-CA template keeps crypto/x509 from adding an SKI; the index does not care.
	root := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "NTC Test EK Root", Organization: []string{"Nuvoton Technology Corporation"}}, noSKI: true}, nil)
	ek := p.issue(ekCertOpts{subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: ekOIDTPMManufacturer, Value: "id:4E544300"}, {Type: ekOIDTPMModel, Value: "NPCT75x"}, {Type: ekOIDTPMVersion, Value: "id:00070002"},
	}}}, root)
	if len(ek.cert.AuthorityKeyId) != 0 {
		t.Fatal("EK got an AKI")
	}
	sum := sha1.Sum(root.cert.RawSubject)
	nameid := hex.EncodeToString(sum[:])
	aik := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "NTC-NAMEID-" + strings.ToUpper(nameid)}, ca: true}, nil)
	files := []trustlist.File{
		{Path: "Nuvoton/RootCA/ntc-test-root.cer", Data: root.der},
		{Path: "Microsoft/IntermediateCA/NTC-NAMEID-" + strings.ToUpper(nameid) + ".cer", Data: aik.der},
	}
	s, err := trustlist.Index(files)
	if err != nil {
		t.Fatal(err)
	}
	in := EKInspect(context.Background(), ek.der, s, EKInspectOptions{Files: files, Now: ekTestNow})
	host := "ntc-nameid-" + nameid + trustlist.AIKHostSuffix
	if !in.Ready || in.AIKHost != host || !in.AIKHostInTrustList || in.Manufacturer == nil || in.Manufacturer.Source != "subject" ||
		in.IssuingCA == nil || in.IssuingCA.MatchedBy != "name" || in.IssuingCA.Signature != "ok" || in.IssuingCA.Chain != EKChainSelfSignedRoot {
		t.Fatalf("%+v %+v", in, in.IssuingCA)
	}
	ekWantMessages(t, in.Warnings, "live probe of the AIK CA host skipped")

	// A release that names the id under another vendor prefix: not the host Windows asks.
	ntz := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "NTZ-NAMEID-" + nameid}, ca: true}, nil)
	other := []trustlist.File{files[0], {Path: "Microsoft/IntermediateCA/NTZ-NAMEID-" + nameid + ".cer", Data: ntz.der}}
	s2, _ := trustlist.Index(other)
	in = EKInspect(context.Background(), ek.der, s2, EKInspectOptions{Files: other, Now: ekTestNow})
	if in.Ready || in.AIKHostInTrustList || !slices.Equal(in.SameIDHosts, []string{"ntz-nameid-" + nameid + trustlist.AIKHostSuffix}) {
		t.Errorf("other vendor prefix: %+v", in)
	}
	ekWantMessages(t, in.Problems, "it has the same id under ntz-nameid-")

	// The same certificate against the real release: no such host, no such CA.
	nov, novFiles := ekNovRelease(t)
	in = EKInspect(context.Background(), ek.der, nov, EKInspectOptions{Files: novFiles, Now: ekTestNow})
	if in.Ready || in.AIKHostInTrustList || in.IssuingCA != nil {
		t.Errorf("against Nov-2024: %+v", in)
	}
	ekWantMessages(t, in.Problems, "the trust list has no AIK CA for "+host, "the trust list has no EK CA with issuer")

	// Garbage in: an error, not a panic.
	bad := EKInspect(context.Background(), []byte("not a certificate"), s, EKInspectOptions{})
	if bad.Error == "" || bad.Ready || len(bad.Problems) != 1 {
		t.Errorf("garbage: %+v", bad)
	}
	// No snapshot at all.
	if none := EKInspect(context.Background(), ek.der, nil, EKInspectOptions{}); none.Ready || none.AIKHost != host {
		t.Errorf("nil snapshot: %+v", none)
	}
}

// ekSimTrustList is a release holding a simulator EK's issuing chain and an AIK CA named for
// its host, as Microsoft would ship it.
func ekSimTrustList(t *testing.T, e sim.EK) []trustlist.File {
	t.Helper()
	n, err := trustlist.ParseAIKHost(e.AIKHost)
	if err != nil {
		t.Fatal(err)
	}
	p := &ekPKI{t: t}
	aik := p.issue(ekCertOpts{subject: pkix.Name{CommonName: strings.ToUpper(strings.TrimSuffix(n.Host(), trustlist.AIKHostSuffix))}, ca: true}, nil)
	return []trustlist.File{
		{Path: "Intel/RootCA/sim-root.cer", Data: e.Chain[1].Raw},
		{Path: "Intel/IntermediateCA/sim-ica.cer", Data: e.Chain[0].Raw},
		{Path: "Microsoft/IntermediateCA/" + strings.ToUpper(strings.TrimSuffix(n.Host(), trustlist.AIKHostSuffix)) + ".cer", Data: aik.der},
	}
}

// TestEKInspectLiveProbeSim runs the inspection's live probe with the AIK prober against the
// simulator: ready while the AIK host answers, not ready once it is withdrawn.
func TestEKInspectLiveProbeSim(t *testing.T) {
	ignore := goleak.IgnoreCurrent() // the goroutines before the test, not at its end
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
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
	client := sm.Client()
	t.Cleanup(client.CloseIdleConnections)

	var ek sim.EK
	for _, e := range sm.EKs() {
		if e.Vendor == "intel" {
			ek = e
		}
	}
	if ek.Cert == nil {
		t.Fatal("the simulator has no Intel EK")
	}
	files := ekSimTrustList(t, ek)
	s, err := trustlist.Index(files)
	if err != nil {
		t.Fatal(err)
	}
	opts := EKInspectOptions{Files: files, Probe: EKProbeWithAIK(&AIKProber{Client: client, Timeout: 5 * time.Second}, files)}
	in := EKInspect(context.Background(), ek.Cert.Raw, s, opts)
	if !in.Ready || in.AIKHost != ek.AIKHost || in.Probe == nil || !in.Probe.OK || in.Probe.Status != string(StatusOK) ||
		in.EKServiceURL != ek.URL || in.IssuingCA == nil || in.IssuingCA.Signature != "ok" || in.IssuingCA.Chain != EKChainOK {
		t.Fatalf("%+v probe %+v ca %+v", in, in.Probe, in.IssuingCA)
	}
	// The AIK CA certificate in this test's release is not the simulator's: said, not fatal.
	if in.Probe.AIKCAMatchesTrustList == nil || *in.Probe.AIKCAMatchesTrustList {
		t.Errorf("matches trust list: %v", in.Probe.AIKCAMatchesTrustList)
	}
	ekWantMessages(t, in.Warnings, "returned an AIK CA certificate the trust list does not ship")

	if err := sm.SetMode(ek.AIKHost, sim.ModeWithdrawn, 0); err != nil {
		t.Fatal(err)
	}
	in = EKInspect(context.Background(), ek.Cert.Raw, s, opts)
	if in.Ready || in.Probe == nil || in.Probe.OK || in.Probe.Status != string(StatusWithdrawn) || in.Probe.HTTPStatus != 404 {
		t.Fatalf("withdrawn: %+v", in.Probe)
	}
	ekWantMessages(t, in.Problems, "live probe of "+ek.AIKHost+": withdrawn", "does not exist")
}
