package trustlist

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	encasn1 "encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

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

// uriList holds URIs (in the certificate's bytes), the first few without allocating.
type uriList struct {
	n      int
	inline [4][]byte
	more   [][]byte
}

func (l *uriList) add(u []byte) {
	if l.n < len(l.inline) {
		l.inline[l.n] = u
	} else {
		l.more = append(l.more, u)
	}
	l.n++
}

func (l *uriList) at(i int) []byte {
	if i < len(l.inline) {
		return l.inline[i]
	}
	return l.more[i-len(l.inline)]
}

// extInfo is what the index keeps of a certificate's extensions.
type extInfo struct {
	ski, aki []byte
	isCA     bool
	aia, crl uriList
}

// read checks the extensions ([3]'s content) as crypto/x509 does and keeps what the index
// needs. Extensions x509 parses but this reader does not (subject alternative names, name
// constraints, policy mappings and constraints, inhibit anyPolicy) make it give up.
func (x *extInfo) read(exts cryptobyte.String) error {
	if !exts.ReadASN1(&exts, cbasn1.SEQUENCE) {
		return errFastExtension
	}
	var seenBuf [16][]byte
	seen := seenBuf[:0]
	for !exts.Empty() {
		var ext, oid, val cryptobyte.String
		critical := false
		if !exts.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) || !validOID(oid) {
			return errFastExtension
		}
		if ext.PeekASN1Tag(cbasn1.BOOLEAN) && !ext.ReadASN1Boolean(&critical) {
			return errFastExtension
		}
		if !ext.ReadASN1(&val, cbasn1.OCTET_STRING) {
			return errFastExtension
		}
		// An OID has one encoding, so equal OIDs are equal bytes.
		for _, s := range seen {
			if bytes.Equal(s, oid) {
				return errFastExtension
			}
		}
		seen = append(seen, oid)
		if err := x.process(oid, critical, val); err != nil {
			return err
		}
	}
	return nil
}

// process reads one extension's value the way crypto/x509's processExtensions does.
func (x *extInfo) process(oid []byte, critical bool, val cryptobyte.String) error {
	if bytes.Equal(oid, oidAIA) {
		return x.readAIA(critical, val)
	}
	if len(oid) != 3 || oid[0] != 0x55 || oid[1] != 0x1d || oid[2]&0x80 != 0 { // not 2.5.29.n, n < 128
		return nil
	}
	switch oid[2] {
	case 14: // subject key identifier
		var skid cryptobyte.String
		if critical || !val.ReadASN1(&skid, cbasn1.OCTET_STRING) {
			return errFastExtension
		}
		x.ski = skid
	case 15: // key usage
		var bits encasn1.BitString
		if !val.ReadASN1BitString(&bits) {
			return errFastExtension
		}
	case 19: // basic constraints
		if !val.ReadASN1(&val, cbasn1.SEQUENCE) {
			return errFastExtension
		}
		if val.PeekASN1Tag(cbasn1.BOOLEAN) && !val.ReadASN1Boolean(&x.isCA) {
			return errFastExtension
		}
		if val.PeekASN1Tag(cbasn1.INTEGER) {
			var mpl uint64
			if !val.ReadASN1Integer(&mpl) || mpl > math.MaxInt {
				return errFastExtension
			}
		}
	case 31: // CRL distribution points: the URIs of each fullName, up to the first other name
		if !val.ReadASN1(&val, cbasn1.SEQUENCE) {
			return errFastExtension
		}
		for !val.Empty() {
			var dp, name cryptobyte.String
			var present bool
			if !val.ReadASN1(&dp, cbasn1.SEQUENCE) ||
				!dp.ReadOptionalASN1(&name, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) {
				return errFastExtension
			}
			if !present {
				continue
			}
			if !name.ReadASN1(&name, cbasn1.Tag(0).Constructed().ContextSpecific()) {
				return errFastExtension
			}
			for !name.Empty() && name.PeekASN1Tag(cbasn1.Tag(6).ContextSpecific()) {
				var uri cryptobyte.String
				if !name.ReadASN1(&uri, cbasn1.Tag(6).ContextSpecific()) {
					return errFastExtension
				}
				x.crl.add(uri)
			}
		}
	case 32: // certificate policies: distinct, well-formed policy OIDs
		if !val.ReadASN1(&val, cbasn1.SEQUENCE) {
			return errFastExtension
		}
		var seenBuf [8][]byte
		seen := seenBuf[:0]
		for !val.Empty() {
			var pi, o cryptobyte.String
			if !val.ReadASN1(&pi, cbasn1.SEQUENCE) || !pi.ReadASN1(&o, cbasn1.OBJECT_IDENTIFIER) || !policyOID(o) {
				return errFastExtension
			}
			for _, s := range seen {
				if bytes.Equal(s, o) {
					return errFastExtension
				}
			}
			seen = append(seen, o)
		}
	case 35: // authority key identifier: keyIdentifier [0], when first
		var akid cryptobyte.String
		if critical || !val.ReadASN1(&akid, cbasn1.SEQUENCE) {
			return errFastExtension
		}
		if akid.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific()) {
			if !akid.ReadASN1(&akid, cbasn1.Tag(0).ContextSpecific()) {
				return errFastExtension
			}
			x.aki = akid
		}
	case 37: // extended key usage: a SEQUENCE of OIDs
		if !val.ReadASN1(&val, cbasn1.SEQUENCE) {
			return errFastExtension
		}
		for !val.Empty() {
			var o cryptobyte.String
			if !val.ReadASN1(&o, cbasn1.OBJECT_IDENTIFIER) || !validOID(o) {
				return errFastExtension
			}
		}
	case 17, 30, 33, 36, 54:
		return errFastUnknown
	}
	return nil
}

// readAIA keeps the caIssuers URIs of an authority information access extension.
func (x *extInfo) readAIA(critical bool, val cryptobyte.String) error {
	if critical || !val.ReadASN1(&val, cbasn1.SEQUENCE) {
		return errFastExtension
	}
	for !val.Empty() {
		var ad, method cryptobyte.String
		if !val.ReadASN1(&ad, cbasn1.SEQUENCE) || !ad.ReadASN1(&method, cbasn1.OBJECT_IDENTIFIER) || !validOID(method) {
			return errFastExtension
		}
		if !ad.PeekASN1Tag(cbasn1.Tag(6).ContextSpecific()) {
			continue
		}
		var uri cryptobyte.String
		if !ad.ReadASN1(&uri, cbasn1.Tag(6).ContextSpecific()) {
			return errFastExtension
		}
		if bytes.Equal(method, oidCAIssuers) {
			x.aia.add(uri)
		}
	}
	return nil
}

// policyOID reports whether b is an OID crypto/x509 accepts as a policy: components in the
// fewest octets, of any size.
func policyOID(b []byte) bool {
	if len(b) == 0 || b[len(b)-1]&0x80 != 0 {
		return false
	}
	start := true
	for _, c := range b {
		if start && c == 0x80 {
			return false
		}
		start = c&0x80 == 0
	}
	return true
}

// readTime reads a UTCTime or GeneralizedTime as crypto/x509 does. The common forms
// (YYMMDDHHMMSSZ, YYYYMMDDHHMMSSZ) are read directly; others go to cryptobyte.
func readTime(s *cryptobyte.String, out *time.Time) bool {
	peek := *s
	var b cryptobyte.String
	switch {
	case s.PeekASN1Tag(cbasn1.UTCTime):
		if peek.ReadASN1(&b, cbasn1.UTCTime) {
			if t, ok := utcTime(b); ok {
				*s, *out = peek, t
				return true
			}
		}
		return s.ReadASN1UTCTime(out)
	case s.PeekASN1Tag(cbasn1.GeneralizedTime):
		if peek.ReadASN1(&b, cbasn1.GeneralizedTime) {
			if t, ok := generalizedTime(b); ok {
				*s, *out = peek, t
				return true
			}
		}
		return s.ReadASN1GeneralizedTime(out)
	}
	return false
}

// utcTime reads YYMMDDHHMMSSZ as cryptobyte's ReadASN1UTCTime does: time.Parse's two-digit
// years (69-99 are 19xx), then 2050 and later moved back a century. It reports false for any
// other form, which it leaves to cryptobyte.
func utcTime(b []byte) (time.Time, bool) {
	if len(b) != 13 || b[12] != 'Z' {
		return time.Time{}, false
	}
	yy, ok := digits(b[0:2])
	if !ok {
		return time.Time{}, false
	}
	year := 2000 + yy
	if yy >= 69 {
		year = 1900 + yy
	}
	t, ok := clock(year, b[2:12])
	if !ok {
		return time.Time{}, false
	}
	if year >= 2050 {
		t = t.AddDate(-100, 0, 0)
	}
	return t, true
}

// generalizedTime reads YYYYMMDDHHMMSSZ as cryptobyte's ReadASN1GeneralizedTime does, and
// reports false for any other form.
func generalizedTime(b []byte) (time.Time, bool) {
	if len(b) != 15 || b[14] != 'Z' {
		return time.Time{}, false
	}
	hi, ok1 := digits(b[0:2])
	lo, ok2 := digits(b[2:4])
	if !ok1 || !ok2 {
		return time.Time{}, false
	}
	return clock(hi*100+lo, b[4:14])
}

// clock reads MMDDHHMMSS in year, with time.Parse's range checks.
func clock(year int, b []byte) (time.Time, bool) {
	var f [5]int
	for i := range f {
		n, ok := digits(b[2*i : 2*i+2])
		if !ok {
			return time.Time{}, false
		}
		f[i] = n
	}
	month, day, hour, minute, sec := f[0], f[1], f[2], f[3], f[4]
	if month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC), true
}

// digits reads two ASCII digits.
func digits(b []byte) (int, bool) {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

// daysIn is the number of days of month m in year (Gregorian, proleptic).
func daysIn(m time.Month, year int) int {
	if m == time.February {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 31 - int(m-1)%7%2
}

// lookup returns what the index says about the DER name raw, reading it (with crypto/x509's
// checks) only when it is not known yet, and remembering it if store.
func (nc *nameCache) lookup(raw []byte, store bool) (nameEntry, error) {
	if e, ok := nc.get(raw); ok {
		return e, nil
	}
	id := sha1.Sum(raw)
	e, ok := formatName(raw, id[:])
	if !ok { // a name formatName does not know, or a bad one: pkix decides
		rdns, err := parseRDNs(raw)
		if err != nil {
			return nameEntry{}, err
		}
		var n pkix.Name
		n.FillFromRDNSequence(&rdns)
		e = nameEntry{str: n.String(), cn: n.CommonName, id: hex.EncodeToString(id[:])}
	}
	if store {
		nc.put(raw, e)
	}
	return e, nil
}

// Attribute types pkix.Name.String prints by name, in the order it prints them.
const (
	attrSerialNumber = iota
	attrCommonName
	attrOrganizationalUnit
	attrOrganization
	attrPostalCode
	attrStreetAddress
	attrLocality
	attrProvince
	attrCountry
	attrCount
)

// attrLabels are the names pkix.Name.String gives the attribute types.
var attrLabels = [attrCount]string{"SERIALNUMBER", "CN", "OU", "O", "POSTALCODE", "STREET", "L", "ST", "C"}

// attrKinds maps n of the attribute type 2.5.4.n to its kind, -1 when pkix prints it by OID.
var attrKinds = [18]int8{-1, -1, -1, attrCommonName, -1, attrSerialNumber, attrCountry, attrLocality, attrProvince,
	attrStreetAddress, attrOrganization, attrOrganizationalUnit, -1, -1, -1, -1, -1, attrPostalCode}

// nameValue is one attribute of a name: its kind and its value as UTF-8.
type nameValue struct {
	kind int8
	v    []byte
}

// formatName returns what pkix.Name.String and CommonName say about a DER name that
// crypto/x509 parses, for names made only of the attribute types pkix prints by name (C, ST,
// L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER). It reports false for any other name, valid
// or not. id is the SHA-1 of raw, hex-encoded into the entry.
//
// pkix prints the last SERIALNUMBER and the last CN (when not empty), then every OU, O,
// POSTALCODE, STREET, L, ST and C, the values of one type joined by '+' in their order, the
// types by ','; it escapes ,+"\<>; everywhere, a space at either end and a # at the start.
func formatName(raw, id []byte) (e nameEntry, ok bool) {
	in := cryptobyte.String(raw)
	if !in.ReadASN1(&in, cbasn1.SEQUENCE) {
		return nameEntry{}, false
	}
	var buf [16]nameValue
	vals := buf[:0]
	var count [attrCount]int
	for !in.Empty() {
		var set cryptobyte.String
		if !in.ReadASN1(&set, cbasn1.SET) {
			return nameEntry{}, false
		}
		for !set.Empty() {
			var atv, oid, value cryptobyte.String
			var tag cbasn1.Tag
			if !set.ReadASN1(&atv, cbasn1.SEQUENCE) || !atv.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) ||
				len(oid) != 3 || oid[0] != 0x55 || oid[1] != 0x04 || int(oid[2]) >= len(attrKinds) || attrKinds[oid[2]] < 0 ||
				!atv.ReadAnyASN1(&value, &tag) {
				return nameEntry{}, false
			}
			v, ok := directoryBytes(tag, value)
			if !ok {
				return nameEntry{}, false
			}
			kind := attrKinds[oid[2]]
			vals = append(vals, nameValue{kind, v})
			count[kind]++
		}
	}
	lastIdx := [attrCount]int{}
	for i, nv := range vals {
		lastIdx[nv.kind] = i
	}
	n := 0
	for _, nv := range vals {
		n += len(attrLabels[nv.kind]) + 2 + 2*len(nv.v)
	}
	var b strings.Builder
	b.Grow(n + 2*len(id))
	cnStart, cnEnd, cnEscaped := -1, -1, false
	for kind := int8(0); kind < attrCount; kind++ {
		single := kind == attrSerialNumber || kind == attrCommonName
		if count[kind] == 0 || single && len(vals[lastIdx[kind]].v) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		first := true
		for i, nv := range vals {
			if nv.kind != kind || single && i != lastIdx[kind] {
				continue
			}
			if !first {
				b.WriteByte('+')
			}
			first = false
			b.WriteString(attrLabels[kind])
			b.WriteByte('=')
			start := b.Len()
			escaped := writeEscaped(&b, nv.v)
			if kind == attrCommonName {
				cnStart, cnEnd, cnEscaped = start, b.Len(), escaped
			}
		}
	}
	strEnd := b.Len()
	appendHex(&b, id)
	all := b.String()
	e = nameEntry{str: all[:strEnd], id: all[strEnd:]}
	switch {
	case cnStart >= 0 && !cnEscaped:
		e.cn = all[cnStart:cnEnd]
	case count[attrCommonName] > 0:
		e.cn = string(vals[lastIdx[attrCommonName]].v)
	}
	return e, true
}

// writeEscaped writes a value as pkix.RDNSequence.String does and reports whether it
// escaped anything. The characters escaped are ASCII, so bytes serve as well as runes.
func writeEscaped(b *strings.Builder, v []byte) bool {
	escaped, start := false, 0
	for k, c := range v {
		switch c {
		case ',', '+', '"', '\\', '<', '>', ';':
		case ' ':
			if k != 0 && k != len(v)-1 {
				continue
			}
		case '#':
			if k != 0 {
				continue
			}
		default:
			continue
		}
		b.Write(v[start:k])
		b.WriteByte('\\')
		start, escaped = k, true
	}
	b.Write(v[start:])
	return escaped
}

// parseRDNs reads a DER Name as crypto/x509 does, with the same checks on attribute values.
func parseRDNs(raw cryptobyte.String) (pkix.RDNSequence, error) {
	if !raw.ReadASN1(&raw, cbasn1.SEQUENCE) {
		return nil, errFastName
	}
	var rdns pkix.RDNSequence
	for !raw.Empty() {
		var set cryptobyte.String
		if !raw.ReadASN1(&set, cbasn1.SET) {
			return nil, errFastName
		}
		var rdn pkix.RelativeDistinguishedNameSET
		for !set.Empty() {
			var atv, value cryptobyte.String
			var attr pkix.AttributeTypeAndValue
			var tag cbasn1.Tag
			if !set.ReadASN1(&atv, cbasn1.SEQUENCE) || !atv.ReadASN1ObjectIdentifier(&attr.Type) ||
				!atv.ReadAnyASN1(&value, &tag) {
				return nil, errFastName
			}
			s, ok := directoryString(tag, value)
			if !ok {
				return nil, errFastName
			}
			attr.Value = s
			rdn = append(rdn, attr)
		}
		rdns = append(rdns, rdn)
	}
	return rdns, nil
}

// ASN.1 string tags crypto/x509 accepts in names.
const (
	tagUTF8String      = cbasn1.Tag(12)
	tagNumericString   = cbasn1.Tag(18)
	tagPrintableString = cbasn1.Tag(19)
	tagT61String       = cbasn1.Tag(20)
	tagIA5String       = cbasn1.Tag(22)
	tagBMPString       = cbasn1.Tag(30)
)

// directoryString decodes an attribute value as crypto/x509 does, reporting false where x509
// fails.
func directoryString(tag cbasn1.Tag, v []byte) (string, bool) {
	b, ok := directoryBytes(tag, v)
	return string(b), ok
}

// directoryBytes is directoryString's UTF-8, v itself when it needs no decoding.
func directoryBytes(tag cbasn1.Tag, v []byte) ([]byte, bool) {
	switch tag {
	case tagPrintableString:
		for _, c := range v {
			if !printable(c) {
				return nil, false
			}
		}
		return v, true
	case tagUTF8String:
		return v, utf8.Valid(v)
	case tagIA5String:
		for _, c := range v {
			if c >= utf8.RuneSelf {
				return nil, false
			}
		}
		return v, true
	case tagNumericString:
		for _, c := range v {
			if (c < '0' || c > '9') && c != ' ' {
				return nil, false
			}
		}
		return v, true
	case tagT61String: // read as Latin-1, like x509
		buf := make([]byte, 0, 2*len(v))
		for _, c := range v {
			buf = utf8.AppendRune(buf, rune(c))
		}
		return buf, true
	case tagBMPString: // UCS-2: UTF-16 without surrogates or noncharacters
		if len(v)%2 != 0 {
			return nil, false
		}
		if n := len(v); n >= 2 && v[n-1] == 0 && v[n-2] == 0 {
			v = v[:n-2]
		}
		buf := make([]byte, 0, 3*len(v)/2)
		for ; len(v) > 0; v = v[2:] {
			c := rune(v[0])<<8 | rune(v[1])
			if c == 0xfffe || c == 0xffff || c >= 0xfdd0 && c <= 0xfdef || c >= 0xd800 && c <= 0xdfff {
				return nil, false
			}
			buf = utf8.AppendRune(buf, c)
		}
		return buf, true
	}
	return nil, false
}

// printable reports whether c may appear in a PrintableString as crypto/x509 reads it ('*'
// and '&' included).
func printable(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		'\'' <= c && c <= ')' || '+' <= c && c <= '/' ||
		c == ' ' || c == ':' || c == '=' || c == '?' || c == '*' || c == '&'
}
