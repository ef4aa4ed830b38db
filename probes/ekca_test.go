package probes

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/testutil"
	"github.com/aikwatch/aikwatch/trustlist"
)

// ekTestNow is the fixed "now" of the tests on the real releases.
var ekTestNow = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

var ekNov struct {
	once  sync.Once
	s     *trustlist.Snapshot
	files []trustlist.File
	err   error
}

// ekNovRelease loads the real Nov-2024 TrustedTpm.cab once: its snapshot and its members.
func ekNovRelease(t *testing.T) (*trustlist.Snapshot, []trustlist.File) {
	t.Helper()
	ekNov.once.Do(func() {
		data, err := os.ReadFile(testutil.NovCab)
		if err != nil {
			ekNov.err = err
			return
		}
		// The Authenticode check (trustlist.FromBytes) is other packages' business and slow
		// under -race: read and index the members only.
		if ekNov.files, _, ekNov.err = trustlist.ReadFiles(context.Background(), data, testutil.NovCab, trustlist.Options{}); ekNov.err != nil {
			return
		}
		ekNov.s, ekNov.err = trustlist.Index(ekNov.files)
	})
	if ekNov.err != nil {
		t.Fatal(ekNov.err)
	}
	return ekNov.s, ekNov.files
}

func ekFindStatus(t *testing.T, st []EKCAStatus, path string) EKCAStatus {
	t.Helper()
	for _, s := range st {
		if s.Path == path {
			return s
		}
	}
	t.Fatalf("no EK CA status for %s", path)
	return EKCAStatus{}
}

func TestEKCACheckNovRelease(t *testing.T) {
	s, files := ekNovRelease(t)
	st := EKCACheck(s, files, ekTestNow, 0)
	if len(st) != len(s.EKCAs) || len(st) != 360 {
		t.Fatalf("%d statuses for %d EK CAs, want 360", len(st), len(s.EKCAs))
	}
	var expired, expiring, sha1 []string
	chains := map[string]int{}
	for _, x := range st {
		if x.Expired {
			expired = append(expired, x.Path)
		}
		if x.Expiring {
			expiring = append(expiring, x.Path)
		}
		if x.SHA1Signature {
			sha1 = append(sha1, x.Path)
		}
		chains[x.Chain]++
	}
	// As of 2026-11-23, two EK CAs of the release are expired, one expires within 30 days.
	if want := []string{"Infineon/IntermediateCA/IFX_TPM_EK_Intermediate_CA_01.crt", "Infineon/RootCA/IFX_TPM_RootCert_008.crt"}; !slices.Equal(expired, want) {
		t.Errorf("expired %q, want %q", expired, want)
	}
	if want := []string{"Infineon/IntermediateCA/IFX_TPM_EK_Intermediate_CA_02.crt"}; !slices.Equal(expiring, want) {
		t.Errorf("expiring %q, want %q", expiring, want)
	}
	if len(sha1) != 46 {
		t.Errorf("%d SHA-1-signed EK CAs, want 46 (DOMAIN.md)", len(sha1))
	}
	// 283 chain to a root of the release, 41 are self-signed roots, and the 36 AMD fTPM
	// intermediates lost their issuer (AMDTPM) when version.txt's 15-March-2022 entry removed
	// "AMD-fTPM-ECC-RootCA.crt" and "AMD-fTPM-RSA-RootCA.crt".
	if want := map[string]int{EKChainOK: 283, EKChainSelfSignedRoot: 41, EKChainNoIssuer: 36}; !mapsEqual(chains, want) {
		t.Errorf("chains %v, want %v", chains, want)
	}
	for _, x := range st {
		if x.Chain == EKChainNoIssuer && (x.VendorFolder != "AMD" || x.ChainDetail == "") {
			t.Errorf("%s: %s %q", x.Path, x.Chain, x.ChainDetail)
		}
	}

	ifx := ekFindStatus(t, st, "Infineon/IntermediateCA/IFX_TPM_EK_Intermediate_CA_01.crt")
	if !ifx.Expired || ifx.Expiring || !ifx.SHA1Signature || ifx.DaysLeft != -399 ||
		!ifx.NotAfter.Equal(time.Date(2025, 10, 20, 13, 47, 43, 0, time.UTC)) {
		t.Errorf("IFX CA 01: %+v", ifx)
	}
	// SHA-1 signatures are checked (crypto/x509's CheckSignature still accepts them): the CA
	// chains through IFX TPM EK Root CA (a RootCA-folder certificate issued by VeriSign) to
	// the VeriSign TPM root shipped as IFX-RootCA.cer.
	if ifx.Chain != EKChainOK || !slices.Equal(ifx.ChainPath, []string{"Infineon/RootCA/IFX TPM EK Root CA.cer", "Infineon/RootCA/IFX-RootCA.cer"}) {
		t.Errorf("IFX CA 01 chain %s %q %s", ifx.Chain, ifx.ChainPath, ifx.ChainDetail)
	}
	if ifx.AIKHost != "ifx-keyid-3893cdbdd873c4233315e1b13ba96a0d23cc10c7.microsoftaik.azure.net" {
		t.Errorf("IFX CA 01 AIK host %q", ifx.AIKHost)
	}
	// An Intel ODCA issuing CA chains through the ODCA CSME intermediate (shipped in RootCA)
	// to the OnDie root.
	adl := ekFindStatus(t, st, "Intel/IntermediateCA/ADL_PROD_00002226_ODCA_CA2.cer")
	if adl.Chain != EKChainOK || adl.IssuerPath != "Intel/RootCA/ODCA_CA2_CSME_Intermediate.cer" ||
		!slices.Equal(adl.ChainPath, []string{"Intel/RootCA/ODCA_CA2_CSME_Intermediate.cer", "Intel/RootCA/OnDie_CA_RootCA_Certificate.cer"}) ||
		adl.Expired || adl.SHA1Signature || adl.AIKHost != "intc-keyid-34219b21f477f6c7f78a0f26b23d0430deea4363.microsoftaik.azure.net" {
		t.Errorf("ADL ODCA CA: %+v", adl)
	}
	// An issuer name written with other string types (PrintableString in the root,
	// UTF8String in the intermediates' issuer) still chains, as RFC 5280 7.1 compares names.
	stm := ekFindStatus(t, st, "STMicro/IntermediateCA/STM TPM ECC Intermediate CA 02.der")
	if stm.Chain != EKChainOK || stm.IssuerPath != "STMicro/RootCA/STM TPM ECC Root CA 01.crt" {
		t.Errorf("STM ECC CA 02: %s %s %s", stm.Chain, stm.IssuerPath, stm.ChainDetail)
	}
	amd := ekFindStatus(t, st, "AMD/IntermediateCA/AMD-fTPM-RSA-ICA-STXFamily-AC721D42534F54F84DBA160B17E1C920.crt")
	if amd.Chain != EKChainNoIssuer || amd.AIKHost != "amd-keyid-1b4973cf8074bc4dd4b9de8a336fe3152ce6ec9d.microsoftaik.azure.net" {
		t.Errorf("AMD STX: %+v", amd)
	}
	root := ekFindStatus(t, st, "Intel/RootCA/OnDie_CA_RootCA_Certificate.cer")
	if root.Chain != EKChainSelfSignedRoot || len(root.ChainPath) != 0 {
		t.Errorf("OnDie root: %+v", root)
	}

	// Without the members' bytes nothing can be chained, but expiry still is reported.
	bare := EKCACheck(s, nil, ekTestNow, 0)
	if x := ekFindStatus(t, bare, ifx.Path); x.Chain != EKChainUnknown || !x.Expired || x.ChainDetail == "" {
		t.Errorf("without files: %+v", x)
	}
	if got := EKCACheck(nil, nil, ekTestNow, 0); got == nil || len(got) != 0 {
		t.Errorf("nil snapshot: %v", got)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// ekPKI issues throw-away certificates for the tests.
type ekPKI struct {
	t      *testing.T
	serial int64
}

// ekIssued is one certificate with its key.
type ekIssued struct {
	cert *x509.Certificate
	der  []byte
	key  crypto.Signer
}

// ekCertOpts describes a certificate to issue.
type ekCertOpts struct {
	subject   pkix.Name
	rawSubj   []byte // overrides subject when set
	ca        bool
	ski       []byte // explicit subject key id; nil lets crypto/x509 derive one for CAs
	noSKI     bool
	notBefore time.Time
	notAfter  time.Time
	san       []byte // raw SubjectAltName extension value
	sigAlg    x509.SignatureAlgorithm
}

func (p *ekPKI) issue(o ekCertOpts, parent *ekIssued) *ekIssued {
	p.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serial++
	if o.notBefore.IsZero() {
		o.notBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Date(2045, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(p.serial),
		Subject:               o.subject,
		RawSubject:            o.rawSubj,
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		BasicConstraintsValid: true,
		IsCA:                  o.ca,
		SubjectKeyId:          o.ski,
		SignatureAlgorithm:    o.sigAlg,
	}
	if o.ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageKeyEncipherment
	}
	if o.noSKI {
		tmpl.SubjectKeyId = nil
	}
	if o.san != nil {
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: ekOIDSubjectAltName, Critical: true, Value: o.san})
	}
	signer, parentCert := crypto.Signer(key), tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, signer)
	if err != nil {
		p.t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		p.t.Fatal(err)
	}
	if o.noSKI && len(c.SubjectKeyId) > 0 {
		p.t.Fatalf("certificate got an SKI")
	}
	return &ekIssued{cert: c, der: der, key: key}
}

// ekTCGSAN returns a SubjectAltName value holding one directoryName with the TCG TPM
// manufacturer, model and version attributes.
func ekTCGSAN(t *testing.T, manufacturer, model, version string) []byte {
	t.Helper()
	rdn := pkix.RDNSequence{
		{{Type: ekOIDTPMManufacturer, Value: manufacturer}},
		{{Type: ekOIDTPMModel, Value: model}},
		{{Type: ekOIDTPMVersion, Value: version}},
	}
	name, err := asn1.Marshal(rdn)
	if err != nil {
		t.Fatal(err)
	}
	gn, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: name})
	if err != nil {
		t.Fatal(err)
	}
	san, err := asn1.Marshal([]asn1.RawValue{{FullBytes: gn}})
	if err != nil {
		t.Fatal(err)
	}
	return san
}

func TestEKCACheckSyntheticChains(t *testing.T) {
	p := &ekPKI{t: t}
	root := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "Test EK Root"}, ca: true}, nil)
	inter := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "Test EK Intermediate"}, ca: true}, root)
	issuing := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "Test EK Issuing CA"}, ca: true}, inter)
	// An impostor named like the intermediate but with another key: certificates it did not
	// sign still name it as issuer.
	impostorRoot := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "Other Root"}, ca: true}, nil)
	impostorParent := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "Test EK Orphan Parent"}, ca: true}, impostorRoot)
	orphanChild := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "Test EK Orphan Child"}, ca: true}, impostorParent)
	fakeParent := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "Test EK Orphan Parent"}, ca: true}, root)
	// A RootCA-folder certificate issued by a root the release does not ship.
	crossAnchor := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "Cross Anchor"}, ca: true}, impostorRoot)
	underAnchor := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "Under Anchor"}, ca: true}, crossAnchor)
	expiring := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "Expiring"}, ca: true,
		notAfter: ekTestNow.Add(10 * 24 * time.Hour)}, root)
	aikCA := p.issue(ekCertOpts{subject: pkix.Name{CommonName: "IFX-KEYID-" + hexUpper(issuing.cert.SubjectKeyId)}, ca: true}, root)

	files := []trustlist.File{
		{Path: "Test/RootCA/root.cer", Data: root.der},
		{Path: "Test/IntermediateCA/inter.cer", Data: inter.der},
		{Path: "Test/IntermediateCA/issuing.cer", Data: issuing.der},
		{Path: "Test/IntermediateCA/orphan-child.cer", Data: orphanChild.der},
		{Path: "Test/IntermediateCA/fake-parent.cer", Data: fakeParent.der},
		{Path: "Test/RootCA/cross-anchor.cer", Data: crossAnchor.der},
		{Path: "Test/IntermediateCA/under-anchor.cer", Data: underAnchor.der},
		{Path: "Test/IntermediateCA/expiring.cer", Data: expiring.der},
		{Path: "Test/IntermediateCA/garbage.cer", Data: []byte("not a certificate")},
		{Path: "Microsoft/IntermediateCA/IFX-KEYID-" + hexUpper(issuing.cert.SubjectKeyId) + ".cer", Data: aikCA.der},
	}
	s, err := trustlist.Index(files)
	if err != nil {
		t.Fatal(err)
	}
	st := EKCACheck(s, files, ekTestNow, 0)
	for _, tc := range []struct {
		path, chain string
		chainPath   []string
	}{
		{"Test/RootCA/root.cer", EKChainSelfSignedRoot, nil},
		{"Test/IntermediateCA/inter.cer", EKChainOK, []string{"Test/RootCA/root.cer"}},
		{"Test/IntermediateCA/issuing.cer", EKChainOK, []string{"Test/IntermediateCA/inter.cer", "Test/RootCA/root.cer"}},
		{"Test/IntermediateCA/orphan-child.cer", EKChainBadSignature, nil},
		{"Test/IntermediateCA/fake-parent.cer", EKChainOK, []string{"Test/RootCA/root.cer"}},
		{"Test/RootCA/cross-anchor.cer", EKChainRootFolderAnchor, nil},
		{"Test/IntermediateCA/under-anchor.cer", EKChainOK, []string{"Test/RootCA/cross-anchor.cer"}},
		{"Test/IntermediateCA/expiring.cer", EKChainOK, []string{"Test/RootCA/root.cer"}},
	} {
		x := ekFindStatus(t, st, tc.path)
		if x.Chain != tc.chain || !slices.Equal(x.ChainPath, tc.chainPath) {
			t.Errorf("%s: chain %s %q (%s), want %s %q", tc.path, x.Chain, x.ChainPath, x.ChainDetail, tc.chain, tc.chainPath)
		}
	}
	if x := ekFindStatus(t, st, "Test/IntermediateCA/expiring.cer"); !x.Expiring || x.Expired || x.DaysLeft != 10 {
		t.Errorf("expiring: %+v", x)
	}
	if x := ekFindStatus(t, st, "Test/IntermediateCA/issuing.cer"); x.AIKHost != "ifx-keyid-"+hexLower(issuing.cert.SubjectKeyId)+".microsoftaik.azure.net" {
		t.Errorf("issuing AIK host %q", x.AIKHost)
	}
	if x := ekFindStatus(t, EKCACheck(s, files, ekTestNow, 5*24*time.Hour), "Test/IntermediateCA/expiring.cer"); x.Expiring {
		t.Errorf("5-day window: %+v", x)
	}
	// The unparseable member is not an EK CA of the snapshot: trustlist reports it as an anomaly.
	for _, x := range st {
		if x.Path == "Test/IntermediateCA/garbage.cer" {
			t.Errorf("garbage listed: %+v", x)
		}
	}
	// Remove the root: the whole chain loses its anchor.
	var noRoot []trustlist.File
	for _, f := range files {
		if f.Path != "Test/RootCA/root.cer" {
			noRoot = append(noRoot, f)
		}
	}
	s2, _ := trustlist.Index(noRoot)
	st2 := EKCACheck(s2, noRoot, ekTestNow, 0)
	if x := ekFindStatus(t, st2, "Test/IntermediateCA/issuing.cer"); x.Chain != EKChainNoIssuer || x.IssuerPath != "Test/IntermediateCA/inter.cer" {
		t.Errorf("no root: %+v", x)
	}
}

func hexLower(b []byte) string { return hexString(b, "0123456789abcdef") }
func hexUpper(b []byte) string { return hexString(b, "0123456789ABCDEF") }

func hexString(b []byte, digits string) string {
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
