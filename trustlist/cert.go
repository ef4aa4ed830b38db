package trustlist

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
)

// errNotCertificate marks data that is neither PEM with a CERTIFICATE block nor DER.
var errNotCertificate = errors.New("neither a PEM CERTIFICATE block nor DER")

// ParseCertificate reads one certificate in PEM or DER, whatever the file's extension. PEM may
// be preceded by text (as `openssl x509 -text` writes it); the first CERTIFICATE block is used.
func ParseCertificate(data []byte) (*x509.Certificate, string, error) {
	der, enc, err := certificateDER(data)
	if err != nil {
		return nil, "", err
	}
	c, err := parseDER(der, enc)
	if err != nil {
		return nil, enc, err
	}
	return c, enc, nil
}

// parseDER parses the DER of a certificate read from a file in encoding enc (PEM or DER).
func parseDER(der []byte, enc string) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%s certificate: %w", enc, err)
	}
	return c, nil
}

var (
	pemBegin = []byte("-----BEGIN CERTIFICATE-----")
	pemEnd   = []byte("-----END CERTIFICATE-----")
)

// certificateDER returns the DER bytes of the first certificate in data and its encoding.
func certificateDER(data []byte) ([]byte, string, error) {
	if i := bytes.Index(data, []byte("-----BEGIN")); i >= 0 {
		if der, ok := fastPEM(data[i:]); ok {
			return der, "PEM", nil
		}
		rest := data[i:]
		for {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				return nil, "PEM", fmt.Errorf("PEM: no CERTIFICATE block")
			}
			if blk.Type == "CERTIFICATE" || blk.Type == "X509 CERTIFICATE" || blk.Type == "TRUSTED CERTIFICATE" {
				return blk.Bytes, "PEM", nil
			}
		}
	}
	if len(data) > 1 && data[0] == 0x30 {
		return data, "DER", nil
	}
	return nil, "", errNotCertificate
}

// fastPEM decodes a plain CERTIFICATE block (no headers) at the start of data without
// encoding/pem's general machinery, which dominates indexing time on the real trust list.
// It reports false for anything else, and the caller falls back to encoding/pem.
func fastPEM(data []byte) ([]byte, bool) {
	if !bytes.HasPrefix(data, pemBegin) {
		return nil, false
	}
	body := data[len(pemBegin):]
	end := bytes.Index(body, pemEnd)
	if end < 0 {
		return nil, false
	}
	body = body[:end]
	if bytes.IndexByte(body, ':') >= 0 { // RFC 1421 headers
		return nil, false
	}
	// Drop line breaks first: base64's decoder leaves its fast path at every newline. Any
	// other white space makes Decode fail, and encoding/pem takes over.
	src := make([]byte, 0, len(body))
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		src = append(src, bytes.TrimRight(line, "\r")...)
	}
	der := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	n, err := base64.StdEncoding.Decode(der, src)
	if err != nil {
		return nil, false
	}
	return der[:n], true
}

// nameCache remembers what the index says about DER names (string form, CN, name id): the
// 1,822 AIK CAs share one issuer, and pkix.Name.String is a large part of indexing time. Only
// names that parsed are stored. The zero value is ready to use.
type nameCache struct {
	mu sync.RWMutex
	m  map[string]nameEntry
}

// nameEntry is what the index keeps of one DER name.
type nameEntry struct {
	str string // pkix.Name.String()
	cn  string // pkix.Name.CommonName
	id  string // lower-case hex SHA-1 of the DER name
}

func (nc *nameCache) get(raw []byte) (nameEntry, bool) {
	nc.mu.RLock()
	e, ok := nc.m[string(raw)]
	nc.mu.RUnlock()
	return e, ok
}

func (nc *nameCache) put(raw []byte, e nameEntry) {
	nc.mu.Lock()
	if nc.m == nil {
		nc.m = map[string]nameEntry{}
	}
	nc.m[string(raw)] = e
	nc.mu.Unlock()
}

// name returns the string form of raw, which n was parsed from.
func (nc *nameCache) name(raw []byte, n *pkix.Name) string {
	if e, ok := nc.get(raw); ok {
		return e.str
	}
	id := sha1.Sum(raw)
	e := nameEntry{str: n.String(), cn: n.CommonName, id: hex.EncodeToString(id[:])}
	nc.put(raw, e)
	return e.str
}

// certInfo describes c for the index.
func certInfo(c *x509.Certificate, enc string, names *nameCache) *CertInfo {
	nameID := sha1.Sum(c.RawSubject)
	issuerID := sha1.Sum(c.RawIssuer)
	fp := sha256.Sum256(c.Raw)
	return &CertInfo{
		Encoding:           enc,
		Subject:            names.name(c.RawSubject, &c.Subject),
		SubjectCN:          c.Subject.CommonName,
		Issuer:             names.name(c.RawIssuer, &c.Issuer),
		Serial:             c.SerialNumber.Text(16),
		NotBefore:          c.NotBefore.UTC(),
		NotAfter:           c.NotAfter.UTC(),
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
		PublicKeyAlgorithm: c.PublicKeyAlgorithm.String(),
		SKI:                hex.EncodeToString(c.SubjectKeyId),
		AKI:                hex.EncodeToString(c.AuthorityKeyId),
		NameID:             hex.EncodeToString(nameID[:]),
		IssuerNameID:       hex.EncodeToString(issuerID[:]),
		SelfSigned:         bytes.Equal(c.RawSubject, c.RawIssuer),
		IsCA:               c.IsCA,
		AIA:                c.IssuingCertificateURL,
		CRL:                c.CRLDistributionPoints,
		Fingerprint:        hex.EncodeToString(fp[:]),
	}
}

// certExts are the extensions the trust list uses for certificates (compared in lower case).
var certExts = map[string]bool{".cer": true, ".crt": true, ".der": true, ".pem": true, ".cert": true}

func hasCertExt(p string) bool { return certExts[strings.ToLower(path.Ext(p))] }

func isTextName(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".txt", ".md", ".cmd", ".ps1", ".bat", ".htm", ".html":
		return true
	}
	return false
}
