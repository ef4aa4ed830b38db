// Package ekid computes the ids under which the firmware-TPM vendors' EK certificate services
// publish an EK certificate, from the EK public key: Intel's
// https://ekop.intel.com/ekcertservice/{id} and AMD's https://ftpm.amd.com/pki/aia/{id}.
//
// The derivations are the ones Windows, tpm2-tools (tpm2_getekcertificate) and
// google/go-attestation use:
//
//   - Intel: base64url (with padding) of SHA-256(modulus ‖ 01 00 01) for RSA (the exponent
//     bytes are fixed, whatever the key's exponent), SHA-256(X ‖ Y) for ECC; then URL-escaped,
//     so that '=' becomes %3D (the service answers 403 to an unescaped '=').
//   - AMD: upper-case hex of the first 16 bytes of SHA-256(00 00 22 22 ‖ 4-byte big-endian
//     exponent ‖ modulus) for RSA, SHA-256(00 00 44 44 ‖ X ‖ Y) for ECC.
//
// ECC coordinates are hashed at the curve's full width (as a TPM returns them in TPMS_ECC_POINT);
// go-attestation hashes big.Int.Bytes(), which differs for the 1 in 256 keys whose coordinate
// has a leading zero byte, and for AMD ECC it keeps all 32 bytes. RSA is what the published
// test vectors cover.
package ekid

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
)

// Service base URLs, with the trailing slash the id is appended to.
const (
	IntelBaseURL = "https://ekop.intel.com/ekcertservice/"
	AMDBaseURL   = "https://ftpm.amd.com/pki/aia/"
)

// Intel returns the URL path segment (already escaped: '=' is %3D) under which Intel's EK
// certificate service publishes the EK certificate of pub.
func Intel(pub crypto.PublicKey) (string, error) {
	h := sha256.New()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		h.Write(k.N.Bytes())
		h.Write([]byte{0x01, 0x00, 0x01})
	case *ecdsa.PublicKey:
		x, y, err := coordinates(k)
		if err != nil {
			return "", fmt.Errorf("intel ek id: %w", err)
		}
		h.Write(x)
		h.Write(y)
	default:
		return "", fmt.Errorf("intel ek id: unsupported public key type %T (want RSA or ECDSA)", pub)
	}
	return url.QueryEscape(base64.URLEncoding.EncodeToString(h.Sum(nil))), nil
}

// AMD returns the URL path segment (32 upper-case hex digits) under which AMD's fTPM EK
// certificate service publishes the EK certificate of pub.
func AMD(pub crypto.PublicKey) (string, error) {
	h := sha256.New()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.E < 0 || int64(k.E) > 0xffffffff {
			return "", fmt.Errorf("amd ek id: RSA exponent %d does not fit in 4 bytes", k.E)
		}
		var e [4]byte
		binary.BigEndian.PutUint32(e[:], uint32(k.E))
		h.Write([]byte{0x00, 0x00, 0x22, 0x22})
		h.Write(e[:])
		h.Write(k.N.Bytes())
	case *ecdsa.PublicKey:
		x, y, err := coordinates(k)
		if err != nil {
			return "", fmt.Errorf("amd ek id: %w", err)
		}
		h.Write([]byte{0x00, 0x00, 0x44, 0x44})
		h.Write(x)
		h.Write(y)
	default:
		return "", fmt.Errorf("amd ek id: unsupported public key type %T (want RSA or ECDSA)", pub)
	}
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)[:16])), nil
}

// IntelURL returns the full Intel EK certificate URL for pub.
func IntelURL(pub crypto.PublicKey) (string, error) {
	id, err := Intel(pub)
	if err != nil {
		return "", err
	}
	return IntelBaseURL + id, nil
}

// AMDURL returns the full AMD EK certificate URL for pub.
func AMDURL(pub crypto.PublicKey) (string, error) {
	id, err := AMD(pub)
	if err != nil {
		return "", err
	}
	return AMDBaseURL + id, nil
}

// coordinates returns X and Y of k, each left-padded to the curve's byte size.
func coordinates(k *ecdsa.PublicKey) ([]byte, []byte, error) {
	if k.Curve == nil || k.X == nil || k.Y == nil {
		return nil, nil, fmt.Errorf("incomplete ECDSA public key")
	}
	n := (k.Curve.Params().BitSize + 7) / 8
	if len(k.X.Bytes()) > n || len(k.Y.Bytes()) > n {
		return nil, nil, fmt.Errorf("ECDSA coordinate longer than the %d-byte curve size", n)
	}
	return k.X.FillBytes(make([]byte, n)), k.Y.FillBytes(make([]byte, n)), nil
}
