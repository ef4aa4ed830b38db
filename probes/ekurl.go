package probes

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/aikwatch/aikwatch/internal/ekid"
)

// Base URLs of the firmware-TPM EK certificate services.
const (
	// EKIntelBaseURL is Intel's EK certificate service (Intel PTT); the key's id is appended.
	EKIntelBaseURL = ekid.IntelBaseURL
	// EKAMDBaseURL is AMD's EK certificate service (AMD fTPM); the key's id is appended.
	EKAMDBaseURL = ekid.AMDBaseURL
	// EKQualcommURL is the service, run by Microsoft, that hands out Qualcomm EK certificates.
	// Its request format is not public.
	EKQualcommURL = "https://ekcert.spserv.microsoft.com/EKCertificate/GetEKCertificate/v1"
)

// EKParsePublic reads an EK public key from data: a certificate or a public key, each in PEM or
// DER. Keys may be PKIX ("PUBLIC KEY") or PKCS #1 ("RSA PUBLIC KEY"). PEM may be preceded by
// text; the first certificate or key block is used. The certificate is returned too when data
// holds one, nil for a bare key.
func EKParsePublic(data []byte) (crypto.PublicKey, *x509.Certificate, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, errors.New("ek public key: empty input")
	}
	if i := bytes.Index(data, []byte("-----BEGIN")); i >= 0 {
		rest := data[i:]
		var types []string
		for {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			switch blk.Type {
			case "CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE":
				return ekFromCertDER(blk.Bytes, "PEM CERTIFICATE block")
			case "PUBLIC KEY":
				k, err := x509.ParsePKIXPublicKey(blk.Bytes)
				if err != nil {
					return nil, nil, fmt.Errorf("ek public key: PEM PUBLIC KEY block: %w", err)
				}
				return ekCheckKey(k, nil, "PEM PUBLIC KEY block")
			case "RSA PUBLIC KEY":
				k, err := x509.ParsePKCS1PublicKey(blk.Bytes)
				if err != nil {
					return nil, nil, fmt.Errorf("ek public key: PEM RSA PUBLIC KEY block: %w", err)
				}
				return k, nil, nil
			}
			types = append(types, blk.Type)
		}
		if len(types) > 0 {
			return nil, nil, fmt.Errorf("ek public key: PEM blocks %q hold neither a certificate nor a public key", types)
		}
		return nil, nil, errors.New("ek public key: malformed PEM")
	}
	if data[0] != 0x30 {
		return nil, nil, errors.New("ek public key: neither PEM nor DER (DER starts with a SEQUENCE, 0x30)")
	}
	if c, err := x509.ParseCertificate(data); err == nil {
		return ekCheckKey(c.PublicKey, c, "DER certificate")
	} else if k, kerr := x509.ParsePKIXPublicKey(data); kerr == nil {
		return ekCheckKey(k, nil, "DER public key")
	} else if rk, rerr := x509.ParsePKCS1PublicKey(data); rerr == nil {
		return rk, nil, nil
	} else {
		return nil, nil, fmt.Errorf("ek public key: DER is neither a certificate (%v) nor a public key (%v)", err, kerr)
	}
}

func ekFromCertDER(der []byte, what string) (crypto.PublicKey, *x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("ek public key: %s: %w", what, err)
	}
	return ekCheckKey(c.PublicKey, c, what)
}

// ekCheckKey refuses keys of a type an EK cannot have (crypto/x509 returns nil for unknown
// algorithms).
func ekCheckKey(k crypto.PublicKey, c *x509.Certificate, what string) (crypto.PublicKey, *x509.Certificate, error) {
	if k == nil {
		return nil, nil, fmt.Errorf("ek public key: %s: unsupported public key algorithm", what)
	}
	return k, c, nil
}

// EKIntelURL returns the URL at which Intel's EK certificate service serves the certificate
// of the EK public key pub (RSA or ECDSA): the base URL and the escaped base64url SHA-256 id
// computed by internal/ekid.
func EKIntelURL(pub crypto.PublicKey) (string, error) {
	id, err := ekid.Intel(pub)
	if err != nil {
		return "", err
	}
	return EKIntelBaseURL + id, nil
}

// EKAMDURL returns the URL at which AMD's EK certificate service serves the certificate of
// the EK public key pub (RSA or ECDSA): the base URL and the 32-hex-digit id computed by
// internal/ekid.
func EKAMDURL(pub crypto.PublicKey) (string, error) {
	id, err := ekid.AMD(pub)
	if err != nil {
		return "", err
	}
	return EKAMDBaseURL + id, nil
}
