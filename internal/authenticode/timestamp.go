package authenticode

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/smallstep/pkcs7"
)

var (
	// oidRFC3161Timestamp is Microsoft's unsigned attribute holding an RFC 3161 timestamp
	// token (a ContentInfo with a SignedData over a TSTInfo).
	oidRFC3161Timestamp = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 3, 3, 1}
	// oidCounterSignature (PKCS #9) holds a legacy Authenticode timestamp: a SignerInfo of the
	// timestamp authority over the signer's encrypted digest.
	oidCounterSignature     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 6}
	oidTSTInfo              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidSigningCertificate   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
)

// timestamp is a timestamp whose signature and binding to the Authenticode signature have been
// verified; its authority's chain has not.
type timestamp struct {
	time          time.Time
	cert          *x509.Certificate   // the timestamp authority's certificate
	intermediates []*x509.Certificate // candidates for the authority's chain
	kind          string              // "RFC 3161" or "Authenticode"
}

// tsError is a timestamp that is present but does not verify.
type tsError struct {
	reason Reason
	detail string
}

func badTimestamp(format string, args ...any) *tsError {
	return &tsError{reason: ReasonBadTimestamp, detail: fmt.Sprintf(format, args...)}
}

// findTimestamp verifies the timestamp of p7's only signer, if any: an RFC 3161 token
// (preferred) or a legacy Authenticode countersignature. It returns nil, nil when the
// signature has no timestamp.
func findTimestamp(p7 *pkcs7.PKCS7) (*timestamp, *tsError) {
	si := p7.Signers[0]
	var counter []byte
	for _, a := range si.UnauthenticatedAttributes {
		switch {
		case a.Type.Equal(oidRFC3161Timestamp):
			return verifyRFC3161(a.Value.Bytes, si.EncryptedDigest, p7.Certificates)
		case a.Type.Equal(oidCounterSignature) && counter == nil:
			counter = a.Value.Bytes
		}
	}
	if counter != nil {
		return verifyCounterSignature(counter, si.EncryptedDigest, p7.Certificates)
	}
	return nil, nil
}

// tstInfo is the RFC 3161 TSTInfo: what the timestamp authority signs.
type tstInfo struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint messageImprint
	SerialNumber   *big.Int
	GenTime        asn1.RawValue // GeneralizedTime, possibly with fractional seconds
	Accuracy       accuracy      `asn1:"optional"`
	Ordering       bool          `asn1:"optional,default:false"`
	Nonce          *big.Int      `asn1:"optional"`
	TSA            asn1.RawValue `asn1:"optional,explicit,tag:0"`
	Extensions     asn1.RawValue `asn1:"optional,tag:1"`
}

type messageImprint struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	HashedMessage []byte
}

type accuracy struct {
	Seconds int `asn1:"optional"`
	Millis  int `asn1:"optional,tag:0"`
	Micros  int `asn1:"optional,tag:1"`
}

// essCertID and essCertIDv2 identify the timestamp authority's certificate by hash in the
// signed attributes of the token (RFC 2634, RFC 5035).
type signingCertificate struct {
	Certs []essCertID
}

type essCertID struct {
	CertHash     []byte
	IssuerSerial asn1.RawValue `asn1:"optional"`
}

type signingCertificateV2 struct {
	Certs []essCertIDv2
}

type essCertIDv2 struct {
	HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"` // default SHA-256
	CertHash      []byte
	IssuerSerial  asn1.RawValue `asn1:"optional"`
}

// verifyRFC3161 verifies the RFC 3161 token tokenDER: its signature, that it identifies its
// signing certificate, and that it timestamps signature (the Authenticode signer's encrypted
// digest).
func verifyRFC3161(tokenDER, signature []byte, outerCerts []*x509.Certificate) (*timestamp, *tsError) {
	tok, err := parsePKCS7(tokenDER)
	if err != nil {
		return nil, badTimestamp("decoding the RFC 3161 timestamp token: %v", err)
	}
	if len(tok.Signers) != 1 {
		return nil, badTimestamp("the RFC 3161 timestamp token has %d signers, want exactly 1", len(tok.Signers))
	}
	tsa := tok.GetOnlySigner()
	if tsa == nil {
		return nil, badTimestamp("the timestamp authority's certificate is not included in the token")
	}
	ctRaw, ok := signedAttribute(tok, pkcs7.OIDAttributeContentType)
	var ct asn1.ObjectIdentifier
	if ok {
		_, err = asn1.Unmarshal(ctRaw, &ct)
	}
	if !ok || err != nil || !ct.Equal(oidTSTInfo) {
		return nil, badTimestamp("the timestamp token's signed content type is not TSTInfo (%s)", ct)
	}
	if err := checkSignerSignature(tok, tsa); err != nil {
		return nil, timestampSigError(tsa, err)
	}
	if err := checkSigningCertificate(tok, tsa); err != nil {
		return nil, badTimestamp("timestamp token of %q: %v", tsa.Subject.CommonName, err)
	}
	var info tstInfo
	if rest, err := asn1.Unmarshal(tok.Content, &info); err != nil || len(rest) > 0 {
		return nil, badTimestamp("decoding TSTInfo: %v (%d trailing bytes)", err, len(rest))
	}
	if info.Version != 1 {
		return nil, badTimestamp("TSTInfo version %d, want 1", info.Version)
	}
	genTime, err := parseGeneralizedTime(info.GenTime)
	if err != nil {
		return nil, badTimestamp("TSTInfo genTime: %v", err)
	}
	h, name, ok := hashByOID(info.MessageImprint.HashAlgorithm.Algorithm)
	if !ok {
		return nil, &tsError{reason: ReasonUnsupported,
			detail: fmt.Sprintf("timestamp message imprint uses unsupported hash %s", info.MessageImprint.HashAlgorithm.Algorithm)}
	}
	if !bytes.Equal(hashOf(h, signature), info.MessageImprint.HashedMessage) {
		return nil, badTimestamp("the timestamp does not cover this signature (%s message imprint mismatch)", name)
	}
	return &timestamp{
		time:          genTime,
		cert:          tsa,
		intermediates: append(append([]*x509.Certificate(nil), tok.Certificates...), outerCerts...),
		kind:          "RFC 3161",
	}, nil
}

// checkSigningCertificate checks the ESS signing-certificate attribute (v2 or v1) of the
// token: its first certificate hash must be that of the certificate that signed the token.
func checkSigningCertificate(tok *pkcs7.PKCS7, signer *x509.Certificate) error {
	if raw, ok := signedAttribute(tok, oidSigningCertificateV2); ok {
		var sc signingCertificateV2
		if _, err := asn1.Unmarshal(raw, &sc); err != nil || len(sc.Certs) == 0 {
			return fmt.Errorf("malformed signingCertificateV2 attribute (%v)", err)
		}
		h, ok := crypto.SHA256, true
		if alg := sc.Certs[0].HashAlgorithm.Algorithm; len(alg) > 0 {
			h, _, ok = hashByOID(alg)
		}
		if !ok || !bytes.Equal(hashOf(h, signer.Raw), sc.Certs[0].CertHash) {
			return fmt.Errorf("signingCertificateV2 does not identify the signing certificate")
		}
		return nil
	}
	if raw, ok := signedAttribute(tok, oidSigningCertificate); ok {
		var sc signingCertificate
		if _, err := asn1.Unmarshal(raw, &sc); err != nil || len(sc.Certs) == 0 {
			return fmt.Errorf("malformed signingCertificate attribute (%v)", err)
		}
		if !bytes.Equal(hashOf(crypto.SHA1, signer.Raw), sc.Certs[0].CertHash) {
			return fmt.Errorf("signingCertificate does not identify the signing certificate")
		}
		return nil
	}
	return fmt.Errorf("no ESS signing-certificate attribute")
}

// parseGeneralizedTime decodes a DER GeneralizedTime, accepting the fractional seconds RFC 3161
// allows (encoding/asn1 rejects them).
func parseGeneralizedTime(v asn1.RawValue) (time.Time, error) {
	if v.Class != asn1.ClassUniversal || v.Tag != asn1.TagGeneralizedTime || v.IsCompound {
		return time.Time{}, fmt.Errorf("not a GeneralizedTime (class %d, tag %d)", v.Class, v.Tag)
	}
	s := string(v.Bytes)
	if len(s) < 15 || s[len(s)-1] != 'Z' {
		return time.Time{}, fmt.Errorf("%q is not a UTC GeneralizedTime", s)
	}
	t, err := time.Parse("20060102150405Z", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parsing %q: %w", s, err)
	}
	return t.UTC(), nil
}

func timestampSigError(tsa *x509.Certificate, err error) *tsError {
	var unsup errUnsupported
	if errors.As(err, &unsup) {
		return &tsError{reason: ReasonUnsupported, detail: fmt.Sprintf("timestamp of %q: %v", tsa.Subject.CommonName, err)}
	}
	return badTimestamp("verifying the signature of timestamp authority %q: %v", tsa.Subject.CommonName, err)
}

func hashOf(h crypto.Hash, b []byte) []byte {
	w := h.New()
	w.Write(b)
	return w.Sum(nil)
}

// counterSignerInfo is the SignerInfo of a legacy Authenticode timestamp.
type counterSignerInfo struct {
	Version         int
	IssuerAndSerial struct {
		Issuer asn1.RawValue
		Serial *big.Int
	}
	DigestAlgorithm pkix.AlgorithmIdentifier
	AuthAttrs       asn1.RawValue `asn1:"optional,tag:0"`
	SigAlgorithm    pkix.AlgorithmIdentifier
	Signature       []byte
	UnauthAttrs     asn1.RawValue `asn1:"optional,tag:1"`
}

type rawAttribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

// verifyCounterSignature verifies a legacy Authenticode timestamp: a PKCS #9 countersignature
// whose signed attributes carry the signing time and the digest of signature (the
// Authenticode signer's encrypted digest). The authority's certificate comes from the outer
// signature's certificates.
func verifyCounterSignature(der, signature []byte, certs []*x509.Certificate) (*timestamp, *tsError) {
	var si counterSignerInfo
	if rest, err := asn1.Unmarshal(der, &si); err != nil || len(rest) > 0 {
		return nil, badTimestamp("decoding the countersignature: %v (%d trailing bytes)", err, len(rest))
	}
	var tsa *x509.Certificate
	for _, c := range certs {
		if bytes.Equal(c.RawIssuer, si.IssuerAndSerial.Issuer.FullBytes) && si.IssuerAndSerial.Serial != nil &&
			c.SerialNumber.Cmp(si.IssuerAndSerial.Serial) == 0 {
			tsa = c
			break
		}
	}
	if tsa == nil {
		return nil, badTimestamp("the countersigner's certificate is not included in the signature")
	}
	h, name, ok := hashByOID(si.DigestAlgorithm.Algorithm)
	if !ok {
		return nil, &tsError{reason: ReasonUnsupported,
			detail: fmt.Sprintf("countersignature uses unsupported digest %s", si.DigestAlgorithm.Algorithm)}
	}
	if len(si.AuthAttrs.FullBytes) == 0 {
		return nil, badTimestamp("the countersignature has no signed attributes")
	}
	var (
		digest  []byte
		sigTime time.Time
		haveT   bool
	)
	for rest := si.AuthAttrs.Bytes; len(rest) > 0; {
		var a rawAttribute
		var err error
		if rest, err = asn1.Unmarshal(rest, &a); err != nil {
			return nil, badTimestamp("decoding the countersignature's signed attributes: %v", err)
		}
		switch {
		case a.Type.Equal(pkcs7.OIDAttributeMessageDigest):
			if _, err := asn1.Unmarshal(a.Values.Bytes, &digest); err != nil {
				return nil, badTimestamp("countersignature messageDigest: %v", err)
			}
		case a.Type.Equal(pkcs7.OIDAttributeSigningTime):
			if _, err := asn1.Unmarshal(a.Values.Bytes, &sigTime); err != nil {
				return nil, badTimestamp("countersignature signingTime: %v", err)
			}
			haveT = true
		}
	}
	if !haveT {
		return nil, badTimestamp("the countersignature has no signing time")
	}
	if !bytes.Equal(digest, hashOf(h, signature)) {
		return nil, badTimestamp("the countersignature does not cover this signature (%s messageDigest mismatch)", name)
	}
	// The signature covers the DER SET OF the signed attributes, i.e. the [0] IMPLICIT
	// encoding with its tag replaced by SET.
	signed := append([]byte(nil), si.AuthAttrs.FullBytes...)
	signed[0] = 0x31
	if err := checkSignature(tsa, h, signed, si.Signature); err != nil {
		return nil, timestampSigError(tsa, err)
	}
	return &timestamp{time: sigTime.UTC(), cert: tsa, intermediates: certs, kind: "Authenticode"}, nil
}
