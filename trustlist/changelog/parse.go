package changelog

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotChangelog is returned (wrapped, test with errors.Is) when the input is clearly not a
// version.txt: it is empty or blank, it holds binary data (a NUL byte, or more than 1% other
// control characters), it is markup or JSON (its first non-blank character is '<', '{' or
// '['), or it has neither a "last updated" line nor a single dated entry.
var ErrNotChangelog = errors.New("changelog: not a version.txt")

// Parse reads a version.txt. It never panics. It returns an error only when the input is
// clearly not a version.txt (see ErrNotChangelog); every other input yields a Changelog, with
// lines it cannot classify kept as sections of action Other or as Preamble.
//
// A date line opens an entry. The date after "The certificates were last updated on:" is
// both LastUpdated and the date of the first entry, as in the real files; if nothing but
// blank lines follows it before the next date, it is only LastUpdated.
func Parse(data []byte) (*Changelog, error) {
	text, err := decode(data)
	if err != nil {
		return nil, err
	}
	p := &parser{c: &Changelog{}, stamp: -1}
	n := 0
	for rest := text; rest != ""; {
		var line string
		line, rest = cutLine(rest)
		n++
		p.line(line, n)
	}
	p.closeEntry()
	p.c.Lines = n
	if p.c.LastUpdatedRaw == "" && !p.sawLastUpdated && len(p.c.Entries) == 0 {
		return nil, fmt.Errorf("%w: no \"last updated\" line and no dated entry", ErrNotChangelog)
	}
	if p.c.Entries == nil {
		p.c.Entries = []Entry{}
	}
	flagOrder(p.c.Entries)
	return p.c, nil
}

// cutLine splits off the first line of s; CRLF, LF and a bare CR each end a line.
func cutLine(s string) (line, rest string) {
	i := strings.IndexAny(s, "\r\n")
	if i < 0 {
		return s, ""
	}
	if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
		return s[:i], s[i+2:]
	}
	return s[:i], s[i+1:]
}

// parser is the state while reading lines.
type parser struct {
	c              *Changelog
	entry          *Entry   // open entry, nil before the first date
	sec            *Section // open section of entry, nil if none
	secIndent      int      // indent of sec's header
	fromAt         int      // index in sec.Items where the old names of a pending rename begin
	toAt           int      // index in sec.Items where names after a "to" line begin, -1 if none
	sawLastUpdated bool     // the "last updated" line was seen
	wantStamp      bool     // the next non-blank line may be the "last updated" date
	stamp          int      // index in c.Entries of the entry opened by the "last updated" date, -1 if none
}

func (p *parser) line(raw string, n int) {
	t := strings.TrimSpace(raw)
	if t == "" {
		return
	}
	if p.wantStamp {
		p.wantStamp = false
		if d, ok := parseDate(t); ok {
			p.c.LastUpdated, p.c.LastUpdatedRaw, p.c.LastUpdatedLine = d, t, n
			p.openEntry(d, t, n)
			p.stamp = len(p.c.Entries) - 1
			return
		}
	}
	if p.entry == nil && !p.sawLastUpdated && isLastUpdated(t) {
		p.sawLastUpdated = true
		// "... last updated on: 21-November-2024" on one line.
		if after := afterLastUpdated(t); after != "" {
			if d, ok := parseDate(after); ok {
				p.c.LastUpdated, p.c.LastUpdatedRaw, p.c.LastUpdatedLine = d, after, n
				p.openEntry(d, after, n)
				p.stamp = len(p.c.Entries) - 1
				return
			}
		}
		p.wantStamp = true
		return
	}
	if d, ok := parseDate(t); ok {
		p.openEntry(d, t, n)
		return
	}
	if p.entry == nil {
		p.c.Preamble = append(p.c.Preamble, Text{Text: t, Line: n})
		return
	}
	indent := indentOf(raw)
	if p.sec != nil && isRenameSeparator(t) {
		if p.toAt >= 0 { // a second "to": settle the first rename before starting another
			p.settleRename()
		}
		p.toAt = len(p.sec.Items)
		return
	}
	v := classify(t, indent, p.sec != nil, p.secIndent)
	if v.header {
		p.openSection(t, indent, n)
		p.inlineItems(t, n)
		return
	}
	if p.sec == nil { // an item before any header
		p.entry.Sections = append(p.entry.Sections, Section{Action: Other, Line: n})
		p.sec = &p.entry.Sections[len(p.entry.Sections)-1]
		p.secIndent = indent - 1
		p.fromAt, p.toAt = 0, -1
	}
	p.sec.Items = append(p.sec.Items, makeItem(t, v.name, v.rest, n))
}

// isLastUpdated reports whether t is the "The certificates were last updated on:" line.
func isLastUpdated(t string) bool {
	return indexFold(t, "last updated") >= 0
}

// afterLastUpdated returns the text after "last updated", " on" and ':' in t.
func afterLastUpdated(t string) string {
	i := indexFold(t, "last updated")
	if i < 0 {
		return ""
	}
	s := strings.TrimSpace(t[i+len("last updated"):])
	if len(s) >= 2 && strings.EqualFold(s[:2], "on") && (len(s) == 2 || s[2] == ':' || isBlankish(s[2])) {
		s = s[2:]
	}
	return strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(s), ":"))
}

// indexFold returns the byte index in s of the ASCII string sub, ignoring ASCII letter case,
// or -1. Unlike an index into strings.ToLower(s), it is an index into s itself.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && (s[i+j] == sub[j] || isLetter(sub[j]) && s[i+j]|0x20 == sub[j]|0x20) {
			j++
		}
		if j == len(sub) {
			return i
		}
	}
	return -1
}

func (p *parser) openEntry(d time.Time, raw string, n int) {
	p.closeEntry()
	p.c.Entries = append(p.c.Entries, Entry{Date: d, DateRaw: raw, Line: n, Sections: []Section{}})
	p.entry = &p.c.Entries[len(p.c.Entries)-1]
}

func (p *parser) closeEntry() {
	p.closeSection()
	if p.entry == nil {
		return
	}
	last := len(p.c.Entries) - 1
	if last == p.stamp && len(p.entry.Sections) == 0 {
		// The "last updated" date with nothing under it is only a stamp, not an entry.
		p.c.Entries = p.c.Entries[:last]
	} else if len(p.entry.Sections) == 0 {
		p.entry.Note = "entry has no sections"
	}
	p.stamp = -1
	p.entry = nil
}

func (p *parser) openSection(header string, indent, n int) {
	p.closeSection()
	p.entry.Sections = append(p.entry.Sections, Section{
		Header: header, Action: actionOf(header), Vendor: vendorOf(header),
		Items: []Item{}, Line: n,
	})
	p.sec = &p.entry.Sections[len(p.entry.Sections)-1]
	p.secIndent = indent
	p.fromAt, p.toAt = 0, -1
}

func (p *parser) closeSection() {
	if p.sec == nil {
		return
	}
	p.settleRename()
	if p.sec.Items == nil {
		p.sec.Items = []Item{}
	}
	p.sec.Kind = kindOf(p.sec.Header, p.sec.Items)
	p.sec = nil
}

// inlineItems adds the file names a header itself carries: after a colon ("Removed: a.cer,
// b.cer") or right after its verb ("Renamed AMDTPM.crt to AMD-fTPM-RSA-RootCA.crt",
// "Removed IFX-RootCA.cer").
func (p *parser) inlineItems(header string, n int) {
	if i := strings.IndexByte(header, ':'); i >= 0 {
		tail := strings.TrimSpace(header[i+1:])
		if tail == "" {
			return
		}
		var items []Item
		for _, part := range strings.FieldsFunc(tail, func(r rune) bool { return r == ',' || r == ';' }) {
			part = strings.TrimSpace(part)
			name, rest, how := splitName(part)
			if how == notName || how == bareToken && !fileLike(name) {
				return // prose after the colon: not a list of names
			}
			items = append(items, makeItem(header, name, rest, n))
		}
		p.sec.Items = append(p.sec.Items, items...)
		return
	}
	_, after, ok := strings.Cut(header, " ")
	if !ok || !isAction(leadWord(header)) {
		return
	}
	after = strings.TrimSpace(after)
	name, rest, how := splitName(after)
	if how != byExt && how != byAIK || strings.ContainsAny(name, " \t") {
		return
	}
	if rest != "" {
		if _, isRename := renameArrow(rest); !isRename {
			return
		}
	}
	p.sec.Items = append(p.sec.Items, makeItem(header, name, rest, n))
}

func isAction(w string) bool { _, ok := actionVerbs[w]; return ok }

// settleRename pairs the names before and after a "to" line of the open section: the i-th
// old name is renamed to the i-th new name, and the new names leave the item list. When the
// counts differ nothing is paired and every name involved gets a note.
func (p *parser) settleRename() {
	s := p.sec
	if s == nil || p.toAt < 0 {
		return
	}
	at, start := p.toAt, p.fromAt
	p.toAt = -1
	olds, news := s.Items[start:at], s.Items[at:]
	if len(olds) == len(news) && len(olds) > 0 {
		for i := range olds {
			olds[i].RenamedTo, olds[i].RenamedToLine = news[i].Name, news[i].Line
			if news[i].Note != "" {
				olds[i].Note = joinNote(olds[i].Note, "new name: "+news[i].Note)
			}
			if news[i].Comment != "" {
				olds[i].Comment = joinNote(olds[i].Comment, news[i].Comment)
			}
		}
		s.Items = s.Items[:at]
		p.fromAt = at
		return
	}
	note := fmt.Sprintf("rename not paired: %d name(s) before \"to\", %d after", len(olds), len(news))
	for i := range olds {
		olds[i].Note = joinNote(olds[i].Note, "old name; "+note)
	}
	for i := range news {
		news[i].Note = joinNote(news[i].Note, "new name; "+note)
	}
	p.fromAt = len(s.Items)
}

// flagOrder notes entries dated before the entry that follows them: the file is newest first.
func flagOrder(es []Entry) {
	for i := 0; i+1 < len(es); i++ {
		if es[i].Date.Before(es[i+1].Date) {
			es[i].Note = joinNote(es[i].Note, fmt.Sprintf(
				"dated before the entry that follows it (%s, line %d) in a newest-first file",
				es[i+1].DateRaw, es[i+1].Line))
		}
	}
}
