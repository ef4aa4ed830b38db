package authenticode

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"time"
	"unicode/utf16"

	"github.com/smallstep/pkcs7"
)

// This file signs cabinets in the layout osslsigncode (cab.c) and Microsoft's own signatures
// use, and builds RFC 3161 timestamp tokens in-process, so that simulations and tests can
// publish cabinets VerifyCab accepts when it trusts their roots.

var (
	// oidSpcStatementType and oidSpcIndividualCodeSigning: the signed attribute saying the
	// signature is an individual (not commercial) code signature. Microsoft's signatures on
	// TrustedTpm.cab and osslsigncode's carry it.
	oidSpcStatementType         = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 11}
	oidSpcIndividualCodeSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 21}
	// oidSpcSpOpusInfo: the signed attribute with the program's name and URL, left empty.
	oidSpcSpOpusInfo = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 12}
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
)

// Signer holds what SignCab needs to sign a cabinet.
type Signer struct {
	// Certificate is the code-signing certificate; its extended key usage must include code
	// signing. Its validity period is not checked, so that expired or not yet valid signers can
	// be simulated.
	Certificate *x509.Certificate
	// Key is the certificate's private key, RSA (signed with PKCS #1 v1.5) or ECDSA.
	Key crypto.Signer
	// Chain lists the intermediate certificates to embed, issuer of Certificate first; it may
	// be empty. The root is not needed.
	Chain []*x509.Certificate
	// Hash is the digest of the cabinet and of the signature: crypto.SHA256 (the default when
	// zero), crypto.SHA384 or crypto.SHA512.
	Hash crypto.Hash
	// Timestamper, when set, returns a DER RFC 3161 TimeStampToken (a ContentInfo holding a
	// SignedData over a TSTInfo) whose message imprint is a digest of signature, the
	// SignerInfo's encrypted digest. The token is embedded as returned; see LocalTimestamper.
	// Nil means no timestamp.
	Timestamper func(ctx context.Context, signature []byte) ([]byte, error)
}

// SignCab returns a signed copy of the Microsoft Cabinet file cab, in the form osslsigncode
// produces: an Authenticode PKCS#7 SignedData with one signer, appended to the cabinet and
// announced in a 20-byte header reserve. An unsigned cabinet gets that reserve inserted; a
// signed cabinet (one whose header reserve holds an Authenticode signature record) has its
// signature replaced. Other cabinets with a header reserve, multi-volume cabinets and
// malformed input are refused with an error. cab is not modified.
//
// The signed attributes are contentType, messageDigest, SpcStatementType (individual code
// signing), an empty SpcSpOpusInfo and signingTime (the current time; Authenticode ignores
// it). ctx is handed to the Timestamper; SignCab itself only checks it before signing and
// after timestamping.
func SignCab(ctx context.Context, cab []byte, s Signer) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("signing cabinet: %w", err)
	}
	h, hashOID, err := s.check()
	if err != nil {
		return nil, fmt.Errorf("signing cabinet: %w", err)
	}
	body, err := prepareCab(cab)
	if err != nil {
		return nil, fmt.Errorf("signing cabinet: %w", err)
	}
	le := binary.LittleEndian
	le.PutUint32(body[44:48], uint32(len(body))) // the signature offset; its length follows below
	c := &cabinet{data: body, coffFiles: le.Uint32(body[16:20]), sigOffset: uint32(len(body))}
	digest := c.digest(h)

	sig, err := buildSignature(ctx, digest, h, hashOID, s)
	if err != nil {
		return nil, fmt.Errorf("signing cabinet: %w", err)
	}
	// Like osslsigncode, pad the signature with zeros to a multiple of 8 bytes; the recorded
	// length includes the padding.
	sig = append(sig, make([]byte, (8-len(sig)%8)%8)...)
	if uint64(len(body))+uint64(len(sig)) > math.MaxUint32 {
		return nil, fmt.Errorf("signing cabinet: the signed cabinet would be larger than 4 GiB (%d + %d bytes)", len(body), len(sig))
	}
	out := append(body, sig...)
	le.PutUint32(out[48:52], uint32(len(sig)))

	if err := selfCheck(out, h, digest); err != nil {
		return nil, fmt.Errorf("signing cabinet: internal error, the result does not verify: %w", err)
	}
	return out, nil
}

// check validates the signer's fields and returns its hash and the hash's OID.
func (s Signer) check() (crypto.Hash, asn1.ObjectIdentifier, error) {
	h := s.Hash
	if h == 0 {
		h = crypto.SHA256
	}
	var oid asn1.ObjectIdentifier
	switch h {
	case crypto.SHA256:
		oid = pkcs7.OIDDigestAlgorithmSHA256
	case crypto.SHA384:
		oid = pkcs7.OIDDigestAlgorithmSHA384
	case crypto.SHA512:
		oid = pkcs7.OIDDigestAlgorithmSHA512
	default:
		return 0, nil, fmt.Errorf("unsupported hash %v: use SHA-256, SHA-384 or SHA-512", h)
	}
	if s.Certificate == nil {
		return 0, nil, errors.New("no signing certificate")
	}
	name := s.Certificate.Subject.CommonName
	if !slices.Contains(s.Certificate.ExtKeyUsage, x509.ExtKeyUsageCodeSigning) {
		return 0, nil, fmt.Errorf("certificate %q does not allow code signing (no codeSigning extended key usage)", name)
	}
	if err := checkKey(s.Certificate, s.Key); err != nil {
		return 0, nil, err
	}
	for i, c := range s.Chain {
		if c == nil {
			return 0, nil, fmt.Errorf("chain certificate %d is nil", i)
		}
	}
	return h, oid, nil
}

// checkKey checks that key is the RSA or ECDSA private key of cert.
func checkKey(cert *x509.Certificate, key crypto.Signer) error {
	name := cert.Subject.CommonName
	if key == nil {
		return fmt.Errorf("no private key for certificate %q", name)
	}
	switch cert.PublicKey.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
	default:
		return fmt.Errorf("certificate %q has an unsupported %T key: use RSA or ECDSA", name, cert.PublicKey)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return fmt.Errorf("the private key does not belong to certificate %q", name)
	}
	return nil
}

// prepareCab returns a copy of cab, ready for a signature to be appended: with the header
// reserve of a signed cabinet, its signature record zero, and without any old signature.
func prepareCab(cab []byte) ([]byte, error) {
	le := binary.LittleEndian
	if len(cab) < cfHeaderSize || string(cab[:4]) != cabMagic {
		return nil, fmt.Errorf("not a Microsoft Cabinet file (%d bytes, no MSCF header)", len(cab))
	}
	if r := le.Uint32(cab[4:8]); r != 0 {
		return nil, fmt.Errorf("CFHEADER reserved1 is 0x%08x, must be 0", r)
	}
	flags := le.Uint16(cab[30:32])
	if flags&flagReservePresent != 0 {
		return stripSignature(cab)
	}
	if n := le.Uint32(cab[8:12]); uint64(n) != uint64(len(cab)) {
		return nil, fmt.Errorf("CFHEADER cbCabinet says %d bytes but the cabinet is %d bytes (truncated, or data appended)", n, len(cab))
	}
	if flags&flagPrevCabinet != 0 {
		return nil, errors.New("multi-volume cabinet (continues a previous cabinet) is not supported")
	}
	idx := cfHeaderSize
	if flags&flagNextCabinet != 0 {
		// szCabinetNext and szDiskNext, NUL-terminated.
		for _, what := range []string{"szCabinetNext", "szDiskNext"} {
			n := bytes.IndexByte(cab[idx:], 0)
			if n < 0 {
				return nil, fmt.Errorf("unterminated %s in CFHEADER", what)
			}
			idx += n + 1
		}
	}
	cFolders := int(le.Uint16(cab[26:28]))
	coffFiles := le.Uint32(cab[16:20])
	folders := idx
	idx += cFolders * cfFolderSize
	if idx > len(cab) {
		return nil, fmt.Errorf("the %d CFFOLDER entries at offset %d extend past the end of the %d-byte cabinet", cFolders, folders, len(cab))
	}
	if uint64(coffFiles) != uint64(idx) {
		return nil, fmt.Errorf("CFHEADER coffFiles is %d, but the CFFOLDER table ends at %d", coffFiles, idx)
	}
	for i := range cFolders {
		at := folders + i*cfFolderSize
		if start := le.Uint32(cab[at : at+4]); start < coffFiles || uint64(start) > uint64(len(cab)) {
			return nil, fmt.Errorf("CFFOLDER %d: coffCabStart %d lies outside the data area [%d, %d]", i, start, coffFiles, len(cab))
		}
	}
	const grow = signedHeaderSize - cfHeaderSize // cbCFHeader, cbCFFolder, cbCFData and the reserve
	if uint64(len(cab))+grow > math.MaxUint32 {
		return nil, fmt.Errorf("cabinet of %d bytes is too large to sign", len(cab))
	}

	// Insert cbCFHeader = 20, cbCFFolder = 0, cbCFData = 0 and the 20-byte reserve after the
	// fixed header; everything behind it moves by 24 bytes.
	out := make([]byte, 0, len(cab)+grow+16*1024)
	out = append(out, cab[:cfHeaderSize]...)
	out = le.AppendUint16(out, sigReserveSize)
	out = append(out, 0, 0)
	out = le.AppendUint32(out, sigReserveMagic)
	out = append(out, make([]byte, sigReserveSize-4)...)
	out = append(out, cab[cfHeaderSize:]...)

	le.PutUint32(out[8:12], uint32(len(out)))          // cbCabinet
	le.PutUint32(out[16:20], coffFiles+grow)           // coffFiles
	le.PutUint16(out[30:32], flags|flagReservePresent) // flags
	for i := range cFolders {                          // each CFFOLDER's coffCabStart
		at := folders + grow + i*cfFolderSize
		le.PutUint32(out[at:at+4], le.Uint32(out[at:at+4])+grow)
	}
	return out, nil
}

// stripSignature returns a copy of the signed cabinet cab without its signature and with a
// zero signature record.
func stripSignature(cab []byte) ([]byte, error) {
	c, cerr := parseCabinet(cab)
	if cerr != nil {
		return nil, fmt.Errorf("the cabinet has a header reserve but is not a signed cabinet whose signature could be replaced: %s", cerr.detail)
	}
	if n := binary.LittleEndian.Uint32(cab[8:12]); n != c.sigOffset {
		return nil, fmt.Errorf("CFHEADER cbCabinet says %d bytes but the signature starts at %d", n, c.sigOffset)
	}
	out := make([]byte, c.sigOffset, int(c.sigOffset)+16*1024)
	copy(out, cab)
	clear(out[44:52])
	return out, nil
}

// buildSignature returns the DER PKCS#7 SignedData signing the cabinet digest.
//
// smallstep/pkcs7 builds it: NewSignedData gets the contents octets of the
// SpcIndirectDataContent SEQUENCE, which is what Authenticode's messageDigest attribute
// covers; before Finish the content is replaced by the SEQUENCE itself, since Authenticode
// embeds the SpcIndirectDataContent directly and not wrapped in an OCTET STRING as pkcs7 would.
func buildSignature(ctx context.Context, digest []byte, h crypto.Hash, hashOID asn1.ObjectIdentifier, s Signer) ([]byte, error) {
	idc, err := asn1.Marshal(spcIndirectDataContent{
		Data: spcAttributeTypeAndOptionalValue{Type: oidSpcCabData, Value: obsoleteSpcLink()},
		MessageDigest: digestInfo{
			DigestAlgorithm: pkix.AlgorithmIdentifier{Algorithm: hashOID, Parameters: asn1.NullRawValue},
			Digest:          digest,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding SpcIndirectDataContent: %w", err)
	}
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(idc, &seq); err != nil {
		return nil, fmt.Errorf("encoding SpcIndirectDataContent: %w", err)
	}
	sd, err := pkcs7.NewSignedData(seq.Bytes)
	if err != nil {
		return nil, fmt.Errorf("creating the SignedData: %w", err)
	}
	sd.SetDigestAlgorithm(hashOID)
	sd.GetSignedData().ContentInfo.ContentType = oidSpcIndirectDataContent // also the contentType attribute
	err = sd.AddSignerChain(s.Certificate, s.Key, s.Chain, pkcs7.SignerInfoConfig{
		ExtraSignedAttributes: []pkcs7.Attribute{
			{Type: oidSpcStatementType, Value: []asn1.ObjectIdentifier{oidSpcIndividualCodeSigning}},
			{Type: oidSpcSpOpusInfo, Value: asn1.RawValue{FullBytes: []byte{0x30, 0x00}}}, // empty SEQUENCE
		},
	})
	if err != nil {
		return nil, fmt.Errorf("signing with %q: %w", s.Certificate.Subject.CommonName, err)
	}
	sd.GetSignedData().ContentInfo.Content = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: idc}
	si := &sd.GetSignedData().SignerInfos[0]
	useRSAEncryptionOID(&si.DigestEncryptionAlgorithm)

	if s.Timestamper != nil {
		token, err := s.Timestamper(ctx, si.EncryptedDigest)
		if err != nil {
			return nil, fmt.Errorf("timestamping the signature: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("timestamping the signature: %w", err)
		}
		var ci asn1.RawValue
		if rest, err := asn1.Unmarshal(token, &ci); err != nil || len(rest) > 0 || ci.Tag != asn1.TagSequence || !ci.IsCompound {
			return nil, fmt.Errorf("the timestamper returned %d bytes that are not one DER ContentInfo (%v, %d trailing bytes)", len(token), err, len(rest))
		}
		if err := si.SetUnauthenticatedAttributes([]pkcs7.Attribute{
			{Type: oidRFC3161Timestamp, Value: asn1.RawValue{FullBytes: token}},
		}); err != nil {
			return nil, fmt.Errorf("adding the timestamp: %w", err)
		}
	}
	der, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("encoding the SignedData: %w", err)
	}
	return der, nil
}

// useRSAEncryptionOID replaces the sha*WithRSAEncryption signature algorithm pkcs7 names in a
// SignerInfo by rsaEncryption with NULL parameters, as Microsoft's and osslsigncode's
// signatures do; both forms mean PKCS #1 v1.5 with the SignerInfo's digest algorithm.
func useRSAEncryptionOID(alg *pkix.AlgorithmIdentifier) {
	for _, o := range []asn1.ObjectIdentifier{pkcs7.OIDEncryptionAlgorithmRSA, pkcs7.OIDEncryptionAlgorithmRSASHA1,
		pkcs7.OIDEncryptionAlgorithmRSASHA256, pkcs7.OIDEncryptionAlgorithmRSASHA384, pkcs7.OIDEncryptionAlgorithmRSASHA512} {
		if alg.Algorithm.Equal(o) {
			*alg = pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}
			return
		}
	}
}

// obsoleteSpcLink is the SpcLink osslsigncode and signtool put into a cabinet signature:
// file [2] EXPLICIT SpcString, unicode [0] IMPLICIT BMPString "<<<Obsolete>>>".
func obsoleteSpcLink() asn1.RawValue {
	var bmp []byte
	for _, u := range utf16.Encode([]rune("<<<Obsolete>>>")) {
		bmp = binary.BigEndian.AppendUint16(bmp, u)
	}
	str := append([]byte{0x80, byte(len(bmp))}, bmp...)
	return asn1.RawValue{FullBytes: append([]byte{0xa2, byte(len(str))}, str...)}
}

// selfCheck re-reads the signed cabinet with the verifier's own code: its structure, its
// digest and the PKCS#7 signature (not the chains, whose roots SignCab does not know).
func selfCheck(out []byte, h crypto.Hash, digest []byte) error {
	c, cerr := parseCabinet(out)
	if cerr != nil {
		return cerr
	}
	if !bytes.Equal(c.digest(h), digest) {
		return errors.New("the cabinet digest changed while appending the signature")
	}
	p7, err := parsePKCS7(c.signature())
	if err != nil {
		return err
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return errors.New("the signer's certificate is missing")
	}
	return checkSignerSignature(p7, signer)
}

// LocalTimestamper returns a Signer.Timestamper that acts as an RFC 3161 timestamp authority
// in-process, without any network: it signs tokens asserting the time now() (time.Now when nil,
// truncated to seconds) with cert and key, embedding cert and chain. cert must be valid for
// timestamping as Windows and OpenSSL demand: an extended key usage extension that is critical
// and lists timeStamping only. Tokens carry a SHA-256 message imprint, the ESS
// signingCertificateV2 attribute and a random serial number.
func LocalTimestamper(cert *x509.Certificate, key crypto.Signer, chain []*x509.Certificate, now func() time.Time) func(ctx context.Context, signature []byte) ([]byte, error) {
	if now == nil {
		now = time.Now
	}
	return func(ctx context.Context, signature []byte) ([]byte, error) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("local timestamp authority: %w", err)
		}
		if err := checkTSACert(cert, key); err != nil {
			return nil, fmt.Errorf("local timestamp authority: %w", err)
		}
		token, err := timestampToken(cert, key, chain, now().UTC().Truncate(time.Second), signature)
		if err != nil {
			return nil, fmt.Errorf("local timestamp authority %q: %w", cert.Subject.CommonName, err)
		}
		return token, nil
	}
}

// checkTSACert checks that cert may sign timestamps and that key is its private key.
func checkTSACert(cert *x509.Certificate, key crypto.Signer) error {
	if cert == nil {
		return errors.New("no certificate")
	}
	name := cert.Subject.CommonName
	critical := false
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidExtensionExtKeyUsage) {
			critical = e.Critical
		}
	}
	if !critical || len(cert.UnknownExtKeyUsage) > 0 ||
		!slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}) {
		return fmt.Errorf("certificate %q is not a timestamping certificate: its extended key usage must be critical and list timeStamping only", name)
	}
	return checkKey(cert, key)
}

var oidExtensionExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

// oidLocalTSAPolicy is the TSA policy of LocalTimestamper's tokens, below the private
// enterprise number IANA reserves for documentation and examples (RFC 5612), so that it names
// no real policy.
var oidLocalTSAPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 1}

// timestampToken returns an RFC 3161 TimeStampToken asserting that signature existed at t.
func timestampToken(cert *x509.Certificate, key crypto.Signer, chain []*x509.Certificate, t time.Time, signature []byte) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, fmt.Errorf("choosing a serial number: %w", err)
	}
	imprint := sha256.Sum256(signature)
	info, err := asn1.Marshal(tstInfo{
		Version: 1,
		Policy:  oidLocalTSAPolicy,
		MessageImprint: messageImprint{
			HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: pkcs7.OIDDigestAlgorithmSHA256, Parameters: asn1.NullRawValue},
			HashedMessage: imprint[:],
		},
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		GenTime:      asn1.RawValue{Tag: asn1.TagGeneralizedTime, Bytes: []byte(t.Format("20060102150405Z"))},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding TSTInfo: %w", err)
	}
	sd, err := pkcs7.NewSignedData(info)
	if err != nil {
		return nil, fmt.Errorf("creating the token's SignedData: %w", err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	sd.GetSignedData().ContentInfo.ContentType = oidTSTInfo // also the contentType attribute
	certHash := sha256.Sum256(cert.Raw)
	ess := signingCertificateV2{Certs: []essCertIDv2{{CertHash: certHash[:]}}}
	if err := sd.AddSignerChain(cert, key, chain, pkcs7.SignerInfoConfig{
		ExtraSignedAttributes: []pkcs7.Attribute{{Type: oidSigningCertificateV2, Value: ess}},
	}); err != nil {
		return nil, fmt.Errorf("signing the token: %w", err)
	}
	useRSAEncryptionOID(&sd.GetSignedData().SignerInfos[0].DigestEncryptionAlgorithm)
	token, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("encoding the token: %w", err)
	}
	return token, nil
}
