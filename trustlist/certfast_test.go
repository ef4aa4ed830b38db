package trustlist

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

// slowCertInfo is the index's reference: crypto/x509 and certInfo, with the error text the
// index reported before the fast reader existed.
func slowCertInfo(data []byte, names *nameCache) (*CertInfo, error) {
	c, enc, err := ParseCertificate(data)
	if err != nil {
		return nil, err
	}
	return certInfo(c, enc, names), nil
}

// diffInfo lists the fields in which a and b differ.
func diffInfo(a, b *CertInfo) []string {
	if a == nil || b == nil {
		return []string{fmt.Sprintf("nil: %v vs %v", a == nil, b == nil)}
	}
	var out []string
	va, vb := reflect.ValueOf(*a), reflect.ValueOf(*b)
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, fmt.Sprintf("%s: fast %#v, x509 %#v", va.Type().Field(i).Name, va.Field(i).Interface(), vb.Field(i).Interface()))
		}
	}
	return out
}

// checkSame holds the fast reader to its promise on one DER certificate: when it answers,
// crypto/x509 parses the certificate and certInfo says exactly the same. It reports whether
// the fast reader answered.
func checkSame(t testing.TB, name string, der []byte) bool {
	t.Helper()
	fast, ferr := fastCertInfo(der, "DER", "", &nameCache{})
	c, xerr := x509.ParseCertificate(der)
	if ferr != nil {
		return false
	}
	if xerr != nil {
		t.Fatalf("%s: fast reader accepted what crypto/x509 rejects: %v", name, xerr)
	}
	if d := diffInfo(fast, certInfo(c, "DER", &nameCache{})); d != nil {
		t.Fatalf("%s: fast reader and crypto/x509 differ:\n%s", name, strings.Join(d, "\n"))
	}
	return true
}

// checkRead compares readCertInfo with the index's reference on one member's bytes: the same
// CertInfo or the same error text.
func checkRead(t testing.TB, data []byte) {
	t.Helper()
	sum := sha256.Sum256(data)
	got, gerr := readCertInfo(data, hex.EncodeToString(sum[:]), &nameCache{})
	want, werr := slowCertInfo(data, &nameCache{})
	switch {
	case (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error():
		t.Fatalf("%q: error %v, want %v", data, gerr, werr)
	case gerr == nil:
		if d := diffInfo(got, want); d != nil {
			t.Fatalf("%q: differs from crypto/x509:\n%s", data, strings.Join(d, "\n"))
		}
	}
}

// realCertFiles returns every member of both real releases and every vendor certificate.
func realCertFiles(t testing.TB) []File {
	t.Helper()
	files, err := loadRealCertFiles()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// loadRealCertFiles reads the real files once for all the tests that use them.
var loadRealCertFiles = sync.OnceValues(func() ([]File, error) {
	var files []File
	for _, cab := range []string{testutil.NovCab, testutil.JunCab} {
		data, err := os.ReadFile(cab)
		if err != nil {
			return nil, err
		}
		fs, err := ReadCab(context.Background(), data, Options{}.limits())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cab, err)
		}
		for _, f := range fs {
			files = append(files, File{Path: filepath.Base(cab) + "/" + f.Path, Data: f.Data})
		}
	}
	dir := testutil.Testdata("tpm-vendor-certs")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if e.IsDir() || e.Name() == "SOURCES.md" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: "tpm-vendor-certs/" + e.Name(), Data: data})
	}
	return files, nil
})

// TestCertFastRealCertificates compares the fast reader with crypto/x509 on every member of
// both real releases and every vendor certificate, with a fresh name cache for each (so every
// name is parsed) and with one shared cache (as the index uses it).
func TestCertFastRealCertificates(t *testing.T) {
	files := realCertFiles(t)
	shared := &nameCache{}
	var certs, fastOK, x509Fail int
	reasons := map[string][]string{}
	for _, f := range files {
		sum := sha256.Sum256(f.Data)
		sumHex := hex.EncodeToString(sum[:])
		want, werr := slowCertInfo(f.Data, &nameCache{})
		for _, names := range []*nameCache{{}, shared} {
			got, gerr := readCertInfo(f.Data, sumHex, names)
			switch {
			case (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error():
				t.Fatalf("%s: error %v, want %v", f.Path, gerr, werr)
			case werr == nil:
				if d := diffInfo(got, want); d != nil {
					t.Fatalf("%s: differs from crypto/x509:\n%s", f.Path, strings.Join(d, "\n"))
				}
			}
		}
		der, enc, err := certificateDER(f.Data)
		if err != nil {
			continue // not a certificate at all: same error either way (checked above)
		}
		certs++
		_, ferr := fastCertInfo(der, enc, "", &nameCache{})
		if werr != nil {
			x509Fail++
			if ferr == nil {
				t.Fatalf("%s: fast reader accepted what crypto/x509 rejects: %v", f.Path, werr)
			}
			reasons[ferr.Error()+" (x509: "+werr.Error()+")"] = append(reasons[ferr.Error()+" (x509: "+werr.Error()+")"], f.Path)
			continue
		}
		if ferr != nil {
			reasons[ferr.Error()] = append(reasons[ferr.Error()], f.Path)
			continue
		}
		fastOK++
	}
	t.Logf("%d files, %d certificates: %d read by the fast reader, %d fell back (%d of them rejected by crypto/x509)",
		len(files), certs, fastOK, certs-fastOK, x509Fail)
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("  %d × %s: %s", len(reasons[k]), k, strings.Join(reasons[k], ", "))
	}
	// Every certificate crypto/x509 reads, the fast reader reads too: the real releases hold
	// nothing it does not know. Both releases carry the six STMicro intermediates with a
	// non-minimal serial number, and the vendor certificates one of them.
	if certs-fastOK != x509Fail {
		t.Errorf("%d certificates crypto/x509 reads fell back", certs-fastOK-x509Fail)
	}
	if x509Fail != 13 {
		t.Errorf("certificates crypto/x509 rejects = %d, want 13 (6 in each release, 1 vendor file)", x509Fail)
	}
}

// TestCertFastIndexNov indexes the real Nov-2024 release and checks every member against
// crypto/x509: the snapshot is built from members alone, so equal members make equal
// snapshots.
func TestCertFastIndexNov(t *testing.T) {
	files := novFiles(t)
	s, err := Index(files)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]Member{}
	for _, m := range s.Members {
		byPath[m.Path] = m
	}
	n, parsed := 0, 0
	for _, f := range files {
		m := byPath[f.Path]
		if !m.IsCertificateFile() {
			continue
		}
		n++
		want, werr := slowCertInfo(f.Data, &nameCache{})
		if werr != nil {
			if m.ParseError != werr.Error() || m.Cert != nil {
				t.Errorf("%s: parse error %q, want %q", f.Path, m.ParseError, werr)
			}
			continue
		}
		if m.ParseError != "" {
			t.Errorf("%s: parse error %q, want none", f.Path, m.ParseError)
			continue
		}
		parsed++
		if d := diffInfo(m.Cert, want); d != nil {
			t.Errorf("%s: differs from crypto/x509:\n%s", f.Path, strings.Join(d, "\n"))
		}
	}
	if n != 2189 || parsed != 2183 {
		t.Errorf("certificate files = %d with %d parsed, want 2189 with 2183", n, parsed)
	}
}

// certTemplate is a certificate with every extension the index reads.
func certTemplate() *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: big.NewInt(0x1234),
		Subject: pkix.Name{CommonName: "IFX-KEYID-0123456789ABCDEF0123456789ABCDEF01234567", Organization: []string{"Example, Inc."},
			Country: []string{"DE"}, ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: "extra"}}},
		Issuer:                pkix.Name{CommonName: "Example Root"},
		NotBefore:             time.Date(2020, 2, 29, 12, 34, 56, 0, time.UTC),
		NotAfter:              time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		UnknownExtKeyUsage:    []asn1.ObjectIdentifier{{2, 23, 133, 8, 3}},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            2,
		SubjectKeyId:          []byte{1, 2, 3, 4, 5},
		AuthorityKeyId:        []byte{9, 8, 7},
		IssuingCertificateURL: []string{"http://example.test/ca.crt", "ldap://example.test/ca"},
		OCSPServer:            []string{"http://ocsp.example.test"},
		CRLDistributionPoints: []string{"http://example.test/a.crl", "http://example.test/b.crl"},
		PolicyIdentifiers:     []asn1.ObjectIdentifier{{1, 2, 840, 113556, 1, 8000, 2554, 1}},
	}
}

type testKey struct {
	name string
	pub  any
	priv any
}

func testKeys(t testing.TB) []testKey {
	t.Helper()
	var keys []testKey
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, testKey{"rsa", &rk.PublicKey, rk})
	for _, c := range []elliptic.Curve{elliptic.P224(), elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, testKey{"ecdsa-" + c.Params().Name, &k.PublicKey, k})
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return append(keys, testKey{"ed25519", pub, priv})
}

// TestCertFastGenerated checks certificates made by crypto/x509 with every key type and
// variations of the fields the index reads.
func TestCertFastGenerated(t *testing.T) {
	keys := testKeys(t)
	variants := map[string]func(*x509.Certificate){
		"full": func(*x509.Certificate) {},
		"no extensions": func(c *x509.Certificate) {
			*c = x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: c.NotBefore, NotAfter: c.NotAfter}
		},
		"zero serial": func(c *x509.Certificate) { c.SerialNumber = big.NewInt(0) },
		"big serial": func(c *x509.Certificate) {
			c.SerialNumber, _ = new(big.Int).SetString("80ff00000000000000000000000000000001", 16)
		},
		"serial 0x0f":     func(c *x509.Certificate) { c.SerialNumber = big.NewInt(0x0f) },
		"2050 and later":  func(c *x509.Certificate) { c.NotAfter = time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC) },
		"before 1950":     func(c *x509.Certificate) { c.NotBefore = time.Date(1949, 12, 31, 23, 59, 59, 0, time.UTC) },
		"1969":            func(c *x509.Certificate) { c.NotBefore = time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC) },
		"not a CA":        func(c *x509.Certificate) { c.IsCA = false; c.MaxPathLen = -1 },
		"no AKI":          func(c *x509.Certificate) { c.AuthorityKeyId = nil },
		"OCSP only":       func(c *x509.Certificate) { c.IssuingCertificateURL = nil },
		"SAN":             func(c *x509.Certificate) { c.DNSNames = []string{"example.test"} },
		"name constraint": func(c *x509.Certificate) { c.PermittedDNSDomains = []string{"example.test"} },
		"unicode names": func(c *x509.Certificate) {
			c.Subject = pkix.Name{CommonName: "Zürich ❤ 東京", Organization: []string{"a+b", "c=d", "#e", " f "}, SerialNumber: "42"}
		},
	}
	fellBack := map[string]bool{}
	for _, k := range keys {
		for name, change := range variants {
			tmpl := certTemplate()
			change(tmpl)
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.pub, k.priv)
			if err != nil {
				t.Fatalf("%s %s: %v", k.name, name, err)
			}
			if !checkSame(t, k.name+" "+name, der) {
				fellBack[name] = true
				if name != "SAN" && name != "name constraint" {
					t.Errorf("%s %s: fell back", k.name, name)
				}
			}
		}
	}
	if !fellBack["SAN"] || !fellBack["name constraint"] {
		t.Errorf("subject alternative names and name constraints must send certificates to crypto/x509")
	}
}

// tlv encodes one DER element.
func tlv(tag byte, content []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.Tag(tag), func(b *cryptobyte.Builder) { b.AddBytes(content) })
	return b.BytesOrPanic()
}

// certParts is a certificate taken apart: the TBSCertificate's elements, the outer signature
// algorithm and the signature, each a whole DER element.
type certParts struct {
	tbs        [][]byte
	sigAI, sig []byte
}

func splitCert(t testing.TB, data []byte) certParts {
	t.Helper()
	der, _, err := certificateDER(data)
	if err != nil {
		t.Fatal(err)
	}
	in := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		t.Fatal("not a certificate")
	}
	var p certParts
	for !tbs.Empty() {
		var e cryptobyte.String
		if !tbs.ReadAnyASN1Element(&e, new(cbasn1.Tag)) {
			t.Fatal("bad TBSCertificate")
		}
		p.tbs = append(p.tbs, e)
	}
	var sigAI, sig cryptobyte.String
	if !cert.ReadAnyASN1Element(&sigAI, new(cbasn1.Tag)) || !cert.ReadAnyASN1Element(&sig, new(cbasn1.Tag)) {
		t.Fatal("bad certificate")
	}
	p.sigAI, p.sig = sigAI, sig
	return p
}

func (p certParts) join() []byte {
	var tbs []byte
	for _, e := range p.tbs {
		tbs = append(tbs, e...)
	}
	return tlv(0x30, append(append(tlv(0x30, tbs), p.sigAI...), p.sig...))
}

func (p certParts) clone() certParts {
	q := p
	q.tbs = append([][]byte(nil), p.tbs...)
	return q
}

// v3 TBSCertificate element positions.
const (
	tbsVersion = iota
	tbsSerial
	tbsSigAI
	tbsIssuer
	tbsValidity
	tbsSubject
	tbsSPKI
	tbsExtensions
)

func oidBytes(oid asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(oid)
	if err != nil {
		panic(err)
	}
	return b
}

// extension encodes an Extension; critical < 0 leaves the field out.
func extension(oid asn1.ObjectIdentifier, critical int, value []byte) []byte {
	b := oidBytes(oid)
	if critical >= 0 {
		b = append(b, tlv(0x01, []byte{byte(critical)})...)
	}
	return tlv(0x30, append(b, tlv(0x04, value)...))
}

func withExtensions(p certParts, exts ...[]byte) certParts {
	q := p.clone()
	var all []byte
	for _, e := range exts {
		all = append(all, e...)
	}
	q.tbs[tbsExtensions] = tlv(0xa3, tlv(0x30, all))
	return q
}

// TestCertFastMutations takes a real certificate apart and changes what the fast reader
// reads: encodings crypto/x509 rejects, algorithms, times, names and extensions. Each must
// either be read exactly as crypto/x509 reads it or be left to crypto/x509; the cases the
// fast reader exists for must not fall back.
func TestCertFastMutations(t *testing.T) {
	base := splitCert(t, testutil.ReadTestdata(t, "tpm-vendor-certs", "EUS-IFX-KEYID-090CAAE1858A3C3A3B6D4DF8978916FB205FCA90.cer"))
	if len(base.tbs) != 8 {
		t.Fatalf("test certificate has %d TBSCertificate elements, want 8", len(base.tbs))
	}
	var fellBack []string // certificates crypto/x509 reads that the fast reader left to it
	mustRead := func(name string, p certParts) {
		t.Helper()
		if !checkSame(t, name, p.join()) {
			t.Errorf("%s: fell back", name)
		}
	}
	mayRead := func(name string, p certParts) bool {
		t.Helper()
		ok := checkSame(t, name, p.join())
		if _, err := x509.ParseCertificate(p.join()); !ok && err == nil {
			fellBack = append(fellBack, name)
		}
		return ok
	}
	mustRead("unchanged", base)

	// Version and serial number.
	for _, v := range [][]byte{nil, {0xa0, 0x03, 0x02, 0x01, 0x00}, {0xa0, 0x03, 0x02, 0x01, 0x01}, {0xa0, 0x03, 0x02, 0x01, 0x03},
		{0xa0, 0x04, 0x02, 0x02, 0x00, 0x02}, {0xa0, 0x03, 0x02, 0x01, 0xff}, {0xa0, 0x04, 0x02, 0x01, 0x02, 0x00}, {0xa0, 0x00}} {
		p := base.clone()
		if v == nil {
			p.tbs = p.tbs[1:] // v1: everything after the key is ignored
		} else {
			p.tbs[tbsVersion] = v
		}
		mayRead(fmt.Sprintf("version %x", v), p)
	}
	for _, s := range [][]byte{{0}, {1}, {0x7f}, {0x00, 0x80}, {0x00, 0x00, 0x80}, {0x00, 0x7f}, {0xff, 0x80}, {0x80}, {}, {0x0f, 0xff}, {0x01, 0x00}} {
		p := base.clone()
		p.tbs[tbsSerial] = tlv(0x02, s)
		ok := mayRead(fmt.Sprintf("serial %x", s), p)
		if want := len(s) > 0 && s[0]&0x80 == 0 && minimalInteger(s); ok != want {
			t.Errorf("serial %x: fast reader answered %v, want %v", s, ok, want)
		}
	}

	// Signature algorithms: every OID crypto/x509 names, with and without parameters, and
	// some it does not.
	sigOIDs := []asn1.ObjectIdentifier{
		{1, 2, 840, 113549, 1, 1, 2}, {1, 2, 840, 113549, 1, 1, 4}, {1, 2, 840, 113549, 1, 1, 5}, {1, 3, 14, 3, 2, 29},
		{1, 2, 840, 113549, 1, 1, 11}, {1, 2, 840, 113549, 1, 1, 12}, {1, 2, 840, 113549, 1, 1, 13},
		{1, 2, 840, 113549, 1, 1, 10}, {1, 2, 840, 10040, 4, 3}, {2, 16, 840, 1, 101, 3, 4, 3, 2},
		{1, 2, 840, 10045, 4, 1}, {1, 2, 840, 10045, 4, 3, 2}, {1, 2, 840, 10045, 4, 3, 3}, {1, 2, 840, 10045, 4, 3, 4},
		{1, 3, 101, 112}, {1, 3, 101, 113}, {1, 2, 840, 113549, 1, 1, 14}, {2, 16, 840, 1, 101, 3, 4, 3, 10},
	}
	for _, oid := range sigOIDs {
		for _, params := range [][]byte{nil, {0x05, 0x00}, {0x30, 0x00}} {
			p := base.clone()
			ai := tlv(0x30, append(oidBytes(oid), params...))
			p.tbs[tbsSigAI], p.sigAI = ai, ai
			mayRead(fmt.Sprintf("signature %v %x", oid, params), p)
		}
	}
	for _, name := range []string{"SHA256-RSA", "SHA1-RSA", "ECDSA-SHA384", "Ed25519"} {
		found := false
		for _, v := range signatureAlgorithms {
			found = found || v == name
		}
		if !found {
			t.Errorf("signature algorithm %s missing from the table", name)
		}
	}
	{
		p := base.clone()
		p.sigAI = tlv(0x30, append(oidBytes(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}), 0x05, 0x00))
		if mayRead("inner and outer algorithms differ", p) {
			t.Error("inner and outer algorithms differ: fast reader answered")
		}
	}

	// Validity: the forms crypto/x509 accepts and some it does not.
	times := []string{
		"\x17\x0d200229123456Z", "\x17\x0d210229123456Z", "\x17\x0d491231235959Z", "\x17\x0d500101000000Z",
		"\x17\x0d680229000000Z", "\x17\x0d690101000000Z", "\x17\x0d991231235959Z", "\x17\x0d000101000000Z",
		"\x17\x0b2001011200Z", "\x17\x11200101120000+0100", "\x17\x0d200101126000Z", "\x17\x0d200101240000Z",
		"\x17\x0d201301120000Z", "\x17\x0d200100120000Z", "\x17\x0d200431120000Z", "\x17\x0d2001011200 0Z",
		"\x17\x0d20010112000aZ", "\x17\x0f20200101120000Z",
		"\x18\x0f20500101000000Z", "\x18\x0f99991231235959Z", "\x18\x0f00000101000000Z", "\x18\x0f19000229000000Z",
		"\x18\x0f20000229000000Z", "\x18\x1320200101120000.123Z", "\x18\x0d200101120000Z", "\x18\x1320200101120000+0000",
		"\x02\x01\x00",
	}
	for _, nb := range times {
		p := base.clone()
		var v cryptobyte.String = p.tbs[tbsValidity]
		var inner cryptobyte.String
		v.ReadASN1(&inner, cbasn1.SEQUENCE)
		var oldNB cryptobyte.String
		inner.ReadAnyASN1Element(&oldNB, new(cbasn1.Tag))
		p.tbs[tbsValidity] = tlv(0x30, append([]byte(nb), inner...))
		mayRead(fmt.Sprintf("notBefore %q", nb), p)
	}

	// Names: every string type crypto/x509 reads, good and bad values.
	cn := asn1.ObjectIdentifier{2, 5, 4, 3}
	attr := func(oid asn1.ObjectIdentifier, tag byte, v string) []byte {
		return tlv(0x31, tlv(0x30, append(oidBytes(oid), tlv(tag, []byte(v))...)))
	}
	nameValues := []struct {
		tag byte
		v   string
	}{
		{12, "UTF8 Zürich"}, {12, "bad \xff"}, {19, "Printable*&"}, {19, "bad_underscore"}, {20, "T61 \xe9\xff"},
		{22, "IA5 a@b"}, {22, "IA5 \x80"}, {18, "123 456"}, {18, "12a"}, {30, "\x00B\x00M\x00P\x00\x00"},
		{30, "\x00B\x00"}, {30, "\xd8\x00\x00a"}, {30, "\xff\xfe"}, {30, "\x00a\x00"}, {4, "octet"}, {0x2c, "constructed"},
		{28, "universal"}, {12, ""},
	}
	for _, nv := range nameValues {
		for _, which := range []int{tbsSubject, tbsIssuer} {
			p := base.clone()
			p.tbs[which] = tlv(0x30, append(attr(asn1.ObjectIdentifier{2, 5, 4, 6}, 19, "DE"), attr(cn, nv.tag, nv.v)...))
			mayRead(fmt.Sprintf("name element %d tag %d %q", which, nv.tag, nv.v), p)
		}
	}
	for i, raw := range [][]byte{
		tlv(0x30, nil),
		tlv(0x30, tlv(0x31, nil)),
		tlv(0x30, append(attr(cn, 12, "first"), attr(cn, 12, "second")...)),
		tlv(0x30, tlv(0x31, append(tlv(0x30, append(oidBytes(cn), tlv(12, []byte("a"))...)), tlv(0x30, append(oidBytes(asn1.ObjectIdentifier{2, 5, 4, 10}), tlv(12, []byte("b"))...))...))),
		tlv(0x30, attr(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, 22, "a@example.test")),
		tlv(0x30, tlv(0x31, tlv(0x30, append([]byte{0x06, 0x01, 0x80}, tlv(12, []byte("a"))...)))),
		tlv(0x30, tlv(0x31, tlv(0x30, oidBytes(cn)))),
		tlv(0x31, attr(cn, 12, "a set")),
	} {
		p := base.clone()
		p.tbs[tbsSubject] = raw
		mayRead(fmt.Sprintf("subject %d", i), p)
	}

	// Extensions.
	var (
		ski  = extension(asn1.ObjectIdentifier{2, 5, 29, 14}, -1, tlv(0x04, []byte{1, 2, 3}))
		aki  = extension(asn1.ObjectIdentifier{2, 5, 29, 35}, -1, tlv(0x30, tlv(0x80, []byte{4, 5, 6})))
		bc   = extension(asn1.ObjectIdentifier{2, 5, 29, 19}, 0xff, tlv(0x30, tlv(0x01, []byte{0xff})))
		ku   = extension(asn1.ObjectIdentifier{2, 5, 29, 15}, 0xff, tlv(0x03, []byte{1, 0x86}))
		aia  = extension(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 1}, -1, tlv(0x30, tlv(0x30, append(oidBytes(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 2}), tlv(0x86, []byte("http://a"))...))))
		crl  = extension(asn1.ObjectIdentifier{2, 5, 29, 31}, -1, tlv(0x30, tlv(0x30, tlv(0xa0, tlv(0xa0, tlv(0x86, []byte("http://crl")))))))
		ms   = extension(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 21, 7}, 0xff, []byte("anything"))
		high = extension(asn1.ObjectIdentifier{2, 5, 29, 200}, 0xff, []byte("anything"))
	)
	mustRead("all read extensions", withExtensions(base, ski, aki, bc, ku, aia, crl, ms, high))
	mustRead("no extensions", withExtensions(base))
	extCases := map[string][][]byte{
		"duplicate SKI":           {ski, ski},
		"duplicate unknown":       {ms, ms},
		"critical SKI":            {extension(asn1.ObjectIdentifier{2, 5, 29, 14}, 0xff, tlv(0x04, []byte{1}))},
		"critical AKI":            {extension(asn1.ObjectIdentifier{2, 5, 29, 35}, 0xff, tlv(0x30, nil))},
		"critical AIA":            {extension(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 1}, 0xff, tlv(0x30, nil))},
		"explicit false":          {extension(asn1.ObjectIdentifier{2, 5, 29, 14}, 0, tlv(0x04, []byte{1}))},
		"bad boolean":             {extension(asn1.ObjectIdentifier{2, 5, 29, 14}, 1, tlv(0x04, []byte{1}))},
		"SKI not octets":          {extension(asn1.ObjectIdentifier{2, 5, 29, 14}, -1, tlv(0x03, []byte{0, 1}))},
		"SKI empty":               {extension(asn1.ObjectIdentifier{2, 5, 29, 14}, -1, tlv(0x04, nil))},
		"AKI issuer only":         {extension(asn1.ObjectIdentifier{2, 5, 29, 35}, -1, tlv(0x30, tlv(0xa1, nil)))},
		"AKI constructed [0]":     {extension(asn1.ObjectIdentifier{2, 5, 29, 35}, -1, tlv(0x30, tlv(0xa0, nil)))},
		"AKI empty [0]":           {extension(asn1.ObjectIdentifier{2, 5, 29, 35}, -1, tlv(0x30, tlv(0x80, nil)))},
		"AKI not a sequence":      {extension(asn1.ObjectIdentifier{2, 5, 29, 35}, -1, tlv(0x04, nil))},
		"BC empty":                {extension(asn1.ObjectIdentifier{2, 5, 29, 19}, -1, tlv(0x30, nil))},
		"BC path length":          {extension(asn1.ObjectIdentifier{2, 5, 29, 19}, -1, tlv(0x30, append(tlv(0x01, []byte{0xff}), tlv(0x02, []byte{5})...)))},
		"BC negative length":      {extension(asn1.ObjectIdentifier{2, 5, 29, 19}, -1, tlv(0x30, append(tlv(0x01, []byte{0xff}), tlv(0x02, []byte{0xff})...)))},
		"BC huge length":          {extension(asn1.ObjectIdentifier{2, 5, 29, 19}, -1, tlv(0x30, tlv(0x02, []byte{0x00, 0x80, 0, 0, 0, 0, 0, 0, 0})))},
		"BC max length":           {extension(asn1.ObjectIdentifier{2, 5, 29, 19}, -1, tlv(0x30, tlv(0x02, []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})))},
		"BC bad boolean":          {extension(asn1.ObjectIdentifier{2, 5, 29, 19}, -1, tlv(0x30, tlv(0x01, []byte{1})))},
		"BC false":                {extension(asn1.ObjectIdentifier{2, 5, 29, 19}, -1, tlv(0x30, tlv(0x01, []byte{0})))},
		"KU bad padding":          {extension(asn1.ObjectIdentifier{2, 5, 29, 15}, -1, tlv(0x03, []byte{1, 0x87}))},
		"KU empty":                {extension(asn1.ObjectIdentifier{2, 5, 29, 15}, -1, tlv(0x03, nil))},
		"AIA OCSP and issuers":    {extension(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 1}, -1, tlv(0x30, append(tlv(0x30, append(oidBytes(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1}), tlv(0x86, []byte("http://ocsp"))...)), tlv(0x30, append(oidBytes(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 2}), tlv(0x86, []byte("http://b"))...))...)))},
		"AIA directory name":      {extension(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 1}, -1, tlv(0x30, tlv(0x30, append(oidBytes(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 2}), tlv(0xa4, tlv(0x30, nil))...))))},
		"AIA bad method":          {extension(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 1}, -1, tlv(0x30, tlv(0x30, append([]byte{0x06, 0x01, 0x80}, tlv(0x86, []byte("http://b"))...))))},
		"AIA empty":               {extension(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 1}, -1, tlv(0x30, nil))},
		"CRL no name":             {extension(asn1.ObjectIdentifier{2, 5, 29, 31}, -1, tlv(0x30, tlv(0x30, nil)))},
		"CRL relative name":       {extension(asn1.ObjectIdentifier{2, 5, 29, 31}, -1, tlv(0x30, tlv(0x30, tlv(0xa0, tlv(0xa1, nil)))))},
		"CRL URI after dirName":   {extension(asn1.ObjectIdentifier{2, 5, 29, 31}, -1, tlv(0x30, tlv(0x30, tlv(0xa0, tlv(0xa0, append(tlv(0xa4, tlv(0x30, nil)), tlv(0x86, []byte("http://x"))...))))))},
		"CRL two points":          {extension(asn1.ObjectIdentifier{2, 5, 29, 31}, -1, tlv(0x30, append(tlv(0x30, tlv(0xa0, tlv(0xa0, tlv(0x86, []byte("http://1"))))), tlv(0x30, tlv(0xa0, tlv(0xa0, append(tlv(0x86, []byte("http://2")), tlv(0x86, []byte("http://3"))...))))...)))},
		"CRL not a sequence":      {extension(asn1.ObjectIdentifier{2, 5, 29, 31}, -1, tlv(0x04, nil))},
		"policies":                {extension(asn1.ObjectIdentifier{2, 5, 29, 32}, -1, tlv(0x30, append(tlv(0x30, oidBytes(asn1.ObjectIdentifier{2, 5, 29, 32, 0})), tlv(0x30, []byte{0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xff, 0xff, 0xff, 0xff, 0x7f})...)))},
		"policy duplicate":        {extension(asn1.ObjectIdentifier{2, 5, 29, 32}, -1, tlv(0x30, append(tlv(0x30, oidBytes(asn1.ObjectIdentifier{2, 5, 29, 32, 0})), tlv(0x30, oidBytes(asn1.ObjectIdentifier{2, 5, 29, 32, 0}))...)))},
		"policy bad OID":          {extension(asn1.ObjectIdentifier{2, 5, 29, 32}, -1, tlv(0x30, tlv(0x30, []byte{0x06, 0x02, 0x2b, 0x80})))},
		"policy padded OID":       {extension(asn1.ObjectIdentifier{2, 5, 29, 32}, -1, tlv(0x30, tlv(0x30, []byte{0x06, 0x03, 0x2b, 0x80, 0x01})))},
		"EKU":                     {extension(asn1.ObjectIdentifier{2, 5, 29, 37}, -1, tlv(0x30, append(oidBytes(asn1.ObjectIdentifier{2, 23, 133, 8, 3}), oidBytes(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1})...)))},
		"EKU huge OID":            {extension(asn1.ObjectIdentifier{2, 5, 29, 37}, -1, tlv(0x30, []byte{0x06, 0x06, 0x2b, 0x88, 0x80, 0x80, 0x80, 0x00}))},
		"EKU not OIDs":            {extension(asn1.ObjectIdentifier{2, 5, 29, 37}, -1, tlv(0x30, tlv(0x02, []byte{1})))},
		"SAN":                     {extension(asn1.ObjectIdentifier{2, 5, 29, 17}, -1, tlv(0x30, tlv(0x82, []byte("a.test"))))},
		"policy mappings":         {extension(asn1.ObjectIdentifier{2, 5, 29, 33}, -1, tlv(0x30, nil))},
		"policy constraints":      {extension(asn1.ObjectIdentifier{2, 5, 29, 36}, -1, tlv(0x30, nil))},
		"inhibit any policy":      {extension(asn1.ObjectIdentifier{2, 5, 29, 54}, -1, tlv(0x02, []byte{1}))},
		"name constraints":        {extension(asn1.ObjectIdentifier{2, 5, 29, 30}, -1, tlv(0x30, nil))},
		"bad extension OID":       {tlv(0x30, append([]byte{0x06, 0x02, 0x55, 0x80}, tlv(0x04, nil)...))},
		"long extension OID":      {extension(asn1.ObjectIdentifier{2, 5, 29, 14, 1}, 0xff, nil)},
		"extension no value":      {tlv(0x30, oidBytes(asn1.ObjectIdentifier{2, 5, 29, 14}))},
		"extension trailing":      {tlv(0x30, append(append(oidBytes(asn1.ObjectIdentifier{2, 5, 29, 14}), tlv(0x04, tlv(0x04, []byte{7}))...), 0x05, 0x00))},
		"many extensions":         manyExtensions(20),
		"extensions not a SEQ":    nil,
		"SKI value trailing":      {extension(asn1.ObjectIdentifier{2, 5, 29, 14}, -1, append(tlv(0x04, []byte{1}), 0x05, 0x00))},
		"BC trailing":             {extension(asn1.ObjectIdentifier{2, 5, 29, 19}, -1, append(tlv(0x30, tlv(0x01, []byte{0xff})), 0x05, 0x00))},
		"unknown 2.5.29 critical": {extension(asn1.ObjectIdentifier{2, 5, 29, 9}, 0xff, []byte{0x30, 0x00})},
	}
	for name, exts := range extCases {
		p := withExtensions(base, exts...)
		if name == "extensions not a SEQ" {
			p.tbs[tbsExtensions] = tlv(0xa3, tlv(0x31, nil))
		}
		ok := mayRead(name, p)
		switch name {
		case "policies", "EKU", "AIA OCSP and issuers", "CRL two points", "CRL URI after dirName", "BC path length", "many extensions",
			"AKI issuer only", "SKI empty", "explicit false", "unknown 2.5.29 critical":
			if !ok {
				t.Errorf("%s: fell back", name)
			}
		case "SAN", "policy mappings", "policy constraints", "inhibit any policy", "name constraints":
			if ok {
				t.Errorf("%s: fast reader answered for an extension it does not check", name)
			}
		}
	}

	// The fast reader leaves to crypto/x509 only what it does not know: signature algorithms
	// x509 calls unknown, RSA-PSS and Ed25519 with parameters, and the extensions it does not
	// check.
	want := []string{"SAN", "inhibit any policy", "policy constraints", "policy mappings"}
	for _, oid := range []string{"1.2.840.113549.1.1.2", "1.2.840.113549.1.1.10", "1.3.101.113", "1.2.840.113549.1.1.14", "2.16.840.1.101.3.4.3.10"} {
		for _, params := range []string{"", "0500", "3000"} {
			want = append(want, fmt.Sprintf("signature %s %s", oid, params))
		}
	}
	want = append(want, "signature 1.3.101.112 0500", "signature 1.3.101.112 3000")
	sort.Strings(want)
	sort.Strings(fellBack)
	if !reflect.DeepEqual(fellBack, want) {
		t.Errorf("fell back on %q\nwant %q", fellBack, want)
	}

	// Unique identifiers, trailing data, a bad signature.
	{
		p := base.clone()
		p.tbs = append(p.tbs[:tbsExtensions], append([][]byte{tlv(0x81, []byte{0}), tlv(0x82, []byte{0})}, p.tbs[tbsExtensions:]...)...)
		mustRead("unique identifiers", p)
	}
	{
		p := base.clone()
		p.tbs = append(p.tbs, tlv(0x05, nil))
		mayRead("TBSCertificate trailing element", p)
	}
	{
		p := base.clone()
		p.sig = tlv(0x03, []byte{8, 0})
		if mayRead("bad signature bits", p) {
			t.Error("bad signature bit string: fast reader answered")
		}
	}
	{
		der := append(base.join(), 0)
		if checkSame(t, "trailing byte", der) {
			t.Error("trailing byte: fast reader answered")
		}
	}
}

func manyExtensions(n int) [][]byte {
	var out [][]byte
	for i := range n {
		out = append(out, extension(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, i}, -1, nil))
	}
	return out
}

// TestCertFastKeys changes the subject public key of a real certificate.
func TestCertFastKeys(t *testing.T) {
	base := splitCert(t, testutil.ReadTestdata(t, "tpm-vendor-certs", "EUS-IFX-KEYID-090CAAE1858A3C3A3B6D4DF8978916FB205FCA90.cer"))
	spki := func(oid asn1.ObjectIdentifier, params []byte, padding byte, key []byte) []byte {
		return tlv(0x30, append(tlv(0x30, append(oidBytes(oid), params...)), tlv(0x03, append([]byte{padding}, key...))...))
	}
	rsaOID, ecOID, dsaOID := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}, asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}, asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}
	null := []byte{0x05, 0x00}
	rsaKey := func(n, e []byte) []byte { return tlv(0x30, append(tlv(0x02, n), tlv(0x02, e)...)) }
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	point, err := ec.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	badPoint := append([]byte(nil), point...)
	badPoint[len(badPoint)-1] ^= 1
	p256 := oidBytes(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	dsaParams := tlv(0x30, append(append(tlv(0x02, []byte{0x17}), tlv(0x02, []byte{0x0b})...), tlv(0x02, []byte{0x02})...))
	cases := []struct {
		name string
		spki []byte
		want bool // the fast reader must answer
	}{
		{"rsa", spki(rsaOID, null, 0, rsaKey([]byte{0x00, 0xc1, 0x05}, []byte{1, 0, 1})), true},
		{"rsa no null", spki(rsaOID, nil, 0, rsaKey([]byte{0x00, 0xc1, 0x05}, []byte{1, 0, 1})), false},
		{"rsa zero modulus", spki(rsaOID, null, 0, rsaKey([]byte{0}, []byte{3})), false},
		{"rsa negative modulus", spki(rsaOID, null, 0, rsaKey([]byte{0xc1}, []byte{3})), false},
		{"rsa padded modulus", spki(rsaOID, null, 0, rsaKey([]byte{0x00, 0x41}, []byte{3})), false},
		{"rsa zero exponent", spki(rsaOID, null, 0, rsaKey([]byte{0x41}, []byte{0})), false},
		{"rsa 8-byte exponent", spki(rsaOID, null, 0, rsaKey([]byte{0x41}, []byte{0x7f, 1, 2, 3, 4, 5, 6, 7})), strconv.IntSize == 64},
		{"rsa 9-byte exponent", spki(rsaOID, null, 0, rsaKey([]byte{0x41}, []byte{0x00, 0x80, 1, 2, 3, 4, 5, 6, 7})), false},
		{"rsa negative exponent", spki(rsaOID, null, 0, rsaKey([]byte{0x41}, []byte{0xff})), false},
		{"rsa trailing", spki(rsaOID, null, 0, append(rsaKey([]byte{0x41}, []byte{3}), 0x05, 0x00)), true},
		{"rsa padding bits", spki(rsaOID, null, 1, rsaKey([]byte{0x41}, []byte{0x02})), false},
		{"rsa not a sequence", spki(rsaOID, null, 0, tlv(0x02, []byte{1})), false},
		{"ecdsa", spki(ecOID, p256, 0, point), true},
		{"ecdsa off curve", spki(ecOID, p256, 0, badPoint), false},
		{"ecdsa compressed", spki(ecOID, p256, 0, append([]byte{2}, point[1:33]...)), false},
		{"ecdsa wrong curve", spki(ecOID, oidBytes(asn1.ObjectIdentifier{1, 3, 132, 0, 34}), 0, point), false},
		{"ecdsa unknown curve", spki(ecOID, oidBytes(asn1.ObjectIdentifier{1, 3, 132, 0, 10}), 0, point), false},
		{"ecdsa no curve", spki(ecOID, nil, 0, point), false},
		{"ed25519", spki(asn1.ObjectIdentifier{1, 3, 101, 112}, nil, 0, make([]byte, 32)), true},
		{"ed25519 params", spki(asn1.ObjectIdentifier{1, 3, 101, 112}, null, 0, make([]byte, 32)), false},
		{"ed25519 short", spki(asn1.ObjectIdentifier{1, 3, 101, 112}, nil, 0, make([]byte, 31)), false},
		{"x25519", spki(asn1.ObjectIdentifier{1, 3, 101, 110}, nil, 0, make([]byte, 32)), false},
		{"dsa", spki(dsaOID, dsaParams, 0, tlv(0x02, []byte{0x05})), true},
		{"dsa zero y", spki(dsaOID, dsaParams, 0, tlv(0x02, []byte{0x00})), false},
		{"dsa no params", spki(dsaOID, nil, 0, tlv(0x02, []byte{0x05})), false},
		{"dsa short params", spki(dsaOID, tlv(0x30, tlv(0x02, []byte{0x17})), 0, tlv(0x02, []byte{0x05})), false},
		{"unknown", spki(asn1.ObjectIdentifier{1, 2, 3}, nil, 0, []byte{1}), false},
		{"bad bit string", spki(rsaOID, null, 8, nil), false},
	}
	for _, c := range cases {
		p := base.clone()
		p.tbs[tbsSPKI] = c.spki
		if got := checkSame(t, c.name, p.join()); got != c.want {
			t.Errorf("%s: fast reader answered %v, want %v", c.name, got, c.want)
		}
	}
}

// checkName holds formatName to its promise on one DER name: when it answers, crypto/x509's
// checks pass and pkix says the same. It reports whether formatName answered.
func checkName(t testing.TB, raw []byte) bool {
	t.Helper()
	id := sha1.Sum(raw)
	e, ok := formatName(raw, id[:])
	str, cn := e.str, e.cn
	rdns, err := parseRDNs(raw)
	if !ok {
		if err == nil && knownTypesOnly(rdns) {
			t.Fatalf("%x: formatName declined a valid name of types it knows", raw)
		}
		return false
	}
	if err != nil {
		t.Fatalf("%x: formatName answered for a name crypto/x509 rejects", raw)
	}
	var n pkix.Name
	n.FillFromRDNSequence(&rdns)
	if e.id != hex.EncodeToString(id[:]) {
		t.Fatalf("%x: id %q", raw, e.id)
	}
	if str != n.String() || cn != n.CommonName {
		t.Fatalf("%x: formatName %q CN %q, pkix %q CN %q", raw, str, cn, n.String(), n.CommonName)
	}
	return true
}

// knownTypesOnly reports whether every attribute of rdns is one pkix prints by name.
func knownTypesOnly(rdns pkix.RDNSequence) bool {
	for _, rdn := range rdns {
		for _, atv := range rdn {
			t := atv.Type
			if len(t) != 4 || t[0] != 2 || t[1] != 5 || t[2] != 4 || !strings.Contains(",3,5,6,7,8,9,10,11,17,", fmt.Sprintf(",%d,", t[3])) {
				return false
			}
		}
	}
	return true
}

// TestCertFastNames compares formatName with pkix on every name of the real certificates and
// on random names made of the attribute types it knows, string types, awkward characters,
// repeated and empty values, multi-valued RDNs, and now and then a type it does not know.
func TestCertFastNames(t *testing.T) {
	seen := map[string]bool{}
	answered := 0
	for _, f := range realCertFiles(t) {
		c, _, err := ParseCertificate(f.Data)
		if err != nil {
			continue
		}
		for _, raw := range [][]byte{c.RawSubject, c.RawIssuer} {
			if seen[string(raw)] {
				continue
			}
			seen[string(raw)] = true
			if checkName(t, raw) {
				answered++
			}
		}
	}
	t.Logf("real names: %d distinct, %d formatted directly", len(seen), answered)
	if answered < len(seen)*9/10 {
		t.Errorf("formatName answered for %d of %d real names", answered, len(seen))
	}

	rng := mrand.New(mrand.NewPCG(1, 2))
	types := []asn1.ObjectIdentifier{{2, 5, 4, 3}, {2, 5, 4, 5}, {2, 5, 4, 6}, {2, 5, 4, 7}, {2, 5, 4, 8}, {2, 5, 4, 9},
		{2, 5, 4, 10}, {2, 5, 4, 11}, {2, 5, 4, 17}}
	odd := []asn1.ObjectIdentifier{{2, 5, 4, 12}, {2, 5, 4, 97}, {1, 2, 840, 113549, 1, 9, 1}, {2, 5, 4, 200}, {0, 9, 2342, 19200300, 100, 1, 25}}
	pieces := []string{"a", "Z", "0", " ", ",", "+", "#", "\\", "\"", "<", ">", ";", "=", "*", "&", "é", "東", "_", "\x00", "'", "(", "?", ":"}
	value := func() string {
		var b strings.Builder
		for range rng.IntN(6) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	encode := func(v string) []byte {
		switch rng.IntN(6) {
		case 0:
			return tlv(19, []byte(v)) // may not be printable: then x509 rejects it
		case 1:
			return tlv(22, []byte(v))
		case 2:
			var u []byte
			for _, r := range v {
				if r > 0xffff {
					r = '?'
				}
				u = append(u, byte(r>>8), byte(r))
			}
			if rng.IntN(3) == 0 {
				u = append(u, 0, 0)
			}
			return tlv(30, u)
		case 3:
			var l []byte
			for _, r := range v {
				l = append(l, byte(r))
			}
			return tlv(20, l)
		case 4:
			return tlv(18, []byte(v))
		}
		return tlv(12, []byte(v))
	}
	direct := 0
	const rounds = 10000
	for range rounds {
		var rdns []byte
		for range rng.IntN(7) {
			var set []byte
			for range 1 + rng.IntN(2) {
				oid := types[rng.IntN(len(types))]
				if rng.IntN(30) == 0 {
					oid = odd[rng.IntN(len(odd))]
				}
				set = append(set, tlv(0x30, append(oidBytes(oid), encode(value())...))...)
			}
			rdns = append(rdns, tlv(0x31, set)...)
		}
		if checkName(t, tlv(0x30, rdns)) {
			direct++
		}
	}
	t.Logf("random names: %d of %d formatted directly", direct, rounds)
	if direct < rounds/4 {
		t.Errorf("formatName answered for only %d of %d random names", direct, rounds)
	}
}

// checkPEM holds decodePEM to its promise: when it answers, fastPEM answers the same bytes.
// It reports whether decodePEM answered.
func checkPEM(t testing.TB, data []byte) bool {
	t.Helper()
	got, ok := decodePEM(make([]byte, 0, 7), data) // too small: decodePEM must grow it
	want, wantOK := fastPEM(data)
	if ok && (!wantOK || !bytes.Equal(got, want)) {
		t.Fatalf("%q: decodePEM %x, fastPEM %x %v", data, got, want, wantOK)
	}
	if ok {
		again, _ := decodePEM(got[:0], data) // reusing its own buffer
		if !bytes.Equal(again, want) {
			t.Fatalf("%q: decodePEM into a reused buffer %x, want %x", data, again, want)
		}
	}
	return ok
}

// TestCertFastPEM compares decodePEM with fastPEM on the real PEM files and on line
// layouts, line ends and paddings that line-by-line decoding must not get wrong.
func TestCertFastPEM(t *testing.T) {
	n, answered := 0, 0
	for _, f := range realCertFiles(t) {
		i := bytes.Index(f.Data, []byte("-----BEGIN"))
		if i < 0 {
			continue
		}
		n++
		ok := checkPEM(t, f.Data[i:])
		if _, fastOK := fastPEM(f.Data[i:]); fastOK && !ok {
			t.Errorf("%s: decodePEM declined what fastPEM reads", f.Path)
		}
		if ok {
			answered++
		}
	}
	t.Logf("%d PEM files, %d decoded line by line", n, answered)

	der := testutil.ReadTestdata(t, "tpm-vendor-certs", "AMD-Root-CA.crt")
	if d, _, err := certificateDER(der); err == nil {
		der = d
	}
	b64 := base64.StdEncoding.EncodeToString(der[:100]) // 136 characters, ends in "="
	wrap := func(body string) []byte {
		return []byte("-----BEGIN CERTIFICATE-----\n" + body + "\n-----END CERTIFICATE-----\n")
	}
	lines := func(width int, sep string) string {
		var parts []string
		for s := b64; len(s) > 0; {
			k := min(width, len(s))
			parts = append(parts, s[:k])
			s = s[k:]
		}
		return strings.Join(parts, sep)
	}
	cases := map[string]struct {
		data []byte
		want bool
	}{
		"64 LF":              {wrap(lines(64, "\n")), true},
		"76 CRLF":            {wrap(lines(76, "\r\n")), true},
		"CRCRLF":             {wrap(lines(64, "\r\r\n")), true},
		"one line":           {wrap(b64), true},
		"blank lines":        {wrap(lines(64, "\n\n")), true},
		"odd width":          {wrap(lines(30, "\n")), false},
		"padding inside":     {wrap("AA==\n" + lines(64, "\n")), false},
		"padding then blank": {wrap(b64 + "\n\n"), true},
		"space":              {wrap(lines(64, " \n")), false},
		"tab":                {wrap("\t" + b64), false},
		"header":             {wrap("Proc-Type: 4,ENCRYPTED\n\n" + b64), false},
		"no end":             {[]byte("-----BEGIN CERTIFICATE-----\n" + b64), false},
		"other type":         {[]byte("-----BEGIN X509 CERTIFICATE-----\n" + b64 + "\n-----END X509 CERTIFICATE-----\n"), false},
		"bad character":      {wrap("!!!!" + b64[4:]), false},
		"empty":              {wrap(""), true},
		"short last line":    {wrap(b64[:64] + "\n" + b64[64:70]), false},
	}
	for name, c := range cases {
		if got := checkPEM(t, c.data); got != c.want {
			t.Errorf("%s: decodePEM answered %v, want %v", name, got, c.want)
		}
	}
}

// TestCertFastTimes compares the direct time readers with cryptobyte over every two-digit
// year, month and day (and a spread of four-digit years).
func TestCertFastTimes(t *testing.T) {
	check := func(tag cbasn1.Tag, s string) {
		t.Helper()
		var want time.Time
		in := cryptobyte.String(tlv(byte(tag), []byte(s)))
		var wantOK bool
		if tag == cbasn1.UTCTime {
			wantOK = in.ReadASN1UTCTime(&want)
		} else {
			wantOK = in.ReadASN1GeneralizedTime(&want)
		}
		var got time.Time
		var ok bool
		if tag == cbasn1.UTCTime {
			got, ok = utcTime([]byte(s))
		} else {
			got, ok = generalizedTime([]byte(s))
		}
		// The direct readers must agree wherever they answer, and answer for the usual
		// forms (seconds, Z) whenever cryptobyte does.
		usual := len(s) == 13 && tag == cbasn1.UTCTime || len(s) == 15 && tag == cbasn1.GeneralizedTime
		usual = usual && s[len(s)-1] == 'Z' && strings.Trim(s[:len(s)-1], "0123456789") == ""
		if ok && (!wantOK || !got.Equal(want) || got.Location() != want.Location() || got.UTC() != want.UTC()) ||
			!ok && wantOK && usual {
			t.Fatalf("%q: got %v %v, cryptobyte %v %v", s, got, ok, want, wantOK)
		}
		in = cryptobyte.String(tlv(byte(tag), []byte(s)))
		var viaRead time.Time
		if readTime(&in, &viaRead) != wantOK || wantOK && (viaRead != want || !in.Empty()) {
			t.Fatalf("%q: readTime %v, cryptobyte %v %v", s, viaRead, want, wantOK)
		}
	}
	for yy := range 100 {
		for mm := range 14 {
			for dd := range 33 {
				check(cbasn1.UTCTime, fmt.Sprintf("%02d%02d%02d235959Z", yy, mm, dd))
			}
		}
	}
	for _, hms := range []string{"000000", "235959", "240000", "236000", "235960", "99 999", "1200"} {
		check(cbasn1.UTCTime, "200229"+hms+"Z")
		check(cbasn1.GeneralizedTime, "20200229"+hms+"Z")
	}
	for y := 0; y < 10000; y += 7 {
		for _, md := range []string{"0229", "0228", "1231", "0431", "0101", "1301", "0100"} {
			check(cbasn1.GeneralizedTime, fmt.Sprintf("%04d%s120000Z", y, md))
		}
	}
	for _, y := range []int{1600, 1700, 1900, 2000, 2100, 2400} {
		check(cbasn1.GeneralizedTime, fmt.Sprintf("%04d0229120000Z", y))
	}
}

// TestCertFastOIDs compares validOID with cryptobyte's reader over every OID of up to three
// bytes and some long ones.
func TestCertFastOIDs(t *testing.T) {
	check := func(b []byte) {
		t.Helper()
		in := cryptobyte.String(tlv(0x06, b))
		var oid asn1.ObjectIdentifier
		if want := in.ReadASN1ObjectIdentifier(&oid); validOID(b) != want {
			t.Fatalf("%x: validOID %v, cryptobyte %v", b, !want, want)
		}
	}
	check(nil)
	for a := range 256 {
		check([]byte{byte(a)})
		for b := range 256 {
			check([]byte{byte(a), byte(b)})
			for _, c := range []byte{0, 1, 0x7f, 0x80, 0x81, 0xff} {
				check([]byte{byte(a), byte(b), c})
			}
		}
	}
	for _, b := range [][]byte{
		{0x2b, 0x87, 0xff, 0xff, 0xff, 0x7f}, {0x2b, 0x88, 0x80, 0x80, 0x80, 0x00}, {0x2b, 0x8f, 0xff, 0xff, 0x7f},
		{0x2b, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00}, {0xff, 0xff, 0xff, 0x7f}, {0x87, 0xff, 0xff, 0xff, 0x7f},
	} {
		check(b)
	}
}

// TestCertFastErrors checks that what does not parse is reported as before.
func TestCertFastErrors(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("hello"), {0x30}, {0x30, 0x00}, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
		[]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")} {
		_, want := slowCertInfo(data, &nameCache{})
		_, got := readCertInfo(data, "", &nameCache{})
		if want == nil || got == nil || got.Error() != want.Error() {
			t.Errorf("%q: error %v, want %v", data, got, want)
		}
	}
}

// FuzzCertFast holds the fast reader to its promise on arbitrary input: it never panics, and
// whenever it answers, crypto/x509 parses the certificate and certInfo says the same. The
// OID and time readers are checked against cryptobyte on the same bytes.
func FuzzCertFast(f *testing.F) {
	dir := testutil.Testdata("tpm-vendor-certs")
	ents, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		if der, _, err := certificateDER(data); err == nil {
			f.Add(der)
		}
	}
	f.Add([]byte("200229123456Z"))
	f.Add([]byte("20500101000000Z"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSame(t, "input", data)
		checkName(t, data)
		checkPEM(t, data)
		for _, sep := range []string{[]string{"\n", "\r\n"}[len(data)%2]} {
			b64 := base64.StdEncoding.EncodeToString(data)
			var body strings.Builder
			for i := 0; i < len(b64); i += 64 {
				body.WriteString(b64[i:min(i+64, len(b64))] + sep)
			}
			pemData := []byte("-----BEGIN CERTIFICATE-----" + sep + body.String() + "-----END CERTIFICATE-----" + sep)
			if !checkPEM(t, pemData) {
				t.Fatalf("decodePEM declined a plain PEM block")
			}
			checkRead(t, pemData)
		}
		checkRead(t, data)
		if len(data) < 100 {
			in := cryptobyte.String(tlv(0x06, data))
			var oid asn1.ObjectIdentifier
			if validOID(data) != in.ReadASN1ObjectIdentifier(&oid) {
				t.Fatalf("validOID(%x) disagrees with cryptobyte", data)
			}
			for _, tag := range []byte{0x17, 0x18} {
				in := cryptobyte.String(tlv(tag, data))
				var want, got time.Time
				wantOK := false
				if tag == 0x17 {
					wantOK = in.ReadASN1UTCTime(&want)
				} else {
					wantOK = in.ReadASN1GeneralizedTime(&want)
				}
				in = cryptobyte.String(tlv(tag, data))
				if readTime(&in, &got) != wantOK || got.UTC() != want.UTC() {
					t.Fatalf("readTime(%q) = %v, cryptobyte %v %v", data, got, want, wantOK)
				}
			}
		}
	})
}
