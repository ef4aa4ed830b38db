package authenticode

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/smallstep/pkcs7"
)

// parsePKCS7 decodes a PKCS#7/CMS ContentInfo holding a SignedData.
//
// pkcs7.Parse hands the whole certificates field to x509.ParseCertificates, so it fails on a
// SignedData whose CertificateChoices include anything but plain X.509 certificates. Microsoft's
// RFC 3161 timestamp tokens carry a v1 attribute certificate ([1] IMPLICIT) there. Those entries
// are dropped before parsing: the certificates field is not covered by the signature, and
// chain building needs only the X.509 certificates.
func parsePKCS7(der []byte) (*pkcs7.PKCS7, error) {
	if filtered, err := keepX509Certificates(der); err == nil {
		der = filtered
	}
	return pkcs7.Parse(der)
}

// keepX509Certificates returns der with the non-X.509 entries of the SignedData's certificates
// field removed and anything after the ContentInfo cut off. It fails on input that is not DER-encoded SignedData; the caller then passes the
// input unchanged to the PKCS#7 parser.
func keepX509Certificates(der []byte) ([]byte, error) {
	var ci struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,tag:0"`
	}
	// Bytes after the ContentInfo (such as the zero padding of a cabinet signature) are
	// dropped; pkcs7.Parse ignores them too.
	if _, err := asn1.Unmarshal(der, &ci); err != nil {
		return nil, errors.New("not a DER ContentInfo")
	}
	// For a RawValue, encoding/asn1 keeps the explicit [0] wrapper: its contents are the
	// SignedData SEQUENCE.
	var signedData asn1.RawValue
	if !ci.ContentType.Equal(pkcs7.OIDSignedData) {
		return nil, errors.New("not a SignedData")
	}
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &signedData); err != nil || len(rest) > 0 ||
		signedData.Tag != asn1.TagSequence || !signedData.IsCompound {
		return nil, errors.New("malformed SignedData")
	}
	var fields []asn1.RawValue
	for rest := signedData.Bytes; len(rest) > 0; {
		var f asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &f); err != nil {
			return nil, err
		}
		fields = append(fields, f)
	}
	changed := false
	var sd []byte
	for _, f := range fields {
		if f.Class == asn1.ClassContextSpecific && f.Tag == 0 && f.IsCompound {
			var certs []byte
			for rest := f.Bytes; len(rest) > 0; {
				var c asn1.RawValue
				var err error
				if rest, err = asn1.Unmarshal(rest, &c); err != nil {
					return nil, err
				}
				if c.Class == asn1.ClassUniversal && c.Tag == asn1.TagSequence {
					certs = append(certs, c.FullBytes...)
				} else {
					changed = true
				}
			}
			b, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: certs})
			if err != nil {
				return nil, err
			}
			sd = append(sd, b...)
			continue
		}
		sd = append(sd, f.FullBytes...)
	}
	if !changed {
		return der, nil
	}
	sdDER, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: sd})
	if err != nil {
		return nil, err
	}
	oid, err := asn1.Marshal(ci.ContentType)
	if err != nil {
		return nil, err
	}
	content, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sdDER})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: append(oid, content...)})
}

// checkSignerSignature verifies the only SignerInfo of p7, signed by cert: its messageDigest
// attribute must be the digest of the content and its signature must verify over the signed
// attributes.
//
// This is pkcs7's VerifyWithChainAtTime(nil, ...) without one check: pkcs7 rejects a signature
// whose signingTime attribute lies outside the signer certificate's validity, before it even
// checks the signature. In Authenticode signingTime is the signer's own unverified claim that
// Windows and osslsigncode ignore; validity is judged at the timestamp's time instead.
func checkSignerSignature(p7 *pkcs7.PKCS7, cert *x509.Certificate) error {
	si := p7.Signers[0]
	h, _, ok := hashByOID(si.DigestAlgorithm.Algorithm)
	if !ok {
		return errUnsupported{fmt.Sprintf("digest algorithm %s", si.DigestAlgorithm.Algorithm)}
	}
	mdRaw, ok := signedAttribute(p7, pkcs7.OIDAttributeMessageDigest)
	if !ok {
		return errors.New("no signed messageDigest attribute")
	}
	var md []byte
	if _, err := asn1.Unmarshal(mdRaw, &md); err != nil {
		return fmt.Errorf("decoding the messageDigest attribute: %w", err)
	}
	if !bytes.Equal(md, hashOf(h, p7.Content)) {
		return errors.New("the messageDigest attribute does not match the signed content")
	}
	// The signature covers the DER SET OF the signed attributes. Like pkcs7, re-encode the
	// parsed attributes (encoding/asn1 sorts SET OF as DER requires).
	type attr struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue
	}
	attrs := make([]attr, len(si.AuthenticatedAttributes))
	for i, a := range si.AuthenticatedAttributes {
		attrs[i] = attr{a.Type, a.Value}
	}
	seq, err := asn1.Marshal(struct {
		A []attr `asn1:"set"`
	}{attrs})
	if err != nil {
		return fmt.Errorf("encoding the signed attributes: %w", err)
	}
	var set asn1.RawValue
	if _, err := asn1.Unmarshal(seq, &set); err != nil {
		return fmt.Errorf("encoding the signed attributes: %w", err)
	}
	return checkSignature(cert, h, set.Bytes, si.EncryptedDigest)
}

// errUnsupported marks an algorithm this package does not verify.
type errUnsupported struct{ what string }

func (e errUnsupported) Error() string { return "unsupported " + e.what }

// checkSignature verifies sig over signed with cert's key (RSA PKCS #1 v1.5 or ECDSA) and h.
func checkSignature(cert *x509.Certificate, h crypto.Hash, signed, sig []byte) error {
	var algs map[crypto.Hash]x509.SignatureAlgorithm
	switch cert.PublicKey.(type) {
	case *rsa.PublicKey:
		algs = map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA1: x509.SHA1WithRSA,
			crypto.SHA256: x509.SHA256WithRSA, crypto.SHA384: x509.SHA384WithRSA, crypto.SHA512: x509.SHA512WithRSA}
	case *ecdsa.PublicKey:
		algs = map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA1: x509.ECDSAWithSHA1,
			crypto.SHA256: x509.ECDSAWithSHA256, crypto.SHA384: x509.ECDSAWithSHA384, crypto.SHA512: x509.ECDSAWithSHA512}
	default:
		return errUnsupported{fmt.Sprintf("signer key type %T", cert.PublicKey)}
	}
	alg, ok := algs[h]
	if !ok {
		return errUnsupported{fmt.Sprintf("digest %v", h)}
	}
	return cert.CheckSignature(alg, signed, sig)
}
