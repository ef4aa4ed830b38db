package trustlist

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"path"
	"strings"
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
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, enc, fmt.Errorf("%s certificate: %w", enc, err)
	}
	return c, enc, nil
}

// certificateDER returns the DER bytes of the first certificate in data and its encoding.
func certificateDER(data []byte) ([]byte, string, error) {
	if i := bytes.Index(data, []byte("-----BEGIN")); i >= 0 {
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

// certInfo describes c for the index.
func certInfo(c *x509.Certificate, enc string) *CertInfo {
	nameID := sha1.Sum(c.RawSubject)
	issuerID := sha1.Sum(c.RawIssuer)
	fp := sha256.Sum256(c.Raw)
	return &CertInfo{
		Encoding:           enc,
		Subject:            c.Subject.String(),
		SubjectCN:          c.Subject.CommonName,
		Issuer:             c.Issuer.String(),
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
