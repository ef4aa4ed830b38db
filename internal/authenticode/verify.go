package authenticode

import (
	"bytes"
	"crypto"
	_ "crypto/sha1" // register the digest algorithms Authenticode signatures may name
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"github.com/smallstep/pkcs7"
)

var (
	oidSpcIndirectDataContent = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 4}
	// oidSpcCabData (SPC_CAB_DATA_OBJID) is what osslsigncode and signtool put in the
	// SpcAttributeTypeAndOptionalValue of a cabinet signature; 1.3.6.1.4.1.311.2.1.28 has
	// been seen as well.
	oidSpcCabData  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 25}
	oidSpcCabData2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 28}
)

// spcIndirectDataContent is Authenticode's signed content: what kind of file is signed, and
// its digest.
type spcIndirectDataContent struct {
	Data          spcAttributeTypeAndOptionalValue
	MessageDigest digestInfo
}

type spcAttributeTypeAndOptionalValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"optional"`
}

type digestInfo struct {
	DigestAlgorithm pkix.AlgorithmIdentifier
	Digest          []byte
}

// hashByOID maps a digest algorithm identifier to a hash and its display name.
func hashByOID(oid asn1.ObjectIdentifier) (crypto.Hash, string, bool) {
	switch {
	case oid.Equal(pkcs7.OIDDigestAlgorithmSHA1):
		return crypto.SHA1, "SHA-1", true
	case oid.Equal(pkcs7.OIDDigestAlgorithmSHA256):
		return crypto.SHA256, "SHA-256", true
	case oid.Equal(pkcs7.OIDDigestAlgorithmSHA384):
		return crypto.SHA384, "SHA-384", true
	case oid.Equal(pkcs7.OIDDigestAlgorithmSHA512):
		return crypto.SHA512, "SHA-512", true
	}
	return 0, "", false
}

// VerifyCab verifies the Authenticode signature of the Microsoft Cabinet file data against
// roots. It accepts arbitrary bytes and never panics: input that is not a cabinet is invalid
// (malformed_cabinet), a cabinet without a signature is unsigned.
func VerifyCab(data []byte, roots Roots) (res Result) {
	defer func() {
		if r := recover(); r != nil {
			res = Result{
				Status: StatusInvalid,
				Reason: ReasonMalformedSignature,
				Detail: fmt.Sprintf("internal error while decoding the signature: %v", r),
			}
		}
	}()
	return verifyCab(data, roots, time.Now())
}

// verifyCab is VerifyCab with the current time as a parameter.
func verifyCab(data []byte, roots Roots, now time.Time) Result {
	var res Result
	fail := func(reason Reason, format string, args ...any) Result {
		res.Status, res.Reason, res.Detail = StatusInvalid, reason, fmt.Sprintf(format, args...)
		return res
	}

	cab, cerr := parseCabinet(data)
	if cerr != nil {
		res.Status, res.Reason, res.Detail = cerr.status, cerr.reason, cerr.detail
		return res
	}

	// The signature blob; bytes after the PKCS#7 structure (osslsigncode pads it with zeros to
	// a multiple of 8) are ignored by the parser, as by osslsigncode.
	p7, err := parsePKCS7(cab.signature())
	if err != nil {
		return fail(ReasonMalformedSignature, "decoding the PKCS#7 signature: %v", err)
	}
	if len(p7.Signers) != 1 {
		return fail(ReasonMalformedSignature, "the signature has %d SignerInfos, want exactly 1", len(p7.Signers))
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return fail(ReasonMalformedSignature, "the signer's certificate is not included in the signature")
	}
	res.Signer, res.SignerIssuer = signer.Subject.CommonName, signer.Issuer.CommonName

	ctRaw, ok := signedAttribute(p7, pkcs7.OIDAttributeContentType)
	if !ok {
		return fail(ReasonMalformedSignature, "the signature has no signed contentType attribute")
	}
	var ct asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(ctRaw, &ct); err != nil || !ct.Equal(oidSpcIndirectDataContent) {
		return fail(ReasonMalformedSignature, "the signed content type is not SpcIndirectDataContent (%s)", ct)
	}
	// p7.Content holds the contents octets of the SpcIndirectDataContent SEQUENCE, without
	// its tag and length: exactly the bytes Authenticode's messageDigest attribute covers.
	var idc spcIndirectDataContent
	full, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: p7.Content})
	if err != nil {
		return fail(ReasonMalformedSignature, "re-encoding SpcIndirectDataContent: %v", err)
	}
	if _, err := asn1.Unmarshal(full, &idc); err != nil {
		return fail(ReasonMalformedSignature, "decoding SpcIndirectDataContent: %v", err)
	}
	if t := idc.Data.Type; !t.Equal(oidSpcCabData) && !t.Equal(oidSpcCabData2) {
		return fail(ReasonUnsupported, "the signature is not a cabinet signature (SpcIndirectDataContent type %s)", t)
	}
	h, name, ok := hashByOID(idc.MessageDigest.DigestAlgorithm.Algorithm)
	if !ok {
		return fail(ReasonUnsupported, "unsupported digest algorithm %s", idc.MessageDigest.DigestAlgorithm.Algorithm)
	}
	res.DigestAlgorithm, res.Digest = name, idc.MessageDigest.Digest
	res.ComputedDigest = cab.digest(h)
	if !bytes.Equal(res.Digest, res.ComputedDigest) {
		return fail(ReasonDigestMismatch,
			"the cabinet's %s digest %X differs from the signed digest %X: the file was modified after signing",
			name, res.ComputedDigest, res.Digest)
	}

	// The signature over the signed attributes, and their messageDigest over the content. The
	// chain is built below, with the right key usage and time.
	if err := checkSignerSignature(p7, signer); err != nil {
		var unsup errUnsupported
		if errors.As(err, &unsup) {
			return fail(ReasonUnsupported, "signature of %q: %v", res.Signer, err)
		}
		return fail(ReasonBadSignature, "verifying the PKCS#7 signature of %q: %v", res.Signer, err)
	}

	ts, terr := findTimestamp(p7)
	if terr != nil {
		return fail(terr.reason, "%s", terr.detail)
	}
	at := now
	if ts != nil {
		at = ts.time
		res.Timestamp, res.TimestampSigner = ts.time, ts.cert.Subject.CommonName
	}
	res.VerifiedAt = at

	if err := verifyChain(signer, p7.Certificates, roots.CodeSigning, at, x509.ExtKeyUsageCodeSigning); err != nil {
		var inv x509.CertificateInvalidError
		switch {
		case errors.As(err, &inv) && inv.Reason == x509.Expired && ts == nil && at.After(signer.NotAfter):
			return fail(ReasonExpired, "signer certificate %q expired on %s and the signature has no timestamp: %v",
				res.Signer, signer.NotAfter.Format(time.RFC3339), err)
		case errors.As(err, &inv) && inv.Reason == x509.Expired && ts == nil:
			return fail(ReasonExpired, "signer chain of %q is not valid now and the signature has no timestamp: %v",
				res.Signer, err)
		case errors.As(err, &inv) && inv.Reason == x509.Expired:
			return fail(ReasonExpired, "signer chain of %q is not valid at the timestamp %s: %v",
				res.Signer, at.Format(time.RFC3339), err)
		}
		return fail(ReasonUntrustedChain, "signer certificate %q does not chain to a trusted code-signing root: %v",
			res.Signer, err)
	}
	if ts != nil {
		if err := verifyChain(ts.cert, ts.intermediates, roots.Timestamp, at, x509.ExtKeyUsageTimeStamping); err != nil {
			return fail(ReasonBadTimestamp, "timestamp authority %q is not trusted at %s: %v",
				res.TimestampSigner, at.Format(time.RFC3339), err)
		}
	}

	res.Status = StatusValid
	if ts != nil {
		res.Detail = fmt.Sprintf("signed by %q (issued by %q), %s timestamp %s by %q",
			res.Signer, res.SignerIssuer, ts.kind, ts.time.Format(time.RFC3339), res.TimestampSigner)
	} else {
		res.Detail = fmt.Sprintf("signed by %q (issued by %q), no timestamp: valid at %s",
			res.Signer, res.SignerIssuer, at.Format(time.RFC3339))
	}
	return res
}

// signedAttribute returns the contents of the SET of values of the only signer's signed
// attribute oid.
func signedAttribute(p7 *pkcs7.PKCS7, oid asn1.ObjectIdentifier) ([]byte, bool) {
	for _, a := range p7.Signers[0].AuthenticatedAttributes {
		if a.Type.Equal(oid) {
			return a.Value.Bytes, true
		}
	}
	return nil, false
}

// verifyChain checks that leaf chains to roots through intermediates, with every certificate
// valid at t and allowing usage. A nil roots pool trusts nothing.
func verifyChain(leaf *x509.Certificate, intermediates []*x509.Certificate, roots *x509.CertPool, t time.Time, usage x509.ExtKeyUsage) error {
	if roots == nil {
		roots = x509.NewCertPool()
	}
	pool := x509.NewCertPool()
	for _, c := range intermediates {
		pool.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: pool,
		CurrentTime:   t,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	return err
}
