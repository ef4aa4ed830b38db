package changelog

import (
	"fmt"
	"path"
	"strings"
)

// certExts are the certificate file extensions, compared case-insensitively.
var certExts = []string{".cer", ".crt", ".der", ".pem"}

// matchAIK splits the stem of a Microsoft AIK CA file name,
// [REGION-]VENDOR-{KEYID|NAMEID}-ID[SUFFIX] in any case, into its id and suffix. REGION is
// 2-4 letters (EUS, NCU, WUS so far), VENDOR 2-6 letters, ID letters and digits, SUFFIX "-"
// or "_" then letters, digits, "-" and "_" (_2 and _new so far). The id and suffix are
// matched loosely so that a wrong length, a stray letter or a mistyped suffix ("-_new") can
// be reported rather than missed.
func matchAIK(stem string) (id, suffix string, ok bool) {
	for _, region := range []bool{true, false} {
		rest := stem
		if region {
			if rest, ok = cutLetters(rest, 2, 4); !ok {
				continue
			}
		}
		if rest, ok = cutLetters(rest, 2, 6); !ok {
			continue
		}
		switch {
		case len(rest) > 6 && strings.EqualFold(rest[:6], "keyid-"):
			rest = rest[6:]
		case len(rest) > 7 && strings.EqualFold(rest[:7], "nameid-"):
			rest = rest[7:]
		default:
			continue
		}
		n := 0
		for n < len(rest) && (isLetter(rest[n]) || isDigit(rest[n])) {
			n++
		}
		if n == 0 || !validSuffix(rest[n:]) {
			continue
		}
		return rest[:n], rest[n:], true
	}
	return "", "", false
}

// cutLetters cuts a run of min..max ASCII letters and the "-" after it off the start of s.
func cutLetters(s string, min, max int) (string, bool) {
	n := 0
	for n < len(s) && isLetter(s[n]) {
		n++
	}
	if n < min || n > max || n >= len(s) || s[n] != '-' {
		return s, false
	}
	return s[n+1:], true
}

// validSuffix reports whether s is empty or "-"/"_" followed by letters, digits, "-", "_".
func validSuffix(s string) bool {
	if s == "" {
		return true
	}
	if s[0] != '-' && s[0] != '_' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !isDigit(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// wellFormedSuffix reports whether an AIK CA name suffix has the expected form: "_" and a
// word of letters and digits.
func wellFormedSuffix(s string) bool {
	if len(s) < 2 || s[0] != '_' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLetter(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// aikIDLen is the number of hex digits in an AIK CA key id or name id (a SHA-1).
const aikIDLen = 40

// Matches reports whether item names the file fileBase (a member's file name). Directory
// parts, with / or \, are ignored on both sides. The comparison ignores letter case, and an
// extension missing on either side: "ntc-keyid-61d1...ca15" matches "ntc-keyid-61d1...ca15.cer".
// When both carry a certificate extension the extensions must agree (.cer and .crt are
// different files). Only the item's Name is compared, not RenamedTo.
func Matches(item Item, fileBase string) bool {
	base := baseName(strings.TrimSpace(fileBase))
	name := item.Name
	if name == "" {
		name = item.Stem
	}
	name = baseName(name)
	if name == "" || base == "" {
		return false
	}
	if strings.EqualFold(name, base) {
		return true
	}
	nStem, nExt := splitCertExt(name)
	bStem, bExt := splitCertExt(base)
	if !strings.EqualFold(nStem, bStem) {
		return false
	}
	return nExt == "" || bExt == "" || strings.EqualFold(nExt, bExt)
}

// baseName returns the part of p after its last / or \, ignoring trailing ones.
func baseName(p string) string {
	p = strings.TrimRight(p, `/\`)
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// IsAIKName reports whether name (with or without extension) has the form of a Microsoft AIK
// CA file name, e.g. "EUS-IFX-KEYID-<40 hex>_2.cer" or "ntc-nameid-<40 hex>".
func IsAIKName(name string) bool {
	stem, _ := splitCertExt(name)
	_, _, ok := matchAIK(stem)
	return ok
}

// splitCertExt splits a certificate extension (any case) off name.
func splitCertExt(name string) (stem, ext string) {
	ext = path.Ext(name)
	if len(ext) == len(name) { // ".cer" alone: a name, not an extension
		return name, ""
	}
	for _, e := range certExts {
		if strings.EqualFold(ext, e) {
			return name[:len(name)-len(ext)], ext
		}
	}
	return name, ""
}

// aikNote returns an anomaly note for an AIK-style stem whose id is not 40 hex digits or
// whose suffix is malformed; "" if there is nothing to say.
func aikNote(stem string) string {
	id, suffix, ok := matchAIK(stem)
	if !ok {
		return ""
	}
	var notes []string
	hex := true
	for i := 0; i < len(id); i++ {
		hex = hex && isHex(id[i])
	}
	switch {
	case !hex:
		notes = append(notes, fmt.Sprintf("key id %q is not hexadecimal", id))
	case len(id) != aikIDLen:
		notes = append(notes, fmt.Sprintf("key id has %d hex digits, expected %d", len(id), aikIDLen))
	}
	if suffix != "" && !wellFormedSuffix(suffix) {
		notes = append(notes, fmt.Sprintf("unusual suffix %q after the key id (expected e.g. _2 or _new)", suffix))
	}
	return strings.Join(notes, "; ")
}

func isHex(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }

// findCertExt returns the end of the first certificate extension in s that ends a word
// (followed by the end, a space, or one of , ; ) ] " '). It returns -1 if there is none.
// "X.crt-C-v01_00-EN.crt" ends at the second ".crt".
func findCertExt(s string) int {
	for i := 1; i+4 <= len(s); i++ {
		if s[i] != '.' || isBlankish(s[i-1]) {
			continue
		}
		for _, e := range certExts {
			if !strings.EqualFold(s[i:i+4], e) {
				continue
			}
			end := i + 4
			if end == len(s) || strings.IndexByte(" \t,;)]\"'", s[end]) >= 0 {
				return end
			}
		}
	}
	return -1
}

// isBlankish reports whether c is a space or a tab.
func isBlankish(c byte) bool { return c == ' ' || c == '\t' }

// stripBullet removes a leading list bullet ("- ", "* ", "• ").
func stripBullet(s string) string {
	for _, b := range []string{"- ", "* ", "• ", "-\t", "*\t"} {
		if strings.HasPrefix(s, b) {
			return strings.TrimSpace(s[len(b):])
		}
	}
	return s
}

// nameKind says how a line was recognised as a file name.
type nameKind int

const (
	notName   nameKind = iota
	byExt              // carries a certificate extension
	byAIK              // has the AIK CA name form
	bareToken          // a single word without spaces; the caller decides
)

// splitName finds a file name at the start of s. It returns the name, the text after it,
// and how it was recognised.
func splitName(s string) (name, rest string, how nameKind) {
	if end := findCertExt(s); end > 0 {
		n := s[:end]
		if !strings.ContainsAny(n, ":<>|?*") && !(strings.ContainsAny(n, " \t") && hasWord(n, sentenceWords)) {
			return n, strings.TrimSpace(s[end:]), byExt
		}
	}
	tok := s
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		tok = s[:i]
	}
	tok = strings.TrimRight(tok, ",;")
	if _, _, ok := matchAIK(tok); ok {
		return tok, strings.TrimSpace(s[len(tok):]), byAIK
	}
	if tok == s && !strings.ContainsAny(tok, ":<>|?*\"") {
		return tok, "", bareToken
	}
	return "", s, notName
}

// fileLike reports whether a single token without extension looks like a certificate file
// stem rather than a word: it has a digit, - _ . ( or an upper-case letter after a lower-case one
// (EkRootCA).
func fileLike(tok string) bool {
	if strings.ContainsAny(tok, "0123456789-_.(") {
		return true
	}
	for i := 1; i < len(tok); i++ {
		if 'A' <= tok[i] && tok[i] <= 'Z' && 'a' <= tok[i-1] && tok[i-1] <= 'z' {
			return true
		}
	}
	return false
}

// renameArrow returns the text after a rename marker at the start of s ("to X", "-> X",
// "--> X", "=> X", "→ X"), or false.
func renameArrow(s string) (string, bool) {
	for _, m := range []string{"-->", "->", "=>", "→"} {
		if strings.HasPrefix(s, m) {
			return strings.TrimSpace(s[len(m):]), true
		}
	}
	if len(s) > 3 && strings.EqualFold(s[:2], "to") && isBlankish(s[2]) {
		return strings.TrimSpace(s[3:]), true
	}
	return "", false
}

// isRenameSeparator reports whether line is the "to" of the multi-line rename form.
func isRenameSeparator(line string) bool {
	if len(line) > len("renamed to:") {
		return false
	}
	s := strings.TrimRight(line, ":")
	switch strings.ToLower(s) {
	case "to", "->", "-->", "=>", "→", "renamed to", "became", "becomes":
		return true
	}
	return false
}

// makeItem builds an Item from a file name found at line n. raw is the trimmed line, rest
// the text after the name. A rest of the form "to NAME" ("-> NAME", ...) with NAME a file
// name sets RenamedTo; any other rest is kept as Comment.
func makeItem(raw, name, rest string, n int) Item {
	stem, _ := splitCertExt(name)
	it := Item{Raw: raw, Name: name, Stem: stem, Line: n}
	if rest != "" {
		if target, ok := renameArrow(rest); ok {
			tn, trest, how := splitName(target)
			if how == byExt || how == byAIK || how == bareToken && fileLike(tn) {
				it.RenamedTo, it.RenamedToLine = tn, n
				rest = trest
				if note := aikNote(stemOf(tn)); note != "" {
					it.Note = joinNote(it.Note, "new name: "+note)
				}
			}
		}
		it.Comment = rest
	}
	if note := aikNote(stem); note != "" {
		it.Note = joinNote(note, it.Note)
	}
	return it
}

func stemOf(name string) string { s, _ := splitCertExt(name); return s }

func joinNote(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
