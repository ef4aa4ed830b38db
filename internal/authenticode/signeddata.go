package authenticode

import (
	"encoding/asn1"
	"errors"

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
