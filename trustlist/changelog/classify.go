package changelog

import "strings"

// How a line inside an entry is told apart, in this order (see classify):
//
//  1. A line led by a known verb ("Added", "Removed", "Renamed", "Replaced", "Renewed",
//     "Recreated", "Updated", "Deleted", "Revoked", "Deprecated", ... any case) is a header.
//     "New" and "Missing" lead headers too, unless the line ends in a certificate extension
//     ("New Root CA.cer" is a file).
//  2. A line that starts with a file name is an item: a name ending in .cer .crt .der .pem
//     (any case; spaces allowed, sentence words such as "the"/"following" not), or a name of
//     the AIK CA form [REGION-]VENDOR-KEYID|NAMEID-HEX[_SUFFIX]. Text after the name is the
//     item's comment, or its new name ("X to Y", "X --> Y").
//  3. Any other line containing ':' is a header (':' cannot occur in a Windows file name).
//  4. A single word is an item if it looks like a file stem (has a digit, - _ . ( or CamelCase),
//     or if it is indented deeper than the open section's header; otherwise a header.
//  5. Several words with a sentence or header word ("the", "certs", "new", ...) are a header;
//     otherwise an item if indented deeper than the open section's header, else a header.

// sentenceWords occur in sentences but not in certificate file names: a name part that
// contains one ("Please note foo.cer") is prose, not a file name.
var sentenceWords = map[string]bool{
	"the": true, "following": true, "and": true, "of": true, "with": true, "from": true,
	"was": true, "were": true, "is": true, "are": true, "has": true, "have": true,
	"been": true, "this": true, "these": true, "that": true, "which": true, "for": true,
	"please": true, "note": true, "instead": true, "previously": true, "used": true,
}

// headerWords are further words that mark a line without a file name as a header, not an
// item ("AIK certs", "new intermediates").
var headerWords = map[string]bool{
	"cert": true, "certs": true, "certificate": true, "certificates": true, "cas": true,
	"intermediates": true, "roots": true, "new": true, "all": true, "on": true, "in": true,
	"to": true, "a": true, "an": true, "by": true, "as": true, "devices": true,
}

// words splits s into runs of ASCII letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return !(r < 0x80 && (isLetter(byte(r)) || isDigit(byte(r))))
	})
}

// hasWord reports whether s contains, as a whole word in any case, a word of one of sets.
func hasWord(s string, sets ...map[string]bool) bool {
	for _, w := range words(s) {
		lw := strings.ToLower(w)
		for _, set := range sets {
			if set[lw] {
				return true
			}
		}
	}
	return false
}

// actionVerbs maps a header's leading word (lower case) to its action.
var actionVerbs = map[string]Action{}

func init() {
	for a, ws := range map[Action]string{
		Added: "add adds added adding new missing include includes included including introduce " +
			"introduced install installed import imported append appended insert inserted " +
			"publish published upload uploaded onboard onboarded restore restored re-added readded",
		Removed: "remove removes removed removing delete deletes deleted deleting drop drops dropped " +
			"revoke revokes revoked revoking retire retired withdraw withdrawn withdrew pull pulled " +
			"purge purged exclude excluded eliminate eliminated discontinue discontinued expunge expunged",
		Renamed: "rename renames renamed renaming move moves moved",
		Replaced: "replace replaces replaced replacing renew renews renewed renewing recreate recreated " +
			"reissue reissued re-issued regenerate regenerated refresh refreshed update updates updated " +
			"updating roll rolled rotate rotated supersede superseded re-created",
	} {
		for _, w := range strings.Fields(ws) {
			actionVerbs[w] = a
		}
	}
}

// otherLeads are leading words that make a line a header whose action is Other (unless a
// name fix: see nameFixVerbs).
var otherLeads = map[string]bool{
	"deprecate": true, "deprecated": true, "disable": true, "disabled": true,
	"details": true, "detail": true, "notes": true, "note": true, "changes": true, "changed": true,
	"fix": true, "fixed": true, "correct": true, "corrected": true, "standardize": true,
	"standardized": true, "standardised": true, "normalize": true, "normalized": true,
	"normalised": true, "modified": true, "changelog": true, "summary": true,
}

// nameFixVerbs make a header Renamed when it speaks of names ("standardized ... names").
var nameFixVerbs = map[string]bool{
	"fix": true, "fixed": true, "correct": true, "corrected": true, "standardize": true,
	"standardized": true, "standardised": true, "normalize": true, "normalized": true,
	"normalised": true, "changed": true, "modified": true,
}

// weakLeads lead a header only when the line does not end in a file extension.
var weakLeads = map[string]bool{"new": true, "missing": true}

// leadWord returns the first word of s in lower case, without trailing punctuation, or ""
// if that word is not made of letters and hyphens (a file name, a number).
func leadWord(s string) string {
	w := s
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		w = s[:i]
	}
	w = strings.TrimRight(w, ":,.;!")
	if len(w) > 20 {
		return ""
	}
	for i := 0; i < len(w); i++ {
		if !isLetter(w[i]) && w[i] != '-' {
			return ""
		}
	}
	return strings.ToLower(w)
}

// indentOf returns the column of the first non-blank character of raw, a tab advancing to
// the next multiple of 4 (the real file indents headers by one tab or 3-4 spaces and items
// by two tabs or 7-8 spaces).
func indentOf(raw string) int {
	col := 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case ' ':
			col++
		case '\t':
			col += 4 - col%4
		default:
			return col
		}
	}
	return col
}

// verdict is the outcome of classify.
type verdict struct {
	header     bool
	name, rest string // for items: the file name and the text after it
}

// classify tells whether the trimmed line t (indented by indent) is a section header or an
// item. open reports whether a section is open; secIndent is its header's indent.
func classify(t string, indent int, open bool, secIndent int) verdict {
	s := stripBullet(t)
	lead := leadWord(s)
	if _, ok := actionVerbs[lead]; ok && !weakLeads[lead] || otherLeads[lead] {
		return verdict{header: true}
	}
	if weakLeads[lead] && findCertExt(s) != len(s) {
		return verdict{header: true}
	}
	name, rest, how := splitName(s)
	if how == byExt || how == byAIK {
		return verdict{name: name, rest: rest}
	}
	if strings.Contains(s, ":") {
		return verdict{header: true}
	}
	deeper := open && indent > secIndent
	if how == bareToken {
		if fileLike(name) || deeper {
			return verdict{name: name}
		}
		return verdict{header: true}
	}
	if hasWord(s, sentenceWords, headerWords) || !deeper {
		return verdict{header: true}
	}
	return verdict{name: s}
}

// actionOf returns the action a header expresses: by its leading word, else by the first
// action word anywhere in it ("AIK certs removed:"), else Other.
func actionOf(header string) Action {
	ws := words(header)
	if len(ws) == 0 {
		return Other
	}
	lead := leadWord(header)
	if a, ok := actionVerbs[lead]; ok {
		return a
	}
	if otherLeads[lead] {
		if nameFixVerbs[lead] && hasWord(header, map[string]bool{"name": true, "names": true, "naming": true, "filenames": true}) {
			return Renamed
		}
		return Other
	}
	for _, w := range ws {
		if a, ok := actionVerbs[strings.ToLower(w)]; ok {
			return a
		}
	}
	return Other
}

var (
	aikWords = map[string]bool{"aik": true, "aiks": true}
	ekWords  = map[string]bool{"ek": true, "eks": true, "endorsement": true}
	caWords  = map[string]bool{
		"root": true, "roots": true, "intermediate": true, "intermediates": true,
		"ica": true, "ca": true, "cas": true,
	}
)

// kindOf returns KindAIK or KindEK when the header says so ("AIK", "EK"); otherwise KindAIK
// when every item is an AIK CA file name; otherwise KindEK when the header speaks of root or
// intermediate certificates or CAs, or names a TPM vendor (AIK CAs are Microsoft's; a vendor's
// certificates are its EK chain); otherwise "".
func kindOf(header string, items []Item) string {
	switch {
	case hasWord(header, aikWords):
		return KindAIK
	case hasWord(header, ekWords):
		return KindEK
	}
	if len(items) > 0 {
		all := true
		for _, it := range items {
			if !IsAIKName(it.Name) {
				all = false
				break
			}
		}
		if all {
			return KindAIK
		}
	}
	if hasWord(header, caWords) || hasWord(header, tpmVendorWords) {
		return KindEK
	}
	return ""
}

// vendorWords are the TPM vendor names and abbreviations a header may use, in lower case.
var vendorWords = map[string]bool{
	"amd": true, "intel": true, "intc": true, "intl": true, "infineon": true, "ifx": true,
	"stm": true, "stmicro": true, "stmicroelectronics": true, "nuvoton": true, "ntc": true,
	"nationz": true, "ntz": true, "atmel": true, "atml": true, "qualcomm": true, "qcom": true,
	"microsoft": true, "msft": true, "winbond": true, "wec": true,
}

// tpmVendorWords are vendorWords without Microsoft, whose name heads AIK CA sections too.
var tpmVendorWords = map[string]bool{}

func init() {
	for w := range vendorWords {
		if w != "microsoft" && w != "msft" {
			tpmVendorWords[w] = true
		}
	}
}

// vendorOf lists the vendors named in header, as written, comma-separated, without repeats.
func vendorOf(header string) string {
	var out []string
	seen := map[string]bool{}
	for _, w := range words(header) {
		lw := strings.ToLower(w)
		if vendorWords[lw] && !seen[lw] {
			seen[lw] = true
			out = append(out, w)
		}
	}
	return strings.Join(out, ", ")
}
