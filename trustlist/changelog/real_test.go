package changelog

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

const (
	novFile = "testdata/version-2024-11-21.txt"
	junFile = "testdata/version-2024-06-11.txt"
)

func readFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustParse(tb testing.TB, data []byte) *Changelog {
	tb.Helper()
	c, err := Parse(data)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	if bad := checkInvariants(c); len(bad) > 0 {
		tb.Fatalf("invariants broken:\n%s", strings.Join(bad, "\n"))
	}
	return c
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// entryAt returns the entry whose date is on line n.
func entryAt(tb testing.TB, c *Changelog, n int) Entry {
	tb.Helper()
	for _, e := range c.Entries {
		if e.Line == n {
			return e
		}
	}
	tb.Fatalf("no entry at line %d", n)
	return Entry{}
}

func TestRealFilesCountsAndDates(t *testing.T) {
	for _, tc := range []struct {
		file    string
		entries int
		items   int
		updated time.Time
		lines   int
	}{
		// The issue says 113 for November. June is November without its first 7 entries.
		{novFile, 113, 2188, day(2024, time.November, 21), 2601},
		{junFile, 106, 1978, day(2024, time.June, 11), 2375},
	} {
		c := mustParse(t, readFile(t, tc.file))
		if len(c.Entries) != tc.entries {
			t.Errorf("%s: %d entries, want %d", tc.file, len(c.Entries), tc.entries)
		}
		if got := len(c.Items()); got != tc.items {
			t.Errorf("%s: %d items, want %d", tc.file, got, tc.items)
		}
		if !c.LastUpdated.Equal(tc.updated) || c.LastUpdatedLine != 2 {
			t.Errorf("%s: last updated %v (%q, line %d), want %v line 2", tc.file, c.LastUpdated, c.LastUpdatedRaw, c.LastUpdatedLine, tc.updated)
		}
		if c.Lines != tc.lines || len(c.Preamble) != 0 {
			t.Errorf("%s: %d lines, preamble %v", tc.file, c.Lines, c.Preamble)
		}
		// The "last updated" date is also the first entry's date.
		if first := c.Entries[0]; !first.Date.Equal(tc.updated) || first.Line != 2 {
			t.Errorf("%s: first entry %v line %d", tc.file, first.Date, first.Line)
		}
	}
}

// TestJuneIsSuffixOfNovember checks the two parses against each other: November inserts 226
// lines (7 entries) after line 1, so June's entries are November's from the 8th on, 226 lines
// earlier.
func TestJuneIsSuffixOfNovember(t *testing.T) {
	nov := mustParse(t, readFile(t, novFile))
	jun := mustParse(t, readFile(t, junFile))
	const shift, skip = 226, 7
	if len(nov.Entries)-skip != len(jun.Entries) {
		t.Fatalf("nov %d entries, jun %d", len(nov.Entries), len(jun.Entries))
	}
	for i, je := range jun.Entries {
		ne := nov.Entries[i+skip]
		ne.Line -= shift
		// The out-of-order note names the next entry's line: compare notes by presence only.
		if (je.Note == "") != (ne.Note == "") {
			t.Errorf("jun entry %d note %q, nov %q", i, je.Note, ne.Note)
		}
		je.Note, ne.Note = "", ""
		ne.Sections = append([]Section{}, ne.Sections...)
		for si := range ne.Sections {
			s := &ne.Sections[si]
			s.Line -= shift
			items := append([]Item{}, s.Items...)
			for k := range items {
				items[k].Line -= shift
				if items[k].RenamedToLine != 0 {
					items[k].RenamedToLine -= shift
				}
			}
			s.Items = items
		}
		if !equalJSON(t, je, ne) {
			t.Errorf("jun entry %d (line %d) differs from nov entry %d", i, je.Line, i+skip)
		}
	}
}

// TestRealFilesHeaderItemOracle checks the header/item split of both files against a simple,
// independent description of the real text: every item is a certificate file name (an
// extension, or the AIK CA form for the five items written without one), every header is
// prose.
func TestRealFilesHeaderItemOracle(t *testing.T) {
	itemRe := regexp.MustCompile(`(?i)^[^:]+\.(cer|crt|der|pem)$|^(eus-|ncu-|wus-)?[a-z]+-(keyid|nameid)-[0-9a-f]{40}$`)
	headerRe := regexp.MustCompile(`^[A-Za-z][^\t]* [^\t]*[a-z][^\t]*$|^[A-Za-z]+:$`)
	for _, file := range []string{novFile, junFile} {
		c := mustParse(t, readFile(t, file))
		for _, e := range c.Entries {
			for _, s := range e.Sections {
				if s.Header == "" || !headerRe.MatchString(s.Header) || itemRe.MatchString(s.Header) {
					t.Errorf("%s:%d: header %q does not look like a header", file, s.Line, s.Header)
				}
				for _, it := range s.Items {
					if !itemRe.MatchString(it.Name) || (it.RenamedTo != "" && !itemRe.MatchString(it.RenamedTo)) {
						t.Errorf("%s:%d: item %q does not look like a file name", file, it.Line, it.Name)
					}
					if headerRe.MatchString(it.Name) && !strings.ContainsAny(it.Name, ".") {
						t.Errorf("%s:%d: item %q looks like a header", file, it.Line, it.Name)
					}
				}
			}
		}
	}
}

// TestRealFilesNothingDropped accounts for every non-blank line of the November file: it is
// the "last updated" line, an entry's date, a header, an item, a new name of a rename, or a
// "to" line.
func TestRealFilesNothingDropped(t *testing.T) {
	data := readFile(t, novFile)
	c := mustParse(t, data)
	used := map[int]bool{1: true} // line 1: "The certificates were last updated on:"
	for _, e := range c.Entries {
		used[e.Line] = true
		for _, s := range e.Sections {
			used[s.Line] = true
			for _, it := range s.Items {
				used[it.Line] = true
				used[it.RenamedToLine] = true
			}
		}
	}
	for i, line := range strings.Split(string(data), "\r\n") {
		s := strings.TrimSpace(line)
		if s != "" && s != "to" && !used[i+1] {
			t.Errorf("line %d %q is not accounted for", i+1, s)
		}
	}
}

func TestNovemberSpotChecks(t *testing.T) {
	c := mustParse(t, readFile(t, novFile))
	type sec struct {
		header       string
		action       Action
		kind, vendor string
		items        int
	}
	check := func(line int, date time.Time, raw string, want []sec) Entry {
		t.Helper()
		e := entryAt(t, c, line)
		if !e.Date.Equal(date) || e.DateRaw != raw {
			t.Errorf("line %d: date %v %q, want %v %q", line, e.Date, e.DateRaw, date, raw)
		}
		if len(e.Sections) != len(want) {
			t.Fatalf("line %d: %d sections, want %d: %+v", line, len(e.Sections), len(want), e.Sections)
		}
		for i, w := range want {
			s := e.Sections[i]
			got := sec{s.Header, s.Action, s.Kind, s.Vendor, len(s.Items)}
			if got != w {
				t.Errorf("line %d section %d: got %+v, want %+v", line, i, got, w)
			}
		}
		return e
	}

	// First entry, and the 41-hex-digit key id in it.
	first := check(2, day(2024, 11, 21), "21-November-2024", []sec{
		{"Added the following AIK Certificates", Added, KindAIK, "", 24},
		{"Added the following EK Root Certificates", Added, KindEK, "", 4},
		{"Added the following EK Intermediate Certificates", Added, KindEK, "", 24},
	})
	if c.Entries[0].Line != first.Line {
		t.Errorf("first entry is at line %d", c.Entries[0].Line)
	}
	typo := first.Sections[0].Items[9]
	if typo.Name != "NTZ-keyid-6ea5bcbda0be52890507175a3c12e8a3b8386f0cc.cer" || typo.Line != 13 ||
		typo.Note != "key id has 41 hex digits, expected 40" {
		t.Errorf("41-hex item: %+v", typo)
	}

	// Last entry: "Details:", a sentence without items, then a list.
	last := check(2581, day(2017, 2, 24), "24-February-2017", []sec{
		{"Details:", Other, "", "", 0},
		{"standardized Infineon certificates names.", Renamed, KindEK, "Infineon", 0},
		{"Added following Infineon intermediate certificates:", Added, KindEK, "Infineon", 17},
	})
	if c.Entries[len(c.Entries)-1].Line != last.Line {
		t.Errorf("last entry is at line %d", c.Entries[len(c.Entries)-1].Line)
	}
	if it := last.Sections[2].Items[16]; it.Name != "Infineon_OPTIGA(TM)_RSA_Manufacturing_CA_019.crt" || it.Line != 2601 {
		t.Errorf("last item %+v", it)
	}

	// Tab-indented headers and a two-tab item (19-April-2024).
	e := check(418, day(2024, 4, 19), "19-April-2024", []sec{
		{"Removed the following AIK Certificates", Removed, KindAIK, "", 2},
		{"Removed the following EK Certificates", Removed, KindEK, "", 2},
	})
	if it := e.Sections[0].Items[1]; it.Name != "INTC-keyid-9b656cd6a9dc8f9d8ccf8621c5d1fef6467fa025.cer" || it.Line != 421 {
		t.Errorf("tab item %+v", it)
	}

	// Two entries with the same date, additions then removals.
	check(364, day(2024, 5, 5), "05-May-2024", []sec{{"Added the following AIK Certificates", Added, KindAIK, "", 39}})
	check(405, day(2024, 5, 5), "05-May-2024", []sec{{"Removed the following AIK Certificates", Removed, KindAIK, "", 11}})

	// Items without extension, header with colon.
	e = check(425, day(2024, 4, 18), "18-April-2024", []sec{{"Added the following AIK Certificates:", Added, KindAIK, "", 5}})
	if it := e.Sections[0].Items[0]; it.Name != "ntc-nameid-3507D82BFB03C0DB46CF9B6F59E3B20F18BFB29C" || it.Stem != it.Name {
		t.Errorf("extensionless item %+v", it)
	}

	// "Removed revoked ifx certs:": the items are AIK CAs, whatever "ifx" suggests.
	e = check(2342, day(2017, 11, 7), "07-November-2017", []sec{{"Removed revoked ifx certs:", Removed, KindAIK, "ifx", 24}})
	if it := e.Sections[0].Items[0]; it.Name != "WUS-IFX-KeyId-C2EF641C329CB0A9F2EAE04BFB10C99B89C34614.cer" {
		t.Errorf("first revoked item %+v", it)
	}

	// Three-line rename: old name, "to", new name.
	e = check(845, day(2022, 3, 29), "29-March-2022", []sec{{"Renamed the following AMD EK Cert", Renamed, KindEK, "AMD", 1}})
	if it := e.Sections[0].Items[0]; it.Name != "AMD-fTPM-ECC-ICA-RVFamily-7ABAE76EBBA151415337F49A77CB1C3E.crt" ||
		it.RenamedTo != "AMD-fTPM-ECC-ICA-RVFamily-6892B692BED05533400FD5FAAE361882.crt" || it.Line != 847 || it.RenamedToLine != 849 {
		t.Errorf("three-line rename %+v", it)
	}
	// Six old names, "to", six new names, paired in order.
	e = check(880, day(2022, 1, 31), "31-January-2022", []sec{{"Renamed the following AIK Certs", Renamed, KindAIK, "", 6}})
	for i, it := range e.Sections[0].Items {
		if want := strings.Replace(it.Name, "-amd-", "-msft-", 1); it.RenamedTo != want || it.RenamedToLine != 889+i {
			t.Errorf("rename %d: %q -> %q (line %d), want %q", i, it.Name, it.RenamedTo, it.RenamedToLine, want)
		}
	}
	// One-line rename.
	e = check(2425, day(2017, 8, 17), "17-August-2017", []sec{
		{"Details:", Other, "", "", 0},
		{"Added the following AMD root certificate:", Added, KindEK, "AMD", 1},
		{"Renamed the following AMD root certificate:", Renamed, KindEK, "AMD", 1},
		{"Added the following AMD intermediate certificates:", Added, KindEK, "AMD", 2},
	})
	if it := e.Sections[2].Items[0]; it.Name != "AMDTPM.crt" || it.RenamedTo != "AMD-fTPM-RSA-RootCA.crt" || it.RenamedToLine != 2430 {
		t.Errorf("one-line rename %+v", it)
	}

	// Comments after names.
	e = entryAt(t, c, 824)
	if it := e.Sections[0].Items[0]; it.Name != "ADL_00002701_ODCA_CA2.cer" || it.Comment != "(ODCA 2 CSME P_ADL 00002701 Issuing CA)" {
		t.Errorf("parenthesised comment %+v", it)
	}
	e = entryAt(t, c, 2244)
	if it := e.Sections[2].Items[0]; it.Name != "IFX-RootCA.cer" || it.Comment != "--> VeriSign signed TPM root that IFX non-Optigon certs use." || it.RenamedTo != "" {
		t.Errorf("arrow comment %+v", it)
	}

	// A header that does not start with a verb.
	check(1839, day(2019, 5, 22), "22-May-2019", []sec{
		{"New versions of 2 WUS region certificates. 5 new AIK CAs on all regions", Added, KindAIK, "", 17},
	})

	// 28-February-2022 sits between 3-April-2023 and 12-December-2022 (probably 2023 meant).
	if e := entryAt(t, c, 566); !strings.Contains(e.Note, "dated before the entry that follows it (12-December-2022, line 579)") {
		t.Errorf("out-of-order entry note %q", e.Note)
	}
	for _, e := range c.Entries {
		if e.Note != "" && e.Line != 566 {
			t.Errorf("unexpected entry note at line %d: %q", e.Line, e.Note)
		}
	}

	// Every item note in the file.
	var notes []string
	for _, r := range c.Items() {
		if r.Item.Note != "" {
			notes = append(notes, fmt.Sprintf("%d %s", r.Item.Line, r.Item.Note))
		}
	}
	want := []string{
		"13 key id has 41 hex digits, expected 40",
		`1568 unusual suffix "-_new" after the key id (expected e.g. _2 or _new)`,
	}
	if strings.Join(notes, "\n") != strings.Join(want, "\n") {
		t.Errorf("item notes:\n%s\nwant:\n%s", strings.Join(notes, "\n"), strings.Join(want, "\n"))
	}
}

func TestNovemberHelpers(t *testing.T) {
	c := mustParse(t, readFile(t, novFile))
	jun := mustParse(t, readFile(t, junFile))

	since := c.Since(jun.LastUpdated)
	var raws []string
	for _, e := range since {
		raws = append(raws, e.DateRaw)
	}
	if got := strings.Join(raws, " "); got != "21-November-2024 13-September-2024 25-July-2024 12-July-2024 10-July-2024 8-July-2024 14-June-2024" {
		t.Errorf("Since(June): %s", got)
	}
	if n := len(c.Since(day(2024, 11, 21))); n != 0 {
		t.Errorf("Since(last updated) = %d entries", n)
	}
	// Since compares calendar days in t's location.
	pst := time.FixedZone("PST", -8*3600)
	if n := len(c.Since(time.Date(2024, 11, 20, 23, 0, 0, 0, pst))); n != 1 {
		t.Errorf("Since(20 Nov 23:00 PST) = %d entries, want 1", n)
	}

	removed := c.Removed()
	if len(removed) != 134 { // 11+4 (2024), 12+48 (2022-08), 2+7 (2022-03), 2 (2021), 24 (2019), 24 (2017)
		t.Errorf("Removed: %d items", len(removed))
	}
	if n := len(c.RemovedSince(jun.LastUpdated)); n != 0 {
		t.Errorf("RemovedSince(June) = %d", n)
	}
	rs := c.RemovedSince(day(2024, 1, 1))
	if len(rs) != 15 {
		t.Fatalf("RemovedSince(2024-01-01) = %d items", len(rs))
	}
	if r := rs[0]; !r.Date.Equal(day(2024, 5, 5)) || r.EntryLine != 405 || r.Header != "Removed the following AIK Certificates" ||
		r.Action != Removed || r.Kind != KindAIK || r.Item.Name != "AMD-keyid-1b4973cf8074bc4dd4b9de8a336fe3152ce6ec9d.cer" {
		t.Errorf("first removal since 2024: %+v", r)
	}
	if n := len(c.Items(Renamed)); n != 8 {
		t.Errorf("Items(Renamed) = %d", n)
	}
	if n := len(c.Items(Removed, Renamed)); n != 142 {
		t.Errorf("Items(Removed, Renamed) = %d", n)
	}
}

// TestTestdataMatchesCabs extracts version.txt from the real cabs and compares it with the
// copies in testdata.
func TestTestdataMatchesCabs(t *testing.T) {
	tool := testutil.RequireTool(t, "cabextract")
	for cab, file := range map[string]string{testutil.NovCab: novFile, testutil.JunCab: junFile} {
		dir := t.TempDir()
		if out, err := exec.Command(tool, "-q", "-d", dir, "-F", "version.txt", cab).CombinedOutput(); err != nil {
			t.Fatalf("cabextract %s: %v\n%s", cab, err, out)
		}
		got := readFile(t, filepath.Join(dir, "version.txt"))
		if !bytes.Equal(got, readFile(t, file)) {
			t.Errorf("%s differs from version.txt in %s", file, cab)
		}
	}
}

// TestRemovedButShipped uses Matches against the members of the November cab: the changelog
// is not a manifest, and every AIK CA it lists as removed on 05-May-2024 is still shipped.
func TestRemovedButShipped(t *testing.T) {
	tool := testutil.RequireTool(t, "cabextract")
	out, err := exec.Command(tool, "-l", testutil.NovCab).Output()
	if err != nil {
		t.Fatalf("cabextract -l: %v", err)
	}
	var members []string
	for _, line := range strings.Split(string(out), "\n") {
		if _, name, ok := strings.Cut(line, " | "); ok {
			if _, name, ok = strings.Cut(name, " | "); ok {
				members = append(members, strings.TrimSpace(name))
			}
		}
	}
	if len(members) < 2000 {
		t.Fatalf("only %d members listed", len(members))
	}
	shipped := func(it Item) bool {
		for _, m := range members {
			if Matches(it, m) {
				return true
			}
		}
		return false
	}
	c := mustParse(t, readFile(t, novFile))
	var still []string
	for _, r := range c.Removed() {
		if shipped(r.Item) {
			still = append(still, r.Date.Format("2006-01-02")+" "+r.Item.Name)
		}
	}
	// 11 of 05-May-2024, 3 of 30-January-2019, 3 of 07-November-2017.
	if len(still) != 17 || !strings.HasPrefix(still[0], "2024-05-05 AMD-keyid-1b4973cf") || !strings.HasPrefix(still[10], "2024-05-05 ntc-nameid-6ED6E7A6") {
		t.Errorf("removed but still shipped (%d):\n%s", len(still), strings.Join(still, "\n"))
	}
	// The 41-hex-digit name is shipped as written.
	if !shipped(c.Entries[0].Sections[0].Items[9]) {
		t.Error("NTZ-keyid-6ea5...0cc.cer not found among the members")
	}
}

func BenchmarkParseNov(b *testing.B) {
	data := readFile(b, novFile)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
