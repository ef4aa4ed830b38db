package sim

import (
	"encoding/asn1"
	"fmt"
)

var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
)

// certsOnly builds a degenerate PKCS#7 SignedData (RFC 2315 / RFC 5652 "certs-only", as SCEP's
// GetCACert answers carry) holding the DER certificates in the given order, with no content and
// no signers:
//
//	ContentInfo { signedData, [0] EXPLICIT SignedData { version 1, digestAlgorithms {},
//	  contentInfo { data }, certificates [0] IMPLICIT SET OF Certificate, signerInfos {} } }
func certsOnly(certs ...[]byte) ([]byte, error) {
	var all []byte
	for _, c := range certs {
		all = append(all, c...)
	}
	type contentInfo struct {
		ContentType asn1.ObjectIdentifier
	}
	type signedData struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		ContentInfo      contentInfo
		Certificates     asn1.RawValue
		SignerInfos      asn1.RawValue
	}
	emptySet := asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: []byte{}}
	sd, err := asn1.Marshal(signedData{
		Version:          1,
		DigestAlgorithms: emptySet,
		ContentInfo:      contentInfo{ContentType: oidData},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: all},
		SignerInfos:      emptySet,
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs7 signed data: %w", err)
	}
	out, err := asn1.Marshal(struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue
	}{oidSignedData, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd}})
	if err != nil {
		return nil, fmt.Errorf("pkcs7 content info: %w", err)
	}
	return out, nil
}
