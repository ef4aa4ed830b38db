package changelog

import (
	"fmt"
	"regexp"
	"strings"
)

// checkInvariants returns the ways c breaks the guarantees Parse makes for any input.
func checkInvariants(c *Changelog) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	inRange := func(n int) bool { return 1 <= n && n <= c.Lines }
	if c.Entries == nil {
		fail("Entries is nil")
	}
	if c.LastUpdatedRaw != "" && (c.LastUpdated.IsZero() || !inRange(c.LastUpdatedLine)) {
		fail("last updated %q: date %v line %d", c.LastUpdatedRaw, c.LastUpdated, c.LastUpdatedLine)
	}
	for _, p := range c.Preamble {
		if p.Text == "" || !inRange(p.Line) {
			fail("preamble line %d %q", p.Line, p.Text)
		}
	}
	prev := 0
	for _, e := range c.Entries {
		if e.Date.IsZero() || e.Date.Location().String() != "UTC" || e.Date.Hour() != 0 {
			fail("entry line %d: date %v is not a UTC midnight", e.Line, e.Date)
		}
		if e.DateRaw == "" || !inRange(e.Line) || e.Line <= prev {
			fail("entry line %d (after %d), raw %q", e.Line, prev, e.DateRaw)
		}
		if e.Sections == nil {
			fail("entry line %d: Sections is nil", e.Line)
		}
		prev = e.Line
		for _, s := range e.Sections {
			if !inRange(s.Line) || s.Line < prev {
				fail("section %q: line %d after %d", s.Header, s.Line, prev)
			}
			prev = s.Line
			switch s.Action {
			case Added, Removed, Renamed, Replaced, Other:
			default:
				fail("section line %d: action %q", s.Line, s.Action)
			}
			switch s.Kind {
			case KindAIK, KindEK, "":
			default:
				fail("section line %d: kind %q", s.Line, s.Kind)
			}
			if s.Header == "" && (len(s.Items) == 0 || s.Action != Other) {
				fail("section line %d: no header, %d items, action %s", s.Line, len(s.Items), s.Action)
			}
			if s.Header != strings.TrimSpace(s.Header) {
				fail("section line %d: header %q not trimmed", s.Line, s.Header)
			}
			if s.Items == nil {
				fail("section line %d: Items is nil", s.Line)
			}
			for _, it := range s.Items {
				if !inRange(it.Line) || it.Line < prev {
					fail("item %q: line %d after %d", it.Raw, it.Line, prev)
				}
				prev = it.Line
				if it.Name == "" || it.Raw == "" || !strings.HasPrefix(it.Name, it.Stem) || it.Stem == "" {
					fail("item line %d: raw %q name %q stem %q", it.Line, it.Raw, it.Name, it.Stem)
				}
				if it.Name != strings.TrimSpace(it.Name) || it.Raw != strings.TrimSpace(it.Raw) {
					fail("item line %d: not trimmed: %q / %q", it.Line, it.Raw, it.Name)
				}
				if msg := checkAIK(it.Stem); msg != "" {
					fail("item line %d: %s", it.Line, msg)
				}
				if (it.RenamedTo == "") != (it.RenamedToLine == 0) || it.RenamedToLine != 0 && !inRange(it.RenamedToLine) {
					fail("item line %d: renamed to %q at line %d", it.Line, it.RenamedTo, it.RenamedToLine)
				}
			}
			if m := maxRenameLine(s); m > prev {
				prev = m
			}
		}
	}
	return bad
}

func maxRenameLine(s Section) int {
	m := 0
	for _, it := range s.Items {
		m = max(m, it.RenamedToLine)
	}
	return m
}

// aikOracle is the AIK CA name form as a regular expression, the reference for matchAIK.
var aikOracle = regexp.MustCompile(`^(?i)(?:[a-z]{2,4}-)?[a-z]{2,6}-(?:keyid|nameid)-([0-9a-z]+)([-_][-_0-9a-z]*)?$`)

// checkAIK returns a complaint if matchAIK disagrees with aikOracle on stem.
func checkAIK(stem string) string {
	id, suffix, ok := matchAIK(stem)
	m := aikOracle.FindStringSubmatch(stem)
	if ok != (m != nil) || ok && (id != m[1] || suffix != m[2]) {
		return fmt.Sprintf("matchAIK(%q) = %q, %q, %v; oracle %q", stem, id, suffix, ok, m)
	}
	return ""
}
