package changelog

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current parser")

const novGolden = "testdata/version-2024-11-21.golden.json"

// goldenJSON renders c as JSON for review: one entry header, one section header and one
// item per line. It is ordinary JSON and unmarshals back into a Changelog.
func goldenJSON(tb testing.TB, c *Changelog) []byte {
	tb.Helper()
	enc := func(v any) string {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false) // keep "&" readable
		if err := e.Encode(v); err != nil {
			tb.Fatal(err)
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
	// A JSON string cannot hold an unescaped quote, so `"entries":[]` etc. occur only as keys.
	open := func(v any, key string) string {
		s := enc(v)
		i := strings.LastIndex(s, `"`+key+`":[]`)
		if i < 0 {
			tb.Fatalf("no %q in %s", key, s)
		}
		return s[:i+len(key)+4] // up to and including '['
	}
	var b strings.Builder
	top := *c
	top.Entries = []Entry{}
	b.WriteString(open(top, "entries"))
	for i, e := range c.Entries {
		b.WriteString(sep(i) + "\n  ")
		secs := e.Sections
		e.Sections = []Section{}
		b.WriteString(open(e, "sections"))
		for j, s := range secs {
			b.WriteString(sep(j) + "\n    ")
			items := s.Items
			s.Items = []Item{}
			b.WriteString(open(s, "items"))
			for k, it := range items {
				b.WriteString(sep(k) + "\n      " + enc(it))
			}
			if len(items) > 0 {
				b.WriteString("\n    ")
			}
			b.WriteString("]}")
		}
		if len(secs) > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString("]}")
	}
	b.WriteString("\n]}\n")
	return []byte(b.String())
}

func sep(i int) string {
	if i == 0 {
		return ""
	}
	return ","
}

// TestGolden compares the parse of the November file with the reviewed golden file.
// Regenerate with: go test ./trustlist/changelog -run TestGolden -update
func TestGolden(t *testing.T) {
	c := mustParse(t, readFile(t, novFile))
	got := goldenJSON(t, c)
	if *update {
		if err := os.WriteFile(novGolden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := readFile(t, novGolden)
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if gl[i] != wl[i] {
				t.Fatalf("parse differs from %s at line %d:\n got %s\nwant %s\n(run with -update and review the diff)", novGolden, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("parse differs from %s: %d lines, want %d", novGolden, len(gl), len(wl))
	}
	// The golden file is plain JSON holding the whole parse.
	var back Changelog
	if err := json.Unmarshal(want, &back); err != nil {
		t.Fatalf("golden file is not JSON: %v", err)
	}
	if !equalJSON(t, &back, c) {
		t.Error("golden file does not unmarshal to the parse")
	}
}

// equalJSON reports whether a and b have the same JSON encoding.
func equalJSON(tb testing.TB, a, b any) bool {
	tb.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		tb.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}
