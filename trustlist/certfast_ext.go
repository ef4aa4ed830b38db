package trustlist

import (
	"bytes"
	encasn1 "encoding/asn1"
	"math"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Extensions for the fast certificate reader (see certfast.go): key identifiers, basic
// constraints, AIA and CRL URLs, and the extensions it checks but does not keep.

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
