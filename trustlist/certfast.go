package trustlist

import (
	"bytes"
	"crypto/sha256"
	encasn1 "encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// This file reads the few fields of a certificate the index keeps without crypto/x509, which
// turns every public key into big integers, every name and OID into slices and every
// extension into values the index never looks at. The reader accepts a certificate only when
// it is sure crypto/x509.ParseCertificate would accept it too and say the same about every
// field of CertInfo; anything else (an encoding x509 rejects, an algorithm or extension this
// reader does not know) makes it give up, and the caller asks crypto/x509. Correctness never
// depends on the fast path: it only ever says less.

// Reasons the fast reader gives up. They are never shown: the crypto/x509 path decides.
var (
	errFastStructure = errors.New("certfast: certificate structure")
	errFastVersion   = errors.New("certfast: version")
	errFastSerial    = errors.New("certfast: serial number not minimally encoded or negative")
	errFastSigAlg    = errors.New("certfast: signature algorithm")
	errFastName      = errors.New("certfast: name")
	errFastTime      = errors.New("certfast: validity")
	errFastKey       = errors.New("certfast: public key")
	errFastExtension = errors.New("certfast: extension")
	errFastUnknown   = errors.New("certfast: extension crypto/x509 checks that this reader does not")
)

// readCertInfo describes the certificate in a member's bytes: PEM or DER as for
// [ParseCertificate], whose error it returns when the certificate does not parse. sumHex is
// the lower-case hex SHA-256 of data (the member's digest), reused as the fingerprint of DER
// members.
func readCertInfo(data []byte, sumHex string, names *nameCache) (*CertInfo, error) {
	// The fast reader keeps nothing of the DER, so PEM is decoded into a reused buffer.
	if i := bytes.Index(data, []byte("-----BEGIN")); i >= 0 {
		buf := pemBuffers.Get().(*[]byte)
		der, ok := decodePEM((*buf)[:0], data[i:])
		var ci *CertInfo
		var err error = errFastStructure
		if ok {
			ci, err = fastCertInfo(der, "PEM", "", names)
			if cap(der) <= maxPooledPEM {
				*buf = der[:0]
			}
		}
		pemBuffers.Put(buf)
		if err == nil {
			return ci, nil
		}
	} else if len(data) > 1 && data[0] == 0x30 {
		if ci, err := fastCertInfo(data, "DER", sumHex, names); err == nil {
			return ci, nil
		}
	}
	der, enc, err := certificateDER(data)
	if err != nil {
		return nil, err
	}
	c, err := parseDER(der, enc)
	if err != nil {
		return nil, err
	}
	return certInfo(c, enc, names), nil
}

// pemBuffers holds buffers for decodePEM, up to maxPooledPEM bytes.
var pemBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledPEM = 64 << 10

// decodePEM is fastPEM appending to dst: it accepts exactly what fastPEM accepts and returns
// the same bytes, without copying the base64 first. Lines are decoded one by one, so each but
// the last must hold whole base64 quanta without padding; otherwise it reports false (and
// the caller asks certificateDER).
func decodePEM(dst, data []byte) ([]byte, bool) {
	if !bytes.HasPrefix(data, pemBegin) {
		return nil, false
	}
	body := data[len(pemBegin):]
	end := bytes.Index(body, pemEnd)
	if end < 0 {
		return nil, false
	}
	body = body[:end]
	if bytes.IndexByte(body, ':') >= 0 {
		return nil, false
	}
	if n := base64.StdEncoding.DecodedLen(len(body)); cap(dst) < n {
		dst = make([]byte, 0, n)
	}
	padded := false
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			continue
		}
		if padded || len(line)%4 != 0 {
			return nil, false
		}
		n, err := base64.StdEncoding.Decode(dst[len(dst):cap(dst)], line)
		if err != nil {
			return nil, false
		}
		padded = line[len(line)-1] == '='
		dst = dst[:len(dst)+n]
	}
	return dst, true
}

// fastCertInfo reads what [certInfo] would say about the certificate der, or returns an error
// when it cannot be sure of that. fpHex, when not empty, is the hex SHA-256 of der.
func fastCertInfo(der []byte, enc, fpHex string, names *nameCache) (*CertInfo, error) {
	input := cryptobyte.String(der)
	var cert cryptobyte.String
	if !input.ReadASN1(&cert, cbasn1.SEQUENCE) || !input.Empty() {
		return nil, errFastStructure
	}
	var tbs cryptobyte.String
	if !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, errFastStructure
	}

	// version [0] EXPLICIT INTEGER DEFAULT v1: only v1, v2 and v3 exist.
	version := 1
	var v cryptobyte.String
	var present bool
	if !tbs.ReadOptionalASN1(&v, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, errFastVersion
	}
	if present {
		var vb cryptobyte.String
		if !v.ReadASN1(&vb, cbasn1.INTEGER) || !v.Empty() || len(vb) != 1 || vb[0] > 2 {
			return nil, errFastVersion
		}
		version = int(vb[0]) + 1
	}

	var serial cryptobyte.String
	if !tbs.ReadASN1(&serial, cbasn1.INTEGER) || !minimalInteger(serial) || serial[0]&0x80 != 0 {
		return nil, errFastSerial
	}

	var sigAI, outerSigAI cryptobyte.String
	if !tbs.ReadASN1(&sigAI, cbasn1.SEQUENCE) || !cert.ReadASN1(&outerSigAI, cbasn1.SEQUENCE) ||
		!bytes.Equal(sigAI, outerSigAI) {
		return nil, errFastSigAlg
	}
	sigOID, sigParams, ok := readAlgorithm(sigAI)
	if !ok {
		return nil, errFastSigAlg
	}
	sigAlg, ok := signatureAlgorithmName(sigOID, sigParams)
	if !ok {
		return nil, errFastSigAlg
	}

	var rawIssuer cryptobyte.String
	if !tbs.ReadASN1Element(&rawIssuer, cbasn1.SEQUENCE) {
		return nil, errFastName
	}
	var validity cryptobyte.String
	if !tbs.ReadASN1(&validity, cbasn1.SEQUENCE) {
		return nil, errFastTime
	}
	var notBefore, notAfter time.Time
	if !readTime(&validity, &notBefore) || !readTime(&validity, &notAfter) {
		return nil, errFastTime
	}
	var rawSubject cryptobyte.String
	if !tbs.ReadASN1Element(&rawSubject, cbasn1.SEQUENCE) {
		return nil, errFastName
	}

	var spki cryptobyte.String
	if !tbs.ReadASN1(&spki, cbasn1.SEQUENCE) {
		return nil, errFastKey
	}
	pkAlg, err := checkPublicKey(spki)
	if err != nil {
		return nil, err
	}

	var ext extInfo
	if version > 1 {
		if !tbs.SkipOptionalASN1(cbasn1.Tag(1).ContextSpecific()) ||
			!tbs.SkipOptionalASN1(cbasn1.Tag(2).ContextSpecific()) {
			return nil, errFastStructure
		}
		if version == 3 {
			var exts cryptobyte.String
			if !tbs.ReadOptionalASN1(&exts, &present, cbasn1.Tag(3).Constructed().ContextSpecific()) {
				return nil, errFastExtension
			}
			if present {
				if err := ext.read(exts); err != nil {
					return nil, err
				}
			}
		}
	}

	var sig encasn1.BitString
	if !cert.ReadASN1BitString(&sig) {
		return nil, errFastStructure
	}

	// Everything crypto/x509 checks has been checked: the rest cannot fail but for the names.
	// Subjects are nearly all distinct (issuers are few): only issuers are worth remembering.
	subject, err := names.lookup(rawSubject, false)
	if err != nil {
		return nil, err
	}
	issuer, err := names.lookup(rawIssuer, true)
	if err != nil {
		return nil, err
	}
	ci := &CertInfo{
		Encoding:           enc,
		Subject:            subject.str,
		SubjectCN:          subject.cn,
		Issuer:             issuer.str,
		NotBefore:          notBefore.UTC(),
		NotAfter:           notAfter.UTC(),
		SignatureAlgorithm: sigAlg,
		PublicKeyAlgorithm: pkAlg,
		NameID:             subject.id,
		IssuerNameID:       issuer.id,
		SelfSigned:         bytes.Equal(rawSubject, rawIssuer),
		IsCA:               ext.isCA,
		Fingerprint:        fpHex,
	}
	ext.strings(ci, serial, der)
	return ci, nil
}

// strings fills in the certificate's own strings (serial number, key identifiers,
// fingerprint when not known, URIs), all cut from one allocation: they live as long as the
// CertInfo does anyway.
func (x *extInfo) strings(ci *CertInfo, serial, der []byte) {
	if len(serial) > 1 && serial[0] == 0 {
		serial = serial[1:]
	}
	n := 2 * (len(serial) + len(x.ski) + len(x.aki))
	if ci.Fingerprint == "" {
		n += 2 * sha256.Size
	}
	for i := range x.aia.n {
		n += len(x.aia.at(i))
	}
	for i := range x.crl.n {
		n += len(x.crl.at(i))
	}
	var b strings.Builder
	b.Grow(n)
	appendHex(&b, serial)
	appendHex(&b, x.ski)
	appendHex(&b, x.aki)
	if ci.Fingerprint == "" {
		fp := sha256.Sum256(der)
		appendHex(&b, fp[:])
	}
	for i := range x.aia.n {
		b.Write(x.aia.at(i))
	}
	for i := range x.crl.n {
		b.Write(x.crl.at(i))
	}
	s := b.String()
	cut := func(n int) string {
		v := s[:n]
		s = s[n:]
		return v
	}
	ci.Serial = cut(2 * len(serial))
	if len(ci.Serial) > 1 && ci.Serial[0] == '0' { // big.Int.Text(16) has no leading zero
		ci.Serial = ci.Serial[1:]
	}
	ci.SKI = cut(2 * len(x.ski))
	ci.AKI = cut(2 * len(x.aki))
	if ci.Fingerprint == "" {
		ci.Fingerprint = cut(2 * sha256.Size)
	}
	na, nc := x.aia.n, x.crl.n
	if na+nc == 0 {
		return
	}
	urls := make([]string, na+nc)
	for i := range na {
		urls[i] = cut(len(x.aia.at(i)))
	}
	for i := range nc {
		urls[na+i] = cut(len(x.crl.at(i)))
	}
	if na > 0 {
		ci.AIA = urls[:na:na]
	}
	if nc > 0 {
		ci.CRL = urls[na:]
	}
}

// appendHex writes b in lower-case hex.
func appendHex(w *strings.Builder, b []byte) {
	var buf [64]byte
	for len(b) > 0 {
		n := min(len(b), len(buf)/2)
		hex.Encode(buf[:], b[:n])
		w.Write(buf[:2*n])
		b = b[n:]
	}
}

// minimalInteger reports whether b is the content of an INTEGER as DER (and crypto/x509)
// wants it: at least one byte, no redundant leading 0x00 or 0xff.
func minimalInteger(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	return len(b) == 1 || !(b[0] == 0 && b[1]&0x80 == 0 || b[0] == 0xff && b[1]&0x80 != 0)
}

// positiveInteger reads an INTEGER that must be minimally encoded and greater than zero.
func positiveInteger(s *cryptobyte.String) bool {
	var b cryptobyte.String
	return s.ReadASN1(&b, cbasn1.INTEGER) && minimalInteger(b) && b[0]&0x80 == 0 && !(len(b) == 1 && b[0] == 0)
}

// validOID reports whether b is the content of an OBJECT IDENTIFIER that cryptobyte's
// ReadASN1ObjectIdentifier (and so crypto/x509) accepts: base-128 components in the fewest
// octets, none of them wider than 31 bits.
func validOID(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for len(b) > 0 {
		ret := 0
		for i := 0; ; i++ {
			if len(b) == 0 || i == 5 || ret >= 1<<(31-7) {
				return false
			}
			c := b[0]
			b = b[1:]
			if i == 0 && c == 0x80 {
				return false
			}
			ret = ret<<7 | int(c&0x7f)
			if c&0x80 == 0 {
				break
			}
		}
	}
	return true
}

// readAlgorithm reads an AlgorithmIdentifier's content as crypto/x509 does: an OID, then
// optionally any one element (the parameters, tag and length included).
func readAlgorithm(ai cryptobyte.String) (oid, params []byte, ok bool) {
	var o cryptobyte.String
	if !ai.ReadASN1(&o, cbasn1.OBJECT_IDENTIFIER) || !validOID(o) {
		return nil, nil, false
	}
	if ai.Empty() {
		return o, nil, true
	}
	var p cryptobyte.String
	var tag cbasn1.Tag
	if !ai.ReadAnyASN1Element(&p, &tag) {
		return nil, nil, false
	}
	return o, p, true
}
