package changelog

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// doc joins lines with CRLF, as Microsoft writes them.
func doc(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

const lastUpdatedLine = "The certificates were last updated on:"

// withLineEnds rewrites the CRLF-terminated data with the terminator end(i) for line i. A
// bare CR followed by an empty LF-terminated line would read as one CRLF, so that pairing is
// avoided.
func withLineEnds(data []byte, end func(i int) string) []byte {
	lines := strings.Split(strings.TrimSuffix(string(data), "\r\n"), "\r\n")
	var b strings.Builder
	prev := ""
	for i, l := range lines {
		e := end(i)
		if prev == "\r" && l == "" && e == "\n" {
			e = "\r"
		}
		b.WriteString(l + e)
		prev = e
	}
	return []byte(b.String())
}

func TestLineEndsGiveTheSameParse(t *testing.T) {
	data := readFile(t, novFile)
	want := mustParse(t, data)
	ends := []string{"\r\n", "\n", "\r"}
	for name, end := range map[string]func(int) string{
		"LF":    func(int) string { return "\n" },
		"CR":    func(int) string { return "\r" },
		"CRLF":  func(int) string { return "\r\n" },
		"mixed": func(i int) string { return ends[i%3] },
		"mixed-by-7": func(i int) string {
			return ends[(i/7)%3]
		},
	} {
		got := mustParse(t, withLineEnds(data, end))
		if !equalJSON(t, got, want) {
			t.Errorf("%s: parse differs from the CRLF original", name)
		}
	}
	// No terminator after the last line.
	got := mustParse(t, data[:len(data)-2])
	if !equalJSON(t, got, want) {
		t.Error("without final CRLF: parse differs")
	}
}

func TestTabsAndSpaces(t *testing.T) {
	c := mustParse(t, doc(
		lastUpdatedLine,
		"1-January-2025",
		"\tRemoved the following AIK Certificates",
		"\t\tINTC-keyid-19c0d44f3499ba602d913e8a74e3322fba3275a1.cer",
		"        INTC-keyid-9b656cd6a9dc8f9d8ccf8621c5d1fef6467fa025.cer   ",
		" \t Removed the following EK Certificates\t",
		"\t    LNL_00003429_NZ_ODCA_CA2.cer",
		"\u00a0\u00a0Added the following root certificates\u00a0",
		"\u00a0\u00a0\u00a0\u00a0\u00a0Nuvoton TPM Root CA 2210.cer",
	))
	e := c.Entries[0]
	if len(e.Sections) != 3 {
		t.Fatalf("sections: %+v", e.Sections)
	}
	s := e.Sections[0]
	if s.Header != "Removed the following AIK Certificates" || len(s.Items) != 2 ||
		s.Items[1].Name != "INTC-keyid-9b656cd6a9dc8f9d8ccf8621c5d1fef6467fa025.cer" {
		t.Errorf("section 0: %+v", s)
	}
	if s := e.Sections[1]; s.Header != "Removed the following EK Certificates" || s.Kind != KindEK || len(s.Items) != 1 {
		t.Errorf("section 1: %+v", s)
	}
	if s := e.Sections[2]; s.Header != "Added the following root certificates" || len(s.Items) != 1 || s.Items[0].Name != "Nuvoton TPM Root CA 2210.cer" {
		t.Errorf("section 2: %+v", s)
	}
}

func TestHeaderActions(t *testing.T) {
	for _, tc := range []struct {
		header       string
		action       Action
		kind, vendor string
	}{
		{"Added the following AIK Certificates", Added, KindAIK, ""},
		{"Added the following AIK Certificates:", Added, KindAIK, ""},
		{"added the following aik certificates", Added, KindAIK, ""},
		{"ADDED THE FOLLOWING EK CERTIFICATES:", Added, KindEK, ""},
		{"Removed the following AMD AIK Certificates", Removed, KindAIK, "AMD"},
		{"Removed revoked ifx certs:", Removed, KindEK, "ifx"}, // vendor certs unless all items are AIK CAs
		{"Removing previously revoked certs:", Removed, "", ""},
		{"Deleted the following Intel EK intermediates", Removed, KindEK, "Intel"},
		{"Revoked the following AIK CAs", Removed, KindAIK, ""},
		{"Withdrawn: the following Nuvoton root CAs", Removed, KindEK, "Nuvoton"},
		{"Renamed the following AMD EK Cert", Renamed, KindEK, "AMD"},
		{"Moved the following certificates", Renamed, "", ""},
		{"Replaced the following AIK Certs", Replaced, KindAIK, ""},
		{"Renewed the following AIK certs", Replaced, KindAIK, ""},
		{"Recreated the following AIK Certificates for AMD devices", Replaced, KindAIK, "AMD"},
		{"Updated the following STM intermediate certificates", Replaced, KindEK, "STM"},
		{"Reissued the following AIK CAs for Qualcomm devices", Replaced, KindAIK, "Qualcomm"},
		{"New AIK 4k certs:", Added, KindAIK, ""},
		{"Missing AIK certs:", Added, KindAIK, ""},
		{"New versions of 2 WUS region certificates. 5 new AIK CAs on all regions", Added, KindAIK, ""},
		{"Deprecated the following AIK certificates, to be removed later", Other, KindAIK, ""},
		{"Details:", Other, "", ""},
		{"standardized Infineon certificates names.", Renamed, KindEK, "Infineon"},
		{"Fixed a typo in the following certificate", Other, "", ""},
		{"The following AIK certs were removed:", Removed, KindAIK, ""},
		{"Certificates for Winbond and Atmel devices", Other, KindEK, "Winbond, Atmel"},
		{"Added the following Microsoft Certs used to issue AMD EK Certs", Added, KindEK, "Microsoft, AMD"},
		{"Added the following EK Intermediate Certificates for IFX & AMD", Added, KindEK, "IFX, AMD"},
	} {
		c := mustParse(t, doc("1-January-2025", "    "+tc.header, "        SomeFile01.crt"))
		s := c.Entries[0].Sections[0]
		if s.Header != tc.header || s.Action != tc.action || s.Kind != tc.kind || s.Vendor != tc.vendor || len(s.Items) != 1 {
			t.Errorf("%q: got header %q action %q kind %q vendor %q, %d items; want %q %q %q",
				tc.header, s.Header, s.Action, s.Kind, s.Vendor, len(s.Items), tc.action, tc.kind, tc.vendor)
		}
	}
}

// TestKindFromItems: a header that names no kind takes KindAIK from its items.
func TestKindFromItems(t *testing.T) {
	c := mustParse(t, doc("1-Jan-2025",
		"    Removed revoked ifx certs:",
		"        WUS-IFX-KeyId-C2EF641C329CB0A9F2EAE04BFB10C99B89C34614.cer",
		"    Removed revoked ifx certs:",
		"        WUS-IFX-KeyId-C2EF641C329CB0A9F2EAE04BFB10C99B89C34614.cer",
		"        IFX_TPM_EK_Intermediate_CA_32.crt",
	))
	if k := c.Entries[0].Sections[0].Kind; k != KindAIK {
		t.Errorf("all AIK items: kind %q", k)
	}
	if k := c.Entries[0].Sections[1].Kind; k != KindEK {
		t.Errorf("mixed items, vendor named: kind %q", k)
	}
}

// TestHeaderOrItem checks the classification of single lines under an open section whose
// header is indented by 4.
func TestHeaderOrItem(t *testing.T) {
	for _, tc := range []struct {
		line   string
		header bool
		name   string
	}{
		{"        AMD-keyid-4404c4aa7bd882613e955e8252d2c04e40dcad00.cer", false, "AMD-keyid-4404c4aa7bd882613e955e8252d2c04e40dcad00.cer"},
		{"        ntc-nameid-3507D82BFB03C0DB46CF9B6F59E3B20F18BFB29C", false, "ntc-nameid-3507D82BFB03C0DB46CF9B6F59E3B20F18BFB29C"},
		{"    ntc-nameid-3507D82BFB03C0DB46CF9B6F59E3B20F18BFB29C", false, "ntc-nameid-3507D82BFB03C0DB46CF9B6F59E3B20F18BFB29C"},
		{"ntc-nameid-3507D82BFB03C0DB46CF9B6F59E3B20F18BFB29C", false, "ntc-nameid-3507D82BFB03C0DB46CF9B6F59E3B20F18BFB29C"},
		{"        STSAFE ECC Root CA 02.cer", false, "STSAFE ECC Root CA 02.cer"},
		{"        STM TPM EK Intermediate CA 06.CER", false, "STM TPM EK Intermediate CA 06.CER"},
		{"        Infineon-OPTIGA-RSA-Manufacturing-CA 036_Issued_by_RootCA.crt-C-v01_00-EN.crt", false, "Infineon-OPTIGA-RSA-Manufacturing-CA 036_Issued_by_RootCA.crt-C-v01_00-EN.crt"},
		{"        Infineon OPTIGA(TM) RSA Manufacturing CA 029_Issued_by_RootCA.crt", false, "Infineon OPTIGA(TM) RSA Manufacturing CA 029_Issued_by_RootCA.crt"},
		{"        ADL_00002701_ODCA_CA2.cer (ODCA 2 CSME P_ADL 00002701 Issuing CA)", false, "ADL_00002701_ODCA_CA2.cer"},
		{"        - OptigaEccMfrCA055.crt", false, "OptigaEccMfrCA055.crt"},
		{"        EkRootCA", false, "EkRootCA"},
		{"        OptigaRsaMfrCA055", false, "OptigaRsaMfrCA055"},
		{"        New Root CA 2025.cer", false, "New Root CA 2025.cer"},
		{"        Nuvoton TPM Root CA 2210", false, "Nuvoton TPM Root CA 2210"},
		{"        some.pem", false, "some.pem"},
		{"        pem", false, "pem"}, // a single word deeper than the header
		{"        .Cer", false, ".Cer"},
		{"    Added the following AIK Certificates", true, ""},
		{"    Removed IFX-RootCA.cer", true, ""},
		{"Details:", true, ""},
		{"    Details", true, ""},
		{"    Note: these certificates expire in 2030", true, ""},
		{"    Please note foo.cer is expired", true, ""},
		{"        The following are for Intel devices", true, ""},
		{"    New AIK 4k certs:", true, ""},
		{"    AIK certs for Qualcomm", true, ""},
		{"    Something unknown happened", true, ""},
	} {
		c := mustParse(t, doc("1-Jan-2025", "    Added the following certificates", tc.line))
		secs := c.Entries[0].Sections
		switch {
		case tc.header && (len(secs) != 2 || secs[1].Header != strings.TrimSpace(tc.line)):
			t.Errorf("%q: want a header, got %+v", tc.line, secs)
		case !tc.header && (len(secs) != 1 || len(secs[0].Items) != 1 || secs[0].Items[0].Name != tc.name):
			t.Errorf("%q: want item %q, got %+v", tc.line, tc.name, secs)
		}
	}
}

func TestDates(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time // zero: not a date
	}{
		{"21-November-2024", day(2024, 11, 21)},
		{"8-July-2024", day(2024, 7, 8)},
		{"05-May-2024", day(2024, 5, 5)},
		{"5-Jul-2024", day(2024, 7, 5)},
		{"05-SEPT-2024", day(2024, 9, 5)},
		{"8 July 2024", day(2024, 7, 8)},
		{"July 8, 2024", day(2024, 7, 8)},
		{"Jul 8th 2024", day(2024, 7, 8)},
		{"Monday, July 8, 2024", day(2024, 7, 8)},
		{"2024-07-08", day(2024, 7, 8)},
		{"2024/7/8", day(2024, 7, 8)},
		{"2024-Jul-08", day(2024, 7, 8)},
		{"7/8/2024", day(2024, 7, 8)},
		{"07-08-2024", day(2024, 7, 8)},
		{"25/12/2024", day(2024, 12, 25)},
		{"8-Jul-24", day(2024, 7, 8)},
		{"8-July-2024:", day(2024, 7, 8)},
		{"  29-February-2024  ", day(2024, 2, 29)},
		{"29-February-2023", time.Time{}},
		{"31-April-2024", time.Time{}},
		{"0-July-2024", time.Time{}},
		{"8-Jully-2024", time.Time{}},
		{"8--July-2024", time.Time{}},
		{"1 2 2024", time.Time{}},
		{"7/8-2024", time.Time{}},
		{"13/13/2024", time.Time{}},
		{"8-July-1969", time.Time{}},
		{"8-July-20245", time.Time{}},
		{"Added the following AIK Certificates", time.Time{}},
		{"AMD-keyid-4404c4aa7bd882613e955e8252d2c04e40dcad00.cer", time.Time{}},
		{"July", time.Time{}},
		{"8July2024", time.Time{}},
		{"1JAn00", time.Time{}},
		{"", time.Time{}},
	} {
		got, ok := parseDate(tc.in)
		if ok != !tc.want.IsZero() || !got.Equal(tc.want) {
			t.Errorf("parseDate(%q) = %v, %v; want %v", tc.in, got, ok, tc.want)
		}
	}
}

func TestNotAChangelog(t *testing.T) {
	utf16NUL := []byte("T\x00h\x00e\x00")
	for name, in := range map[string][]byte{
		"empty":       nil,
		"blank":       []byte(" \r\n\t\r\n"),
		"binary":      {'M', 'S', 'C', 'F', 0, 0, 0, 0, 1, 2, 3},
		"control":     []byte(strings.Repeat("\x01\x02abc\r\n", 10)),
		"utf16-noBOM": utf16NUL,
		"html":        []byte("<!DOCTYPE html>\r\n<html><body>8-July-2024</body></html>"),
		"xml":         []byte("  <?xml version=\"1.0\"?><Error>AccessDenied</Error>"),
		"json":        []byte(`{"Message":"The authority does not exist."}`),
		"prose":       []byte("Service Unavailable\r\nPlease try again later.\r\n"),
	} {
		c, err := Parse(in)
		if !errors.Is(err, ErrNotChangelog) || c != nil {
			t.Errorf("%s: got %v, %v; want ErrNotChangelog", name, c, err)
		}
	}
}

func TestLastUpdatedOnly(t *testing.T) {
	c := mustParse(t, doc(lastUpdatedLine, "21-November-2024"))
	if !c.LastUpdated.Equal(day(2024, 11, 21)) || c.LastUpdatedRaw != "21-November-2024" || c.LastUpdatedLine != 2 || len(c.Entries) != 0 {
		t.Errorf("got %+v", c)
	}
	// The header alone: a changelog with nothing in it.
	c = mustParse(t, doc(lastUpdatedLine))
	if !c.LastUpdated.IsZero() || len(c.Entries) != 0 {
		t.Errorf("header only: %+v", c)
	}
	// Date on the same line.
	c = mustParse(t, doc("The certificates were last updated on: 21-November-2024", "    Added the following AIK Certificates", "        a-keyid-00.cer"))
	if !c.LastUpdated.Equal(day(2024, 11, 21)) || len(c.Entries) != 1 || c.Entries[0].Line != 1 {
		t.Errorf("inline date: %+v", c)
	}
	// A stamp followed by its own dated entry: the stamp is not an entry.
	c = mustParse(t, doc(lastUpdatedLine, "21-November-2024", "", "21-November-2024", "    Added the following AIK Certificates", "        x.cer"))
	if len(c.Entries) != 1 || c.Entries[0].Line != 4 || c.LastUpdatedLine != 2 {
		t.Errorf("stamp then entry: %+v", c)
	}
	// The header followed by something that is not a date.
	c = mustParse(t, doc(lastUpdatedLine, "soon", "1-Jan-2025", "    Added x.cer"))
	if !c.LastUpdated.IsZero() || len(c.Preamble) != 1 || c.Preamble[0].Text != "soon" || len(c.Entries) != 1 {
		t.Errorf("header without date: %+v", c)
	}
}

func TestPreambleAndHeaderlessItems(t *testing.T) {
	c := mustParse(t, doc(
		"TrustedTpm changelog",
		lastUpdatedLine,
		"2-January-2025",
		"        orphan-keyid-0123456789012345678901234567890123456789.cer",
		"    Added the following AIK Certificates",
		"        AMD-keyid-4404c4aa7bd882613e955e8252d2c04e40dcad00.cer",
		"1-January-2025",
		"",
	))
	if len(c.Preamble) != 1 || c.Preamble[0] != (Text{"TrustedTpm changelog", 1}) {
		t.Errorf("preamble %+v", c.Preamble)
	}
	e := c.Entries[0]
	if len(e.Sections) != 2 || e.Sections[0].Header != "" || e.Sections[0].Action != Other || e.Sections[0].Kind != KindAIK || len(e.Sections[0].Items) != 1 {
		t.Errorf("headerless section: %+v", e.Sections)
	}
	if e := c.Entries[1]; len(e.Sections) != 0 || e.Note != "entry has no sections" {
		t.Errorf("empty entry: %+v", e)
	}
}

func TestRenameForms(t *testing.T) {
	c := mustParse(t, doc("1-Jan-2025",
		// The form of the brief: the old name on the header line.
		"    Renamed AMDTPM.crt",
		"        to",
		"        AMD-fTPM-RSA-RootCA.crt",
		// One line with an arrow.
		"    Renamed the following:",
		"        Old-keyid-0000000000000000000000000000000000000000.cer -> New-keyid-0000000000000000000000000000000000000000.cer",
		// Header carries the whole rename.
		"    Renamed AMDTPM.crt to AMD-fTPM-RSA-RootCA.crt",
		// Counts differ: nothing paired, everything kept and noted.
		"    Renamed the following AIK Certs",
		"        a.cer",
		"        b.cer",
		"        to",
		"        c.cer",
		// "to" at the end.
		"    Renamed the following AIK Certs",
		"        d.cer",
		"        to:",
	))
	secs := c.Entries[0].Sections
	if len(secs) != 5 {
		t.Fatalf("sections %+v", secs)
	}
	want := []struct{ name, to string }{
		{"AMDTPM.crt", "AMD-fTPM-RSA-RootCA.crt"},
		{"Old-keyid-0000000000000000000000000000000000000000.cer", "New-keyid-0000000000000000000000000000000000000000.cer"},
		{"AMDTPM.crt", "AMD-fTPM-RSA-RootCA.crt"},
	}
	for i, w := range want {
		s := secs[i]
		if s.Action != Renamed || len(s.Items) != 1 || s.Items[0].Name != w.name || s.Items[0].RenamedTo != w.to {
			t.Errorf("section %d: %+v", i, s)
		}
	}
	if s := secs[3]; len(s.Items) != 3 || s.Items[0].RenamedTo != "" ||
		!strings.Contains(s.Items[0].Note, "old name; rename not paired: 2 name(s) before \"to\", 1 after") ||
		!strings.Contains(s.Items[2].Note, "new name; rename not paired") {
		t.Errorf("unpaired rename: %+v", s.Items)
	}
	if s := secs[4]; len(s.Items) != 1 || !strings.Contains(s.Items[0].Note, "1 name(s) before \"to\", 0 after") {
		t.Errorf("dangling to: %+v", s.Items)
	}
}

func TestInlineItems(t *testing.T) {
	c := mustParse(t, doc("1-Jan-2025",
		"    Removed: IFX-RootCA.cer, ntc-keyid-a52cb647e0909bda2e7f7d913f62d88b1389e2c6",
		"    Removed IFX_TPM_EK_Intermediate_CA_32.crt",
		"    Removed the following: see below",
		"        x.crt",
	))
	secs := c.Entries[0].Sections
	if len(secs[0].Items) != 2 || secs[0].Items[1].Name != "ntc-keyid-a52cb647e0909bda2e7f7d913f62d88b1389e2c6" || secs[0].Items[0].Line != 2 {
		t.Errorf("after colon: %+v", secs[0])
	}
	if len(secs[1].Items) != 1 || secs[1].Items[0].Name != "IFX_TPM_EK_Intermediate_CA_32.crt" || secs[1].Action != Removed {
		t.Errorf("after verb: %+v", secs[1])
	}
	if len(secs[2].Items) != 1 || secs[2].Items[0].Name != "x.crt" {
		t.Errorf("prose after colon: %+v", secs[2])
	}
}

func TestItemNotes(t *testing.T) {
	for _, tc := range []struct{ name, note string }{
		{"NTZ-keyid-6ea5bcbda0be52890507175a3c12e8a3b8386f0cc.cer", "key id has 41 hex digits, expected 40"},
		{"ntc-nameid-171BF95AAE9CD59392B7BBA51F254DD341A3BA6", "key id has 39 hex digits, expected 40"},
		{"WUS-ifx-keyid-c2ef641c329cb0a9f2eae04bfb10c99b89c34614-_new.cer", `unusual suffix "-_new" after the key id (expected e.g. _2 or _new)`},
		{"EUS-IFX-KEYID-1DDE0F406D122C3E5A4F861F94876C9E1ACDD37E_2.cer", ""},
		{"WUS-AMD-KEYID-578c545f796951421221a4a578acdb5f682f89c8_new.cer", ""},
		{"amd-keyid-52fb59e29aa83a962fb9eef0fe5b4811de6b75zz.cer", `key id "52fb59e29aa83a962fb9eef0fe5b4811de6b75zz" is not hexadecimal`},
		{"AMD-fTPM-RSA-ICA-RPLFamily-1E34E7EF9C15FA479A9F398BC865D60.crt", ""},
	} {
		c := mustParse(t, doc("1-Jan-2025", "    Added the following AIK certs", "        "+tc.name))
		if it := c.Entries[0].Sections[0].Items[0]; it.Note != tc.note {
			t.Errorf("%s: note %q, want %q", tc.name, it.Note, tc.note)
		}
	}
}

func TestByteOrderMarks(t *testing.T) {
	text := "The certificates were last updated on:\r\n8-July-2024\r\n    Added the following AIK Certificates\r\n        IFX-KEYID-1BD645FC1F90827C283E6CB526859FFAB0E0C62B.cer\r\n"
	u := utf16.Encode([]rune(text))
	le := []byte{0xFF, 0xFE}
	be := []byte{0xFE, 0xFF}
	for _, r := range u {
		le = append(le, byte(r), byte(r>>8))
		be = append(be, byte(r>>8), byte(r))
	}
	want := mustParse(t, []byte(text))
	for name, in := range map[string][]byte{
		"utf-8 BOM": append([]byte{0xEF, 0xBB, 0xBF}, text...),
		"utf-16LE":  le,
		"utf-16BE":  be,
		"ctrl-z":    append([]byte(text), 0x1a),
	} {
		if got := mustParse(t, in); !equalJSON(t, got, want) {
			t.Errorf("%s: parse differs", name)
		}
	}
}

func TestSinceKeepsOutOfOrderEntries(t *testing.T) {
	c := mustParse(t, doc(
		"3-April-2023", "    Added a.cer",
		"28-February-2022", "    Added b.cer", // out of order (2023 meant)
		"12-December-2022", "    Removed the following:", "        c.cer",
	))
	if !strings.HasPrefix(c.Entries[1].Note, "dated before the entry that follows it (12-December-2022, line 5)") {
		t.Errorf("note %q", c.Entries[1].Note)
	}
	var got []string
	for _, e := range c.Since(day(2022, 1, 1)) {
		got = append(got, e.DateRaw)
	}
	if strings.Join(got, ",") != "3-April-2023,28-February-2022,12-December-2022" {
		t.Errorf("Since: %v", got)
	}
	if rs := c.RemovedSince(day(2022, 12, 11)); len(rs) != 1 || rs[0].Item.Name != "c.cer" || rs[0].EntryLine != 5 {
		t.Errorf("RemovedSince: %+v", rs)
	}
	if rs := c.RemovedSince(day(2022, 12, 12)); len(rs) != 0 {
		t.Errorf("RemovedSince(same day): %+v", rs)
	}
	var nilC *Changelog
	if nilC.Since(time.Time{}) != nil || nilC.Items() != nil || nilC.RemovedSince(time.Time{}) != nil {
		t.Error("nil Changelog helpers")
	}
}

func TestMatches(t *testing.T) {
	item := func(name string) Item { stem, _ := splitCertExt(name); return Item{Name: name, Stem: stem} }
	for _, tc := range []struct {
		item, base string
		want       bool
	}{
		{"AMD-keyid-1b4973cf8074bc4dd4b9de8a336fe3152ce6ec9d.cer", "AMD-keyid-1b4973cf8074bc4dd4b9de8a336fe3152ce6ec9d.cer", true},
		{"AMD-keyid-1b4973cf8074bc4dd4b9de8a336fe3152ce6ec9d.cer", "amd-KEYID-1B4973CF8074BC4DD4B9DE8A336FE3152CE6EC9D.CER", true},
		{"ntc-nameid-3507D82BFB03C0DB46CF9B6F59E3B20F18BFB29C", "ntc-nameid-3507d82bfb03c0db46cf9b6f59e3b20f18bfb29c.cer", true},
		{"ntc-nameid-3507D82BFB03C0DB46CF9B6F59E3B20F18BFB29C.cer", "ntc-nameid-3507D82BFB03C0DB46CF9B6F59E3B20F18BFB29C", true},
		{"STM TPM EK Intermediate CA 06.CER", `STMicro\IntermediateCA\STM TPM EK Intermediate CA 06.cer`, true},
		{"x.cer", "Microsoft/IntermediateCA/x.cer", true},
		{"x.cer", "x.crt", false},
		{"x.cer", "x.cer.bak", false},
		{"x", "xy.cer", false},
		{"EUS-x.cer", "x.cer", false},
		{"x.cer", "", false},
		{"", "x.cer", false},
		{"readme", "readme.txt", false},
	} {
		if got := Matches(item(tc.item), tc.base); got != tc.want {
			t.Errorf("Matches(%q, %q) = %v, want %v", tc.item, tc.base, got, tc.want)
		}
	}
}

func TestMatchAIK(t *testing.T) {
	for _, stem := range []string{
		"EUS-IFX-KEYID-1DDE0F406D122C3E5A4F861F94876C9E1ACDD37E_2",
		"ifx-keyid-c2ef641c329cb0a9f2eae04bfb10c99b89c34614",
		"WUS-ifx-keyid-c2ef641c329cb0a9f2eae04bfb10c99b89c34614-_new",
		"ntc-nameid-3507D82BFB03C0DB46CF9B6F59E3B20F18BFB29C",
		"NTZ-keyid-6ea5bcbda0be52890507175a3c12e8a3b8386f0cc",
		"AMD-fTPM-RSA-ICA-RPLFamily-1E34E7EF9C15FA479A9F398BC865D60",
		"keyid-keyid-keyid-00", "ab-cd-keyid-0", "abcde-xy-keyid-0", "a-keyid-0", "abcdefg-keyid-0",
		"xy-keyid-", "xy-keyid-0_", "xy-keyid-0.", "xy-KeyId-0-", "xy-nameid-0_a-b_c", "xy-keyid0",
		"", "-", "x", "EUS--keyid-0",
	} {
		if msg := checkAIK(stem); msg != "" {
			t.Error(msg)
		}
	}
}
