package trustlist

import (
	"fmt"
	"strings"
)

// AIKName is an AIK CA name, as written in a certificate's subject CN or a file name:
// [REGION-]{VENDOR}-{KEYID|NAMEID}-{hex}[_2|_new], any letter case.
type AIKName struct {
	Region     string // EUS, WUS, NCU, ... upper case; "" for the global generation
	Vendor     string // upper case: IFX, INTC, AMD, MSFT, ...
	IDKind     string // "keyid" or "nameid"
	ID         string // lower-case hex as written (normally 40 digits)
	Generation string // "_2", "_new", ... as written in lower case; "" if none
}

// Host returns the AIK CA service host for the name, in lower case. The region prefix and the
// generation suffix name certificates, not hosts: every region serves the same host name.
func (n AIKName) Host() string {
	return strings.ToLower(n.Vendor) + "-" + n.IDKind + "-" + n.ID + AIKHostSuffix
}

// ParseAIKName parses an AIK CA name from a certificate CN or a file base name (a certificate
// extension is ignored). The id must be hexadecimal; a length other than 40 is not an error
// here (see [AIKName.Valid]) so that a misspelt name can still be reported.
func ParseAIKName(s string) (AIKName, error) {
	base := s
	if hasCertExt(base) {
		base = base[:strings.LastIndexByte(base, '.')]
	}
	parts := strings.Split(base, "-")
	k := -1
	for i, p := range parts {
		lp := strings.ToLower(p)
		if (lp == "keyid" || lp == "nameid") && i >= 1 && i == len(parts)-2 {
			k = i
			break
		}
	}
	if k < 1 || k > 2 {
		return AIKName{}, fmt.Errorf("aik name %q: want [REGION-]VENDOR-KEYID|NAMEID-HEX", s)
	}
	n := AIKName{Vendor: strings.ToUpper(parts[k-1]), IDKind: strings.ToLower(parts[k])}
	if k == 2 {
		n.Region = strings.ToUpper(parts[0])
	}
	id := parts[k+1]
	if i := strings.IndexByte(id, '_'); i >= 0 {
		n.Generation = strings.ToLower(id[i:])
		id = id[:i]
	}
	if id == "" || !isHex(id) {
		return AIKName{}, fmt.Errorf("aik name %q: id %q is not hexadecimal", s, id)
	}
	if n.Vendor == "" || !isAlnum(n.Vendor) {
		return AIKName{}, fmt.Errorf("aik name %q: bad vendor %q", s, parts[k-1])
	}
	n.ID = strings.ToLower(id)
	return n, nil
}

// Valid reports whether the id has the 40 hex digits of a SHA-1 key or name id.
func (n AIKName) Valid() bool { return len(n.ID) == 40 }

// ParseAIKHost parses a host name such as IFX-KeyId-....microsoftaik.azure.net (any case, with
// or without the service suffix) into its vendor, id kind and id.
func ParseAIKHost(host string) (AIKName, error) {
	h := normalizeHost(host)
	label := strings.TrimSuffix(h, AIKHostSuffix)
	if strings.Contains(label, ".") {
		return AIKName{}, fmt.Errorf("aik host %q: not under %s", host, AIKHostSuffix)
	}
	n, err := ParseAIKName(label)
	if err != nil {
		return AIKName{}, err
	}
	if n.Region != "" || n.Generation != "" {
		return AIKName{}, fmt.Errorf("aik host %q: host names carry no region or generation", host)
	}
	return n, nil
}

func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
