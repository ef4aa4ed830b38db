package changelog

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// maxFuzzLen bounds the inputs FuzzParse explores, the real files excepted. Under coverage
// instrumentation a 150 KB input costs ~75 ms per run, and when a mutant of one finds new
// coverage the engine spends the rest of the run minimising it byte by byte (observed: 24
// runs in 30 s). The small seeds cut from the real files cover the same constructs.
const maxFuzzLen = 16 << 10

// entrySeeds cuts data into one small version.txt per entry: the "last updated" line and the
// entry's lines, at most 4 KB.
func entrySeeds(tb testing.TB, data []byte) [][]byte {
	c := mustParse(tb, data)
	lines := strings.SplitAfter(string(data), "\r\n")
	var seeds [][]byte
	for i, e := range c.Entries {
		end := len(lines)
		if i+1 < len(c.Entries) {
			end = c.Entries[i+1].Line - 1
		}
		seed := lines[0]
		for _, l := range lines[e.Line-1 : end] {
			if len(seed)+len(l) > 4<<10 {
				break
			}
			seed += l
		}
		seeds = append(seeds, []byte(seed))
	}
	return seeds
}

// FuzzParse checks that Parse never panics, that it either fails with ErrNotChangelog and
// no result or returns a Changelog meeting the invariants, and that the helpers run on it.
func FuzzParse(f *testing.F) {
	nov, jun := readFile(f, novFile), readFile(f, junFile)
	f.Add(nov)
	f.Add(jun)
	for _, s := range entrySeeds(f, nov) {
		f.Add(s)
	}
	f.Add(doc(lastUpdatedLine, "21-November-2024"))
	f.Add(doc("1-Jan-2025", "    Renamed the following AIK Certs", "        a.cer", "        to", "        b.cer"))
	f.Add(doc("July 8, 2024", "\tRemoved: x.cer, y.crt", "\t\tz-keyid-00.cer --> comment"))
	f.Add([]byte("2024-07-08\r7/8/2024\n\r\n    Added\r        to\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzLen && !bytes.Equal(data, nov) && !bytes.Equal(data, jun) {
			t.Skip("large mutant: see maxFuzzLen")
		}
		c, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrNotChangelog) || c != nil {
				t.Fatalf("error %v with result %v", err, c)
			}
			return
		}
		if bad := checkInvariants(c); len(bad) > 0 {
			t.Fatalf("invariants broken:\n%s", strings.Join(bad, "\n"))
		}
		if c.Lines > strings.Count(string(data), "\n")+strings.Count(string(data), "\r")+1 {
			t.Fatalf("%d lines", c.Lines)
		}
		for _, r := range c.Items() {
			if !Matches(r.Item, r.Item.Name) && baseName(r.Item.Name) != "" {
				t.Fatalf("item %q does not match its own name", r.Item.Name)
			}
		}
		for _, e := range c.Entries {
			for _, s := range e.Sections {
				if msg := checkAIK(s.Header); msg != "" {
					t.Fatal(msg)
				}
			}
		}
		c.Since(c.LastUpdated)
		c.RemovedSince(c.LastUpdated)
	})
}
