package trustlist

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"strconv"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Signature and public-key algorithms for the fast certificate reader (see certfast.go).

// DER contents of the OIDs the reader recognises.
var (
	oidRSA         = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01} // 1.2.840.113549.1.1.1
	oidDSA         = []byte{0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01}             // 1.2.840.10040.4.1
	oidECPublicKey = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01}             // 1.2.840.10045.2.1
	oidEd25519     = []byte{0x2b, 0x65, 0x70}                                     // 1.3.101.112
	oidAIA         = []byte{0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01}       // 1.3.6.1.5.5.7.1.1
	oidCAIssuers   = []byte{0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02}       // 1.3.6.1.5.5.7.48.2
	nullParams     = []byte{0x05, 0x00}
)

// signatureAlgorithms maps the DER content of the signature OIDs crypto/x509 knows (RSA-PSS
// aside: its name depends on its parameters) to the name crypto/x509 gives them.
var signatureAlgorithms = map[string]string{
	"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x04": x509.MD5WithRSA.String(),      // 1.2.840.113549.1.1.4
	"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x05": x509.SHA1WithRSA.String(),     // 1.2.840.113549.1.1.5
	"\x2b\x0e\x03\x02\x1d":                 x509.SHA1WithRSA.String(),     // 1.3.14.3.2.29
	"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b": x509.SHA256WithRSA.String(),   // 1.2.840.113549.1.1.11
	"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0c": x509.SHA384WithRSA.String(),   // 1.2.840.113549.1.1.12
	"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0d": x509.SHA512WithRSA.String(),   // 1.2.840.113549.1.1.13
	"\x2a\x86\x48\xce\x38\x04\x03":         x509.DSAWithSHA1.String(),     // 1.2.840.10040.4.3
	"\x60\x86\x48\x01\x65\x03\x04\x03\x02": x509.DSAWithSHA256.String(),   // 2.16.840.1.101.3.4.3.2
	"\x2a\x86\x48\xce\x3d\x04\x01":         x509.ECDSAWithSHA1.String(),   // 1.2.840.10045.4.1
	"\x2a\x86\x48\xce\x3d\x04\x03\x02":     x509.ECDSAWithSHA256.String(), // 1.2.840.10045.4.3.2
	"\x2a\x86\x48\xce\x3d\x04\x03\x03":     x509.ECDSAWithSHA384.String(), // 1.2.840.10045.4.3.3
	"\x2a\x86\x48\xce\x3d\x04\x03\x04":     x509.ECDSAWithSHA512.String(), // 1.2.840.10045.4.3.4
	"\x2b\x65\x70":                         x509.PureEd25519.String(),     // 1.3.101.112
}

// signatureAlgorithmName is crypto/x509's SignatureAlgorithm.String() for the algorithm, or
// false when x509 would call it unknown or it is RSA-PSS.
func signatureAlgorithmName(oid, params []byte) (string, bool) {
	name, ok := signatureAlgorithms[string(oid)]
	if !ok || bytes.Equal(oid, oidEd25519) && len(params) != 0 {
		return "", false
	}
	return name, true
}

// namedCurves maps the DER content of a named curve's OID to the curve crypto/x509 uses.
var namedCurves = map[string]elliptic.Curve{
	"\x2b\x81\x04\x00\x21":             elliptic.P224(), // 1.3.132.0.33
	"\x2a\x86\x48\xce\x3d\x03\x01\x07": elliptic.P256(), // 1.2.840.10045.3.1.7
	"\x2b\x81\x04\x00\x22":             elliptic.P384(), // 1.3.132.0.34
	"\x2b\x81\x04\x00\x23":             elliptic.P521(), // 1.3.132.0.35
}

// checkPublicKey checks a SubjectPublicKeyInfo's content as crypto/x509 does when it parses
// the key, without building the key (but for ECDSA, whose point check is the curve's), and
// returns x509's name of the key's algorithm.
func checkPublicKey(spki cryptobyte.String) (string, error) {
	var ai cryptobyte.String
	if !spki.ReadASN1(&ai, cbasn1.SEQUENCE) {
		return "", errFastKey
	}
	oid, params, ok := readAlgorithm(ai)
	if !ok {
		return "", errFastKey
	}
	var bits encasn1.BitString
	if !spki.ReadASN1BitString(&bits) || bits.BitLength%8 != 0 {
		return "", errFastKey
	}
	key := cryptobyte.String(bits.Bytes)
	switch {
	case bytes.Equal(oid, oidRSA):
		// SEQUENCE { modulus INTEGER, publicExponent INTEGER }, both positive, the exponent
		// small enough for an int.
		var seq, e cryptobyte.String
		if !bytes.Equal(params, nullParams) || !key.ReadASN1(&seq, cbasn1.SEQUENCE) || !positiveInteger(&seq) ||
			!seq.ReadASN1(&e, cbasn1.INTEGER) || !minimalInteger(e) || len(e) > strconv.IntSize/8 || e[0]&0x80 != 0 ||
			len(e) == 1 && e[0] == 0 {
			return "", errFastKey
		}
		return x509.RSA.String(), nil
	case bytes.Equal(oid, oidECPublicKey):
		p := cryptobyte.String(params)
		var curveOID cryptobyte.String
		if !p.ReadASN1(&curveOID, cbasn1.OBJECT_IDENTIFIER) || !validOID(curveOID) {
			return "", errFastKey
		}
		curve := namedCurves[string(curveOID)]
		if curve == nil {
			return "", errFastKey
		}
		if _, err := ecdsa.ParseUncompressedPublicKey(curve, bits.Bytes); err != nil {
			return "", errFastKey
		}
		return x509.ECDSA.String(), nil
	case bytes.Equal(oid, oidEd25519):
		if len(params) != 0 || len(bits.Bytes) != 32 {
			return "", errFastKey
		}
		return x509.Ed25519.String(), nil
	case bytes.Equal(oid, oidDSA):
		p := cryptobyte.String(params)
		var dp cryptobyte.String
		if !positiveInteger(&key) || !p.ReadASN1(&dp, cbasn1.SEQUENCE) ||
			!positiveInteger(&dp) || !positiveInteger(&dp) || !positiveInteger(&dp) {
			return "", errFastKey
		}
		return x509.DSA.String(), nil
	}
	return "", errFastKey // unknown to x509 as well; rare enough not to bother
}
