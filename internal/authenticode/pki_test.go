package authenticode

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
)

// testCA is a throwaway certificate authority for signing test cabinets.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// testLeaf is a certificate with its key, issued by a testCA.
type testLeaf struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serialCounter struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serialCounter.Lock()
	defer serialCounter.Unlock()
	serialCounter.n++
	return big.NewInt(1000 + serialCounter.n)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"aikwatch tests"}},
		NotBefore:             time.Now().Add(-365 * 24 * time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

var (
	oidExtKeyUsage     = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidKPTimeStamping  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	oidKPCodeSigning   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 3}
	oidKPServerAuth    = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}
	oidTSTInfoTestCopy = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
)

// issue issues a leaf certificate valid from notBefore to notAfter whose extended key usage
// extension (marked critical, as OpenSSL requires for timestamping) lists eku.
func (ca *testCA) issue(t testing.TB, name string, eku asn1.ObjectIdentifier, notBefore, notAfter time.Time) *testLeaf {
	t.Helper()
	key := newKey(t)
	ekuDER, err := asn1.Marshal([]asn1.ObjectIdentifier{eku})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:    nextSerial(),
		Subject:         pkix.Name{CommonName: name, Organization: []string{"aikwatch tests"}},
		NotBefore:       notBefore,
		NotAfter:        notAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: ekuDER}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testLeaf{cert: cert, key: key}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// writeFiles writes the leaf's certificate and PKCS #8 key as PEM into dir and returns their paths.
func (l *testLeaf) writeFiles(t testing.TB, dir, name string) (certPath, keyPath string) {
	t.Helper()
	kder, err := x509.MarshalPKCS8PrivateKey(l.key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	writeFile(t, certPath, pemCert(l.cert))
	writeFile(t, keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	return certPath, keyPath
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// testTSA is a timestamp authority on loopback that answers both RFC 3161 requests
// (osslsigncode -ts) and legacy Authenticode requests (osslsigncode -t).
type testTSA struct {
	url  string
	leaf *testLeaf
	// genTime, when set, is the time the authority asserts instead of now.
	genTime time.Time
	// wrongImprint makes the authority timestamp a different message.
	wrongImprint bool
}

func newTestTSA(t testing.TB, leaf *testLeaf) *testTSA {
	t.Helper()
	tsa := &testTSA{leaf: leaf}
	srv := httptest.NewServer(http.HandlerFunc(tsa.serve))
	t.Cleanup(srv.Close)
	tsa.url = srv.URL
	return tsa
}

type timeStampReq struct {
	Version        int
	MessageImprint messageImprint
	ReqPolicy      asn1.ObjectIdentifier `asn1:"optional"`
	Nonce          *big.Int              `asn1:"optional"`
	CertReq        bool                  `asn1:"optional,default:false"`
	Extensions     asn1.RawValue         `asn1:"optional,tag:0"`
}

type tstInfoOut struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint messageImprint
	SerialNumber   *big.Int
	GenTime        time.Time `asn1:"generalized"`
	Nonce          *big.Int  `asn1:"optional"`
}

type pkiStatusInfo struct {
	Status int
}

type timeStampResp struct {
	Status         pkiStatusInfo
	TimeStampToken asn1.RawValue `asn1:"optional"`
}

// authenticodeTSReq is the legacy Authenticode timestamp request.
type authenticodeTSReq struct {
	Type    asn1.ObjectIdentifier
	Content struct {
		Type    asn1.ObjectIdentifier
		Content []byte `asn1:"explicit,tag:0"`
	}
}

func (tsa *testTSA) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var resp []byte
	if r.Header.Get("Content-Type") == "application/timestamp-query" {
		resp, err = tsa.rfc3161(body)
		w.Header().Set("Content-Type", "application/timestamp-reply")
	} else {
		resp, err = tsa.legacy(body)
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, _ = w.Write(resp)
}

func (tsa *testTSA) rfc3161(body []byte) ([]byte, error) {
	var req timeStampReq
	if _, err := asn1.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	gen := tsa.genTime
	if gen.IsZero() {
		gen = time.Now()
	}
	imprint := req.MessageImprint
	if tsa.wrongImprint {
		imprint.HashedMessage = bytes.Repeat([]byte{0x42}, len(imprint.HashedMessage))
	}
	info, err := asn1.Marshal(tstInfoOut{
		Version:        1,
		Policy:         asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1},
		MessageImprint: imprint,
		SerialNumber:   nextSerial(),
		GenTime:        gen.UTC().Truncate(time.Second),
		Nonce:          req.Nonce,
	})
	if err != nil {
		return nil, err
	}
	sd, err := pkcs7.NewSignedData(info)
	if err != nil {
		return nil, err
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	sd.GetSignedData().ContentInfo.ContentType = oidTSTInfoTestCopy
	certHash := sha256.Sum256(tsa.leaf.cert.Raw)
	ess := signingCertificateV2{Certs: []essCertIDv2{{CertHash: certHash[:]}}}
	if err := sd.AddSigner(tsa.leaf.cert, tsa.leaf.key, pkcs7.SignerInfoConfig{
		ExtraSignedAttributes: []pkcs7.Attribute{{Type: oidSigningCertificateV2, Value: ess}},
	}); err != nil {
		return nil, err
	}
	token, err := sd.Finish()
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(timeStampResp{Status: pkiStatusInfo{0}, TimeStampToken: asn1.RawValue{FullBytes: token}})
}

func (tsa *testTSA) legacy(body []byte) ([]byte, error) {
	der, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(body), nil)))
	if err != nil {
		return nil, err
	}
	var req authenticodeTSReq
	if _, err := asn1.Unmarshal(der, &req); err != nil {
		return nil, err
	}
	sd, err := pkcs7.NewSignedData(req.Content.Content)
	if err != nil {
		return nil, err
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(tsa.leaf.cert, tsa.leaf.key, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, err
	}
	p7, err := sd.Finish()
	if err != nil {
		return nil, err
	}
	return []byte(base64.StdEncoding.EncodeToString(p7)), nil
}
