package cab

import (
	"bytes"
	stdflate "compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/flate"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

// writeCab writes files with opts or fails the test.
func writeCab(tb testing.TB, files []WriterFile, opts WriteOptions) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, files, opts); err != nil {
		tb.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

// readMembers opens b and walks it, returning the members in Walk order with their data.
func readMembers(tb testing.TB, b []byte, lim Limits) (*Cabinet, []Member, [][]byte) {
	tb.Helper()
	c, err := openBytes(b, lim)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	var ms []Member
	var data [][]byte
	err = c.Walk(context.Background(), func(m Member, r io.Reader) error {
		d, err := io.ReadAll(r)
		ms = append(ms, m)
		data = append(data, d)
		return err
	})
	if err != nil {
		tb.Fatalf("Walk: %v", err)
	}
	return c, ms, data
}

// cfdataBlock is one CFDATA header of a written cabinet.
type cfdataBlock struct {
	csum             uint32
	cbData, cbUncomp int
	off              int // file offset of the header
}

// cfdataBlocks parses the CFDATA chain of c's only folder (no reserved areas).
func cfdataBlocks(tb testing.TB, c *Cabinet, b []byte) []cfdataBlock {
	tb.Helper()
	f := c.Folders()[0]
	pos := int(f.DataOffset)
	var out []cfdataBlock
	for range f.NumBlocks {
		h := b[pos : pos+dataFixedSize]
		blk := cfdataBlock{
			csum:     binary.LittleEndian.Uint32(h),
			cbData:   int(binary.LittleEndian.Uint16(h[4:])),
			cbUncomp: int(binary.LittleEndian.Uint16(h[6:])),
			off:      pos,
		}
		out = append(out, blk)
		pos += dataFixedSize + blk.cbData
	}
	if pos != len(b) {
		tb.Errorf("CFDATA chain ends at %d, cabinet has %d bytes", pos, len(b))
	}
	return out
}

// dosRounded is the time a reader gets back for t.
func dosRounded(t time.Time) time.Time {
	if t.IsZero() {
		return dosEpoch
	}
	t = t.UTC()
	return t.Add(-time.Duration(t.Second()%2)*time.Second - time.Duration(t.Nanosecond()))
}

// checkRoundTrip writes files, reads them back with the package's reader and compares
// everything the format stores. It returns the cabinet bytes.
func checkRoundTrip(t *testing.T, files []WriterFile, opts WriteOptions) []byte {
	t.Helper()
	b, _ := checkRoundTripStats(t, files, opts, true)
	return b
}

// checkRoundTripStats is checkRoundTrip, also returning how the blocks were encoded. With
// scanBlocks it checks that every MSZIP block's DEFLATE stream uses only complete codes.
func checkRoundTripStats(t *testing.T, files []WriterFile, opts WriteOptions, scanBlocks bool) ([]byte, writeStats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := write(&buf, files, opts)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	b := buf.Bytes()
	c, ms, data := readMembers(t, b, Limits{MaxMembers: maxWriteFiles})
	h := c.Header()
	if h.Size != uint32(len(b)) || h.Flags != 0 || h.Reserve != nil || h.NumFolders != 1 ||
		h.NumFiles != len(files) || h.SetID != opts.SetID || h.VersionMajor != 1 || h.VersionMinor != 3 {
		t.Errorf("header: %+v (cabinet %d bytes, %d files)", h, len(b), len(files))
	}
	if c.Trailer().Size() != 0 {
		t.Errorf("trailer of %d bytes", c.Trailer().Size())
	}
	wantComp := "MSZIP"
	if opts.Compression == "none" {
		wantComp = "none"
	}
	var total int64
	for _, f := range files {
		total += int64(len(f.Data))
	}
	fo := c.Folders()[0]
	wantBlocks := int((total + maxBlockUncomp - 1) / maxBlockUncomp)
	if fo.Compression != wantComp || fo.NumBlocks != wantBlocks || fo.UncompressedSize != total {
		t.Errorf("folder: %s, %d blocks, %d bytes; want %s, %d blocks, %d bytes",
			fo.Compression, fo.NumBlocks, fo.UncompressedSize, wantComp, wantBlocks, total)
	}
	var scan deflateScanner
	for i, blk := range cfdataBlocks(t, c, b) {
		if scanBlocks && wantComp == "MSZIP" {
			data := b[blk.off+dataFixedSize : blk.off+dataFixedSize+blk.cbData]
			_, out, strict, err := scan.scan(data[2:], nil, false)
			if err != nil || out != blk.cbUncomp || !strict {
				t.Errorf("block %d: DEFLATE stream produces %d bytes (want %d), strict %v, %v", i, out, blk.cbUncomp, strict, err)
			}
		}
		if blk.cbUncomp != min(maxBlockUncomp, int(total-int64(i)*maxBlockUncomp)) {
			t.Errorf("block %d: cbUncomp %d", i, blk.cbUncomp)
		}
		if blk.cbData > blk.cbUncomp+7 {
			t.Errorf("block %d: cbData %d exceeds cbUncomp %d + 7", i, blk.cbData, blk.cbUncomp)
		}
		if blk.csum == 0 {
			t.Errorf("block %d: no checksum", i)
		}
	}
	if len(ms) != len(files) {
		t.Fatalf("read %d members, wrote %d", len(ms), len(files))
	}
	var off int64
	for i, f := range files {
		m := ms[i]
		wantAttrs := f.Attrs
		if strings.ContainsFunc(f.Name, func(r rune) bool { return r >= 0x80 }) {
			wantAttrs |= AttrNameIsUTF
		}
		if m.Index != i || m.Name != f.Name || m.Size != int64(len(f.Data)) || m.Folder != 0 || m.Offset != off ||
			m.Attrs != wantAttrs || !m.Modified.Equal(dosRounded(f.Modified)) {
			t.Errorf("member %d: got %+v, want name %q size %d offset %d attrs %#x modified %v",
				i, m, f.Name, len(f.Data), off, wantAttrs, dosRounded(f.Modified))
		}
		if !bytes.Equal(data[i], f.Data) {
			t.Errorf("member %d %q: read %d bytes that differ from the %d written", i, f.Name, len(data[i]), len(f.Data))
		}
		off += int64(len(f.Data))
	}
	if st.blocks != c.Folders()[0].NumBlocks {
		t.Errorf("stats count %d blocks, folder has %d", st.blocks, c.Folders()[0].NumBlocks)
	}
	return b, st
}

var (
	when = time.Date(2024, 11, 22, 0, 2, 28, 0, time.UTC)
	// testText compresses well; testRand does not.
	testText = bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog\r\n"), 2300) // ~100 KB
	testRand = randBytes(100_000)
)

// writeCases are the file sets the round-trip and oracle tests write.
func writeCases() map[string][]WriterFile {
	many := make([]WriterFile, 300)
	for i := range many {
		many[i] = WriterFile{
			Name:     fmt.Sprintf("Vendor%02d/RootCA/cert %03d.cer", i%7, i),
			Data:     []byte(strings.Repeat(fmt.Sprintf("cert %d\n", i), i%41)),
			Modified: when.Add(time.Duration(i) * time.Minute),
			Attrs:    AttrArchive,
		}
	}
	return map[string][]WriterFile{
		"empty-list": nil,
		"one-empty":  {{Name: "empty", Modified: when}},
		"small": {
			{Name: "setup.cmd", Data: []byte("@echo off\r\n"), Modified: when, Attrs: AttrArchive},
			{Name: "version.txt", Data: []byte("21-November-2024\r\n"), Modified: when.Add(3 * time.Second), Attrs: AttrReadOnly},
			{Name: "dir/empty", Modified: time.Date(2001, 2, 3, 4, 5, 6, 7, time.FixedZone("X", 3600))},
			{Name: "dir/sub/x.cer", Data: []byte{0x30, 0x82, 0, 1, 2}},
		},
		"100KB-text":  {{Name: "big/text.txt", Data: testText, Modified: when}},
		"100KB-rand":  {{Name: "a", Data: []byte("x")}, {Name: "big/rand.bin", Data: testRand, Modified: when}, {Name: "z", Data: []byte("y")}},
		"300-files":   many,
		"dict-repeat": {{Name: "periodic.bin", Data: periodic(20000, 2*maxBlockUncomp+1000)}},
		"non-ascii": {
			{Name: "Infineon/Zertifikat für Prüfung.cer", Data: []byte("ü"), Modified: when},
			{Name: "証明書/ルート.crt", Data: testText[:5000], Modified: when, Attrs: AttrArchive},
			{Name: "plain.txt", Data: []byte("plain"), Modified: when},
		},
	}
}

// periodic returns n bytes repeating a random sequence of length period.
func periodic(period, n int) []byte {
	r := randBytes(period)
	var data []byte
	for len(data) < n {
		data = append(data, r...)
	}
	return data[:n]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestWriteRoundTrip(t *testing.T) {
	cases := writeCases()
	for _, name := range sortedKeys(cases) {
		for _, opts := range []WriteOptions{
			{Compression: "none", SetID: 7},
			{},
			{Compression: "MSZIP", Level: flate.BestSpeed},
			{Compression: "mszip", Level: flate.BestCompression, SetID: 0xBEEF},
			{Level: flate.HuffmanOnly},
		} {
			t.Run(fmt.Sprintf("%s/%s-%d", name, opts.Compression, opts.Level), func(t *testing.T) {
				checkRoundTrip(t, cases[name], opts)
			})
		}
	}
}

// TestWriteDictionary checks that each MSZIP block is compressed against the previous
// block: blocks that repeat earlier random bytes must shrink to almost nothing.
func TestWriteDictionary(t *testing.T) {
	const period = 20000 // matches at distance 20,000 reach into the previous block
	data := periodic(period, 2*maxBlockUncomp+1000)
	// (The default level's match finder skips ahead through random data and misses
	// most of these matches, so only the extreme levels are asserted.)
	for _, level := range []int{flate.BestSpeed, flate.BestCompression} {
		t.Run(fmt.Sprint(level), func(t *testing.T) {
			b := checkRoundTrip(t, []WriterFile{{Name: "r", Data: data}}, WriteOptions{Level: level})
			c, _ := openBytes(b, DefaultLimits())
			blocks := cfdataBlocks(t, c, b)
			if len(blocks) != 3 {
				t.Fatalf("%d blocks", len(blocks))
			}
			// Block 0 holds 20,000 random bytes: with the fixed codes (a single distance
			// code needs them) literals cost 8 or 9 bits.
			if blocks[0].cbData < period || blocks[0].cbData > period*9/8+100 {
				t.Errorf("block 0: cbData %d, want about %d", blocks[0].cbData, period)
			}
			if blocks[1].cbData > 500 || blocks[2].cbData > 100 {
				t.Errorf("blocks 1 and 2 (repeats): cbData %d and %d; dictionary unused?", blocks[1].cbData, blocks[2].cbData)
			}
		})
	}
}

// TestWriteChecksums checks that a corrupted block is detected through its checksum.
func TestWriteChecksums(t *testing.T) {
	for _, comp := range []string{"none", "MSZIP"} {
		t.Run(comp, func(t *testing.T) {
			b := writeCab(t, []WriterFile{{Name: "t", Data: testText}}, WriteOptions{Compression: comp})
			c, _ := openBytes(b, DefaultLimits())
			blk := cfdataBlocks(t, c, b)[1]
			b[blk.off+dataFixedSize+blk.cbData/2] ^= 0x10
			_, err := walkAll(b, DefaultLimits())
			if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "block 1") {
				t.Errorf("corrupted block 1: %v, want ErrChecksum naming block 1", err)
			}
		})
	}
}

// writeFileCab writes files to a new .cab file and returns its path.
func writeFileCab(tb testing.TB, files []WriterFile, opts WriteOptions) string {
	tb.Helper()
	p := filepath.Join(fastTempDir(tb), "out.cab")
	if err := os.WriteFile(p, writeCab(tb, files, opts), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestWriteCabextract(t *testing.T) {
	tool := testutil.RequireTool(t, "cabextract")
	cases := writeCases()
	for _, name := range sortedKeys(cases) {
		if len(cases[name]) == 0 {
			continue // cabextract rejects cabinets without files ("no files in cabinet")
		}
		for _, opts := range []WriteOptions{
			{Compression: "none"},
			{},
			{Level: flate.BestCompression},
			{Level: flate.HuffmanOnly}, // every block re-encoded with the fixed codes
		} {
			t.Run(fmt.Sprintf("%s/%s-%d", name, opts.Compression, opts.Level), func(t *testing.T) {
				p := writeFileCab(t, cases[name], opts)
				out, err := exec.Command(tool, "-t", p).CombinedOutput()
				if err != nil || !bytes.Contains(out, []byte("All done, no errors.")) {
					t.Fatalf("cabextract -t: %v\n%s", err, out)
				}
				if opts.Level != 0 {
					return // extraction is checked for the default level and "none"
				}
				got := cabextract(t, p)
				if len(got) != len(cases[name]) {
					t.Errorf("cabextract wrote %d files, want %d", len(got), len(cases[name]))
				}
				for _, f := range cases[name] {
					if d, ok := got[f.Name]; !ok || !bytes.Equal(d, f.Data) {
						t.Errorf("%q: extracted %v, %d bytes; want %d bytes", f.Name, ok, len(d), len(f.Data))
					}
				}
			})
		}
	}
}

func TestWriteGcab(t *testing.T) {
	tool := testutil.RequireTool(t, "gcab")
	cases := writeCases()
	for _, name := range sortedKeys(cases) {
		files := cases[name]
		if len(files) == 0 {
			continue
		}
		for _, comp := range []string{"none", "MSZIP"} {
			t.Run(name+"/"+comp, func(t *testing.T) {
				p := writeFileCab(t, files, WriteOptions{Compression: comp})
				out, err := exec.Command(tool, "-t", p).CombinedOutput()
				if err != nil {
					t.Fatalf("gcab -t: %v\n%s", err, out)
				}
				var want []string
				for _, f := range files {
					want = append(want, f.Name)
				}
				got := strings.Split(strings.TrimSuffix(strings.ReplaceAll(string(out), `\`, "/"), "\n"), "\n")
				if !slices.Equal(got, want) {
					t.Errorf("gcab -t lists %q, want %q", got, want)
				}
				dir := fastTempDir(t)
				if out, err := exec.Command(tool, "-x", "-C", dir, p).CombinedOutput(); err != nil {
					t.Fatalf("gcab -x: %v\n%s", err, out)
				}
				for _, f := range files {
					d, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Name)))
					if err != nil || !bytes.Equal(d, f.Data) {
						t.Errorf("%q: gcab extracted %d bytes (%v), want %d", f.Name, len(d), err, len(f.Data))
					}
				}
			})
		}
	}
}

// novFiles reads every member of the November 2024 trust list in file-table order.
func novFiles(tb testing.TB) ([]WriterFile, *Cabinet) {
	tb.Helper()
	c := openFile(tb, testutil.NovCab)
	var files []WriterFile
	err := c.Walk(context.Background(), func(m Member, r io.Reader) error {
		d, err := io.ReadAll(r)
		files = append(files, WriterFile{Name: m.Name, Data: d, Modified: m.Modified, Attrs: m.Attrs})
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files, c
}

func TestWriteNovRewrite(t *testing.T) {
	files, orig := novFiles(t)
	if len(files) != 2193 {
		t.Fatalf("read %d members", len(files))
	}
	var total int64
	for _, f := range files {
		total += int64(len(f.Data))
	}
	// Scanning the blocks again is left to cabextract below (it is slow under -race).
	b, st := checkRoundTripStats(t, files, WriteOptions{}, false)
	t.Logf("blocks: %d, re-encoded with fixed codes %d, stored %d, unscannable %d", st.blocks, st.fixed, st.stored, st.scanErrors)
	if st.scanErrors != 0 {
		t.Errorf("%d blocks could not be scanned", st.scanErrors)
	}
	origSize := int64(orig.Header().Size)
	ratio := float64(len(b)) / float64(origSize)
	t.Logf("Nov 2024 trust list: %d members, %d bytes uncompressed; original cabinet %d bytes (cbCabinet, signature excluded), %d blocks; rewritten %d bytes, %d blocks (%.1f%%)",
		len(files), total, origSize, orig.Folders()[0].NumBlocks, len(b), (total+maxBlockUncomp-1)/maxBlockUncomp, 100*ratio)
	if ratio > 1.10 {
		t.Errorf("rewritten cabinet is %d bytes, more than 110%% of the original's %d", len(b), origSize)
	}
	t.Run("cabextract", func(t *testing.T) {
		tool := testutil.RequireTool(t, "cabextract")
		p := filepath.Join(fastTempDir(t), "nov.cab")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(tool, "-t", p).CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("All done, no errors.")) {
			t.Errorf("cabextract -t on the rewritten trust list: %v\n%s", err, out)
		}
	})
}

func TestWriteNames(t *testing.T) {
	long := strings.Repeat("n", 255)
	checkRoundTrip(t, []WriterFile{{Name: long}, {Name: "a/./b"}, {Name: ".hidden/x..y"}, {Name: "ok:name"}}, WriteOptions{})
	for _, tc := range []struct{ name, want string }{
		{"", "empty name"},
		{"/etc/passwd", "absolute name"},
		{"..", `".." component`},
		{"a/../../b", `".." component`},
		{"a/..", `".." component`},
		{"a\x00b", "NUL"},
		{long + "n", "256 bytes (max 255)"},
		{strings.Repeat("ü", 128), "256 bytes (max 255)"},
		{"C:/Windows/x", "drive letter"},
		{`dir\file`, "backslash"},
		{"dir/", "does not name a file"},
		{".", "does not name a file"},
		{"\xffbad", "not valid UTF-8"},
	} {
		files := []WriterFile{{Name: "fine"}, {Name: tc.name, Data: []byte("x")}}
		err := Write(io.Discard, files, WriteOptions{})
		if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), tc.want) ||
			!strings.Contains(err.Error(), fmt.Sprintf("file 1 %q", tc.name)) {
			t.Errorf("name %q: %v; want ErrInvalidName naming file 1 and %q", tc.name, err, tc.want)
		}
	}
	err := Write(io.Discard, []WriterFile{{Name: "a/b"}, {Name: "c"}, {Name: "a/b"}}, WriteOptions{})
	if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), `file 2 "a/b"`) || !strings.Contains(err.Error(), "same name as file 0") {
		t.Errorf("duplicate name: %v", err)
	}
}

// FuzzEncodeName checks that the writer accepts exactly the names the reader returns
// unchanged.
func FuzzEncodeName(f *testing.F) {
	for _, s := range []string{"a", "a/b", "/a", "a/../b", "..", "C:x", `a\b`, "dir/", ".", "./", "ü/ß", "a//b", "\xff", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		raw, isUTF, err := encodeName(name)
		if err == nil {
			if strings.Contains(raw, "/") {
				t.Fatalf("encodeName(%q) = %q keeps a slash", name, raw)
			}
			back, derr := decodeName([]byte(raw), isUTF)
			if derr != nil || back != name {
				t.Fatalf("encodeName(%q) = %q, %v; reader returns %q, %v", name, raw, isUTF, back, derr)
			}
			return
		}
		if !errors.Is(err, ErrInvalidName) {
			t.Fatalf("encodeName(%q): %v does not wrap ErrInvalidName", name, err)
		}
		// A name the writer rejects must not be one the reader would return unchanged
		// (names over 255 bytes cannot be stored at all).
		if utf8Name := strings.ReplaceAll(name, "/", `\`); len(name) < maxNameLen && !strings.Contains(name, `\`) {
			if back, derr := decodeName([]byte(utf8Name), true); derr == nil && back == name {
				t.Fatalf("encodeName(%q) rejects a name the reader accepts: %v", name, err)
			}
		}
	})
}

func TestWriteLimits(t *testing.T) {
	t.Run("too-many-files", func(t *testing.T) {
		err := Write(io.Discard, make([]WriterFile, maxWriteFiles+1), WriteOptions{})
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "65536 files") {
			t.Errorf("65,536 files: %v, want ErrLimit", err)
		}
	})
	t.Run("max-files", func(t *testing.T) {
		files := make([]WriterFile, maxWriteFiles)
		for i := range files {
			files[i] = WriterFile{Name: fmt.Sprintf("f%05d", i), Data: []byte{byte(i)}, Modified: when}
		}
		checkRoundTrip(t, files, WriteOptions{})
	})
	t.Run("too-much-data", func(t *testing.T) {
		chunk := make([]byte, 64<<20) // shared by every file: nothing is compressed
		files := make([]WriterFile, 40)
		for i := range files {
			files[i] = WriterFile{Name: fmt.Sprint(i), Data: chunk}
		}
		err := Write(io.Discard, files, WriteOptions{})
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "file 31 ") {
			t.Errorf("2.5 GiB: %v, want ErrLimit at file 31", err)
		}
	})
}

func TestWriteOptionsErrors(t *testing.T) {
	files := []WriterFile{{Name: "a", Data: []byte("a")}}
	for _, tc := range []struct {
		opts WriteOptions
		want string
	}{
		{WriteOptions{Compression: "LZX"}, `unknown compression "LZX"`},
		{WriteOptions{Level: 10}, "invalid MSZIP level 10"},
		{WriteOptions{Level: -3}, "invalid MSZIP level -3"},
	} {
		if err := Write(io.Discard, files, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.opts, err, tc.want)
		}
	}
	// The level is irrelevant without compression.
	if err := Write(io.Discard, files, WriteOptions{Compression: "none", Level: 42}); err != nil {
		t.Errorf("none with level 42: %v", err)
	}
}

type failWriter struct{ n int }

var errDiskFull = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n--; w.n < 0 {
		return 0, errDiskFull
	}
	return len(p), nil
}

func TestWriteOutputError(t *testing.T) {
	files := []WriterFile{{Name: "a", Data: testText}}
	for n, want := range []string{"header and file table", "CFDATA blocks"} {
		err := Write(&failWriter{n: n}, files, WriteOptions{})
		if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), want) {
			t.Errorf("writer failing after %d writes: %v", n, err)
		}
	}
}

func TestDosDateTime(t *testing.T) {
	for _, tc := range []struct {
		in, want time.Time
	}{
		{time.Time{}, dosEpoch},
		{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), dosEpoch},
		{time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), dosLast},
		{time.Date(2024, 11, 22, 0, 2, 29, 999, time.UTC), time.Date(2024, 11, 22, 0, 2, 28, 0, time.UTC)},
		{time.Date(2024, 2, 29, 23, 59, 59, 0, time.FixedZone("CET", 3600)), time.Date(2024, 2, 29, 22, 59, 58, 0, time.UTC)},
		{dosLast, dosLast},
	} {
		d, tm := dosDateTime(tc.in)
		if got := dosTime(d, tm); !got.Equal(tc.want) {
			t.Errorf("dosDateTime(%v) reads back as %v, want %v", tc.in, got, tc.want)
		}
	}
}

func BenchmarkWriteNov(b *testing.B) {
	files, _ := novFiles(b)
	var total int64
	for _, f := range files {
		total += int64(len(f.Data))
	}
	b.SetBytes(total)
	for b.Loop() {
		if err := Write(io.Discard, files, WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// expandTokens replays LZ77 tokens after dict and returns the bytes they produce.
func expandTokens(tb testing.TB, dict []byte, toks []token) []byte {
	tb.Helper()
	out := slices.Clone(dict)
	for i, tk := range toks {
		if tk&tokMatch == 0 {
			out = append(out, byte(tk))
			continue
		}
		length, dist := int(tk>>16)&0x1FF, int(tk&0xFFFF)+1
		if dist > len(out) || length < 3 || length > 258 {
			tb.Fatalf("token %d: match of %d bytes at distance %d after %d bytes", i, length, dist, len(out))
		}
		for range length {
			out = append(out, out[len(out)-dist])
		}
	}
	return out[len(dict):]
}

// vendorCerts returns the concatenated vendor certificates from testdata.
func vendorCerts(tb testing.TB) []byte {
	tb.Helper()
	dir := testutil.Testdata("tpm-vendor-certs")
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var all []byte
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// scannerInputs are the blocks (with their dictionaries) the scanner tests compress.
func scannerInputs(tb testing.TB) map[string][2][]byte {
	certs := vendorCerts(tb)
	if len(certs) < 2*maxBlockUncomp {
		tb.Fatalf("vendor certificates: only %d bytes", len(certs))
	}
	return map[string][2][]byte{
		"text":       {nil, testText[:maxBlockUncomp]},
		"text-dict":  {testText[1000 : 1000+maxBlockUncomp], testText[1000+maxBlockUncomp : 1000+2*maxBlockUncomp]},
		"random":     {nil, testRand[:maxBlockUncomp]},
		"periodic":   {nil, periodic(20000, maxBlockUncomp)},
		"zeros":      {nil, make([]byte, maxBlockUncomp)},
		"tiny":       {nil, []byte("ab")},
		"small":      {[]byte("0123456789abcdef"), []byte("abcdef0123456789abcdef 0123456789")},
		"certs-dict": {certs[:maxBlockUncomp], certs[maxBlockUncomp : 2*maxBlockUncomp]},
	}
}

// compressors produce raw DEFLATE streams with a dictionary, as Go's encoders do.
var compressors = map[string]func(dst io.Writer, dict []byte) (io.WriteCloser, error){
	"klauspost-huffman": func(w io.Writer, d []byte) (io.WriteCloser, error) {
		return flate.NewWriterDict(w, flate.HuffmanOnly, d)
	},
	"klauspost-5":      func(w io.Writer, d []byte) (io.WriteCloser, error) { return flate.NewWriterDict(w, 5, d) },
	"klauspost-9":      func(w io.Writer, d []byte) (io.WriteCloser, error) { return flate.NewWriterDict(w, 9, d) },
	"klauspost-stored": func(w io.Writer, d []byte) (io.WriteCloser, error) { return flate.NewWriterDict(w, 0, d) },
	"stdlib-9":         func(w io.Writer, d []byte) (io.WriteCloser, error) { return stdflate.NewWriterDict(w, 9, d) },
	"stdlib-huffman": func(w io.Writer, d []byte) (io.WriteCloser, error) {
		return stdflate.NewWriterDict(w, stdflate.HuffmanOnly, d)
	},
}

// TestDeflateScanner checks the scanner against streams from two independent encoders:
// replaying its tokens after the dictionary must give back the input, and re-encoding them
// with encodeFixed must give a stream both DEFLATE decoders turn into the input.
func TestDeflateScanner(t *testing.T) {
	inputs := scannerInputs(t)
	var scan deflateScanner
	nonStrict := map[string]bool{}
	for _, cname := range sortedKeys(compressors) {
		for _, iname := range sortedKeys(inputs) {
			dict, data := inputs[iname][0], inputs[iname][1]
			var buf bytes.Buffer
			zw, err := compressors[cname](&buf, dict)
			if err != nil {
				t.Fatal(err)
			}
			zw.Write(data)
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			toks, out, strict, err := scan.scan(buf.Bytes(), nil, true)
			if err != nil || out != len(data) {
				t.Errorf("%s/%s: scan: %d bytes (want %d), %v", cname, iname, out, len(data), err)
				continue
			}
			if got := expandTokens(t, dict, toks); !bytes.Equal(got, data) {
				t.Errorf("%s/%s: tokens replay to %d bytes that differ from the %d compressed", cname, iname, len(got), len(data))
			}
			if _, n, strict2, _ := scan.scan(buf.Bytes(), nil, false); n != out || strict2 != strict {
				t.Errorf("%s/%s: scanning without tokens gives %d bytes, strict %v; with tokens %d, %v", cname, iname, n, strict2, out, strict)
			}
			if !strict {
				nonStrict[cname+"/"+iname] = true
			}

			var fixed bytes.Buffer
			encodeFixed(&fixed, toks)
			if _, n, strict, err := scan.scan(fixed.Bytes(), nil, false); err != nil || n != len(data) || !strict {
				t.Errorf("%s/%s: fixed re-encoding scans as %d bytes, strict %v, %v", cname, iname, n, strict, err)
			}
			for rname, r := range map[string]io.ReadCloser{
				"klauspost": flate.NewReaderDict(bytes.NewReader(fixed.Bytes()), dict),
				"stdlib":    stdflate.NewReaderDict(bytes.NewReader(fixed.Bytes()), dict),
			} {
				got, err := io.ReadAll(r)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("%s/%s: %s inflates the fixed re-encoding to %d bytes (want %d), %v", cname, iname, rname, len(got), len(data), err)
				}
			}
		}
	}
	// Go's encoders give Huffman-only blocks and blocks with one distance code an
	// incomplete distance code: exactly what the writer must not emit.
	for _, want := range []string{"klauspost-huffman/text", "stdlib-huffman/certs-dict", "klauspost-5/zeros", "klauspost-5/text-dict", "stdlib-9/zeros"} {
		if !nonStrict[want] {
			t.Errorf("%s: scanner finds every code complete", want)
		}
	}
	t.Logf("streams with incomplete codes: %v", sortedKeys(nonStrict))
}

// TestDeflateScannerHostile feeds the scanner damaged streams: it must report errors, not
// panic or loop.
func TestDeflateScannerHostile(t *testing.T) {
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, 9)
	zw.Write(testText[:maxBlockUncomp])
	zw.Close()
	good := buf.Bytes()
	var scan deflateScanner
	for n := 0; n < len(good)-1; n += 1 + n/8 {
		if _, _, _, err := scan.scan(good[:n], nil, true); err == nil {
			t.Errorf("stream truncated to %d of %d bytes: no error", n, len(good))
		}
	}
	for _, bad := range [][]byte{
		{0x07},                         // block type 3
		{0x01, 0x05, 0x00, 0x00, 0x00}, // stored length check fails
		{0x01, 0x05, 0x00, 0xfa, 0xff}, // stored data truncated
		{0x05, 0xff, 0xff, 0xff},       // dynamic header with too many codes
	} {
		if _, _, _, err := scan.scan(bad, nil, true); err == nil {
			t.Errorf("%x: no error", bad)
		}
	}
}

func FuzzDeflateScan(f *testing.F) {
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, 5)
	zw.Write(testText[:3000])
	zw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte{0x01, 0x01, 0x00, 0xfe, 0xff, 'x'})
	f.Fuzz(func(t *testing.T, data []byte) {
		var scan deflateScanner
		toks, out, _, err := scan.scan(data, nil, true)
		if err == nil && len(toks) > out {
			t.Fatalf("%d tokens for %d bytes", len(toks), out)
		}
	})
}
