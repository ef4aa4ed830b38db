package probes

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Base URLs of the firmware-TPM EK certificate services.
const (
	// EKIntelBaseURL is Intel's EK certificate service (Intel PTT); the key's id is appended.
	EKIntelBaseURL = "https://ekop.intel.com/ekcertservice/"
	// EKAMDBaseURL is AMD's EK certificate service (AMD fTPM); the key's id is appended.
	EKAMDBaseURL = "https://ftpm.amd.com/pki/aia/"
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
// of the EK public key pub (RSA with exponent 65537, or ECDSA).
func EKIntelURL(pub crypto.PublicKey) (string, error) {
	id, err := ekIntelID(pub)
	if err != nil {
		return "", err
	}
	return EKIntelBaseURL + id, nil
}

// EKAMDURL returns the URL at which AMD's EK certificate service serves the certificate of
// the EK public key pub (RSA or ECDSA).
func EKAMDURL(pub crypto.PublicKey) (string, error) {
	id, err := ekAMDID(pub)
	if err != nil {
		return "", err
	}
	return EKAMDBaseURL + id, nil
}

// ekIntelID is Intel's id of an EK public key: the query-escaped padded base64url of
// SHA-256(modulus || 01 00 01) for RSA, SHA-256(X || Y) for ECC.
func ekIntelID(pub crypto.PublicKey) (string, error) {
	h := sha256.New()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.E != 65537 {
			return "", fmt.Errorf("intel ek id: RSA exponent %d: the service's id is defined for 65537 only", k.E)
		}
		h.Write(k.N.Bytes())
		h.Write([]byte{0x01, 0x00, 0x01})
	case *ecdsa.PublicKey:
		xy, err := ekECPoint(k)
		if err != nil {
			return "", fmt.Errorf("intel ek id: %w", err)
		}
		h.Write(xy)
	default:
		return "", fmt.Errorf("intel ek id: unsupported key type %T", pub)
	}
	return url.QueryEscape(base64.URLEncoding.EncodeToString(h.Sum(nil))), nil
}

// ekAMDID is AMD's id of an EK public key: upper-case hex of the first 16 bytes of
// SHA-256(00 00 22 22 || exponent (4 bytes) || modulus) for RSA, SHA-256(00 00 44 44 || X || Y)
// for ECC.
func ekAMDID(pub crypto.PublicKey) (string, error) {
	h := sha256.New()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.E <= 0 || uint64(k.E) > 0xffffffff {
			return "", fmt.Errorf("amd ek id: RSA exponent %d does not fit 4 bytes", k.E)
		}
		h.Write([]byte{0x00, 0x00, 0x22, 0x22})
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(k.E)))
		h.Write(k.N.Bytes())
	case *ecdsa.PublicKey:
		xy, err := ekECPoint(k)
		if err != nil {
			return "", fmt.Errorf("amd ek id: %w", err)
		}
		h.Write([]byte{0x00, 0x00, 0x44, 0x44})
		h.Write(xy)
	default:
		return "", fmt.Errorf("amd ek id: unsupported key type %T", pub)
	}
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)[:16])), nil
}

// ekECPoint returns X || Y, each padded to the curve's byte size.
func ekECPoint(k *ecdsa.PublicKey) ([]byte, error) {
	b, err := k.Bytes()
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || b[0] != 4 {
		return nil, fmt.Errorf("ECC key is not an uncompressed point")
	}
	return b[1:], nil
}
