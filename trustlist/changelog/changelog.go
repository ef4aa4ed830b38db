package changelog

import "time"

// Action is what a section header says was done to the certificates it lists.
type Action string

// The actions a section header can express.
const (
	// Added: the certificates were added ("Added ...", "New ...", "Missing ...").
	Added Action = "added"
	// Removed: the certificates were taken out ("Removed ...", "Deleted ...", "Revoked ...").
	Removed Action = "removed"
	// Renamed: the certificates got new file names ("Renamed ...").
	Renamed Action = "renamed"
	// Replaced: same names, new content ("Replaced ...", "Renewed ...", "Recreated ...", "Updated ...").
	Replaced Action = "replaced"
	// Other: the header does not say which of the above, e.g. "Details:" or "Deprecated ...".
	Other Action = "other"
)

// Certificate kinds a section header can name.
const (
	// KindAIK marks Microsoft AIK CA certificates.
	KindAIK = "aik"
	// KindEK marks TPM vendor EK root and intermediate certificates.
	KindEK = "ek"
)

// Changelog is the parsed content of one version.txt.
type Changelog struct {
	// LastUpdated is the date given after "The certificates were last updated on:" (UTC
	// midnight), zero if the file has none or it is not a readable date.
	LastUpdated time.Time `json:"last_updated"`
	// LastUpdatedRaw is that date as written, trimmed.
	LastUpdatedRaw string `json:"last_updated_raw"`
	// LastUpdatedLine is the 1-based line of that date, 0 if missing.
	LastUpdatedLine int `json:"last_updated_line,omitempty"`
	// Preamble holds lines before the first dated entry other than the "last updated" lines;
	// empty for the real files.
	Preamble []Text `json:"preamble,omitempty"`
	// Lines is the number of lines in the input.
	Lines int `json:"lines"`
	// Entries are the dated entries in file order (newest first in a well-formed file).
	Entries []Entry `json:"entries"`
}

// Entry is one dated block of the changelog.
type Entry struct {
	// Date is the entry's date at UTC midnight; never zero.
	Date time.Time `json:"date"`
	// DateRaw is the date line as written, trimmed.
	DateRaw string `json:"date_raw"`
	// Line is the 1-based line of the date.
	Line int `json:"line"`
	// Note describes an anomaly of the entry, e.g. a date out of the file's newest-first order.
	Note string `json:"note,omitempty"`
	// Sections are the entry's sections in file order.
	Sections []Section `json:"sections"`
}

// Section is a header and the items listed under it.
type Section struct {
	// Header is the header line as written, trimmed. It is empty only for items written
	// before any header of their entry, which the real files never do.
	Header string `json:"header"`
	// Action is what the header says was done.
	Action Action `json:"action"`
	// Kind is KindAIK, KindEK, or "" when neither the header nor the items tell.
	Kind string `json:"kind,omitempty"`
	// Vendor lists the TPM vendors the header names, as written, comma-separated
	// ("AMD", "ifx", "AMD, Infineon"); empty if it names none.
	Vendor string `json:"vendor,omitempty"`
	// Line is the 1-based line of the header (of the first item if Header is empty).
	Line int `json:"line"`
	// Items are the certificates listed under the header, in file order.
	Items []Item `json:"items"`
}

// Item is one certificate named under a section header.
type Item struct {
	// Raw is the line as written, trimmed (for a name written on its header's line, such
	// as "Removed: a.cer, b.cer", that header line).
	Raw string `json:"raw"`
	// Name is the certificate's file name as written (case kept), without any comment.
	Name string `json:"name"`
	// Stem is Name without a certificate extension (.cer .crt .der .pem, any case).
	Stem string `json:"stem"`
	// RenamedTo is the new file name when the item is the old name of a rename.
	RenamedTo string `json:"renamed_to,omitempty"`
	// RenamedToLine is the 1-based line of RenamedTo, 0 if none.
	RenamedToLine int `json:"renamed_to_line,omitempty"`
	// Comment is text written after the file name, e.g. "(ODCA 2 CSME P_ADL 00002701 Issuing CA)".
	Comment string `json:"comment,omitempty"`
	// Note describes an anomaly, e.g. "key id has 41 hex digits, expected 40".
	Note string `json:"note,omitempty"`
	// Line is the 1-based line of the item.
	Line int `json:"line"`
}

// Text is a line kept as written because it fits no other place.
type Text struct {
	// Text is the line, trimmed.
	Text string `json:"text"`
	// Line is its 1-based line number.
	Line int `json:"line"`
}

// ItemRef is an item together with the entry and section it is listed in.
type ItemRef struct {
	// Date is the entry's date.
	Date time.Time `json:"date"`
	// EntryLine is the 1-based line of the entry's date.
	EntryLine int `json:"entry_line"`
	// Header is the section's header.
	Header string `json:"header"`
	// Action is the section's action.
	Action Action `json:"action"`
	// Kind is the section's kind.
	Kind string `json:"kind,omitempty"`
	// Item is the item itself.
	Item Item `json:"item"`
}

// Since returns the entries dated after the calendar day of t (in t's location), in file
// order. Entries are filtered one by one, so an entry out of the file's order is still found.
func (c *Changelog) Since(t time.Time) []Entry {
	if c == nil {
		return nil
	}
	day := dayOf(t)
	var out []Entry
	for _, e := range c.Entries {
		if e.Date.After(day) {
			out = append(out, e)
		}
	}
	return out
}

// Items returns every item listed under a section with one of the given actions (all items
// if none is given), in file order.
func (c *Changelog) Items(actions ...Action) []ItemRef {
	if c == nil {
		return nil
	}
	var out []ItemRef
	for _, e := range c.Entries {
		out = appendItems(out, e, actions)
	}
	return out
}

// Removed returns every item listed under a "removed" section, in file order. Old names of
// renames are not included: ask Items(Removed, Renamed) for both.
func (c *Changelog) Removed() []ItemRef { return c.Items(Removed) }

// RemovedSince returns the items of Removed whose entry is dated after the calendar day of t.
func (c *Changelog) RemovedSince(t time.Time) []ItemRef {
	if c == nil {
		return nil
	}
	var out []ItemRef
	for _, e := range c.Since(t) {
		out = appendItems(out, e, []Action{Removed})
	}
	return out
}

func appendItems(out []ItemRef, e Entry, actions []Action) []ItemRef {
	for _, s := range e.Sections {
		if len(actions) > 0 && !hasAction(actions, s.Action) {
			continue
		}
		for _, it := range s.Items {
			out = append(out, ItemRef{
				Date: e.Date, EntryLine: e.Line,
				Header: s.Header, Action: s.Action, Kind: s.Kind,
				Item: it,
			})
		}
	}
	return out
}

func hasAction(list []Action, a Action) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// dayOf returns UTC midnight of t's calendar day in t's own location.
func dayOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
