package trustlist

import (
	"crypto/sha1"
	"crypto/x509/pkix"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Distinguished names for the fast certificate reader (see certfast.go): the per-index name
// cache and the RFC 4514 formatting crypto/x509 would give.

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
