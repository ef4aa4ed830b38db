package cab

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

// openFile opens a cabinet on disk with the default limits.
func openFile(tb testing.TB, path string) *Cabinet {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	c, err := Open(f, st.Size(), DefaultLimits())
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	return c
}

func openBytes(b []byte, lim Limits) (*Cabinet, error) {
	return Open(bytes.NewReader(b), int64(len(b)), lim)
}

// walkAll opens and walks b, returning the first error from either step.
func walkAll(b []byte, lim Limits) (map[string][]byte, error) {
	c, err := openBytes(b, lim)
	if err != nil {
		return nil, err
	}
	return c.ReadAll(context.Background())
}

// cabextract extracts path into a new directory and returns the files it wrote, keyed by
// slash-separated relative name.
func cabextract(tb testing.TB, path string) map[string][]byte {
	tb.Helper()
	tool := testutil.RequireTool(tb, "cabextract")
	dir := fastTempDir(tb)
	out, err := exec.Command(tool, "-q", "-d", dir, path).CombinedOutput()
	if err != nil {
		tb.Fatalf("cabextract %s: %v\n%s", path, err, out)
	}
	files := map[string][]byte{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

// fastTempDir returns a temporary directory on tmpfs when available: writing thousands of
// small files to some disks takes seconds.
func fastTempDir(tb testing.TB) string {
	tb.Helper()
	if d, err := os.MkdirTemp("/dev/shm", "cabtest"); err == nil {
		tb.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	return tb.TempDir()
}

func TestRealCabsMatchCabextract(t *testing.T) {
	for _, tc := range []struct {
		path    string
		members int
	}{
		{testutil.JunCab, 1977},
		{testutil.NovCab, 2193},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			want := cabextract(t, tc.path)
			c := openFile(t, tc.path)
			h := c.Header()
			if h.NumFiles != tc.members || len(c.Members()) != tc.members {
				t.Fatalf("members: header %d, table %d, want %d", h.NumFiles, len(c.Members()), tc.members)
			}
			if h.Flags != FlagReservePresent || len(h.Reserve) != 20 || h.NumFolders != 1 {
				t.Errorf("header: flags %#x, reserve %d bytes, %d folders", h.Flags, len(h.Reserve), h.NumFolders)
			}
			if f := c.Folders(); len(f) != 1 || f[0].Compression != "MSZIP" {
				t.Errorf("folders: %+v", f)
			}
			st, _ := os.Stat(tc.path)
			tr := c.Trailer()
			if tr.Size() != st.Size()-int64(h.Size) || tr.Size() == 0 {
				t.Errorf("trailer: %d bytes, file %d, cbCabinet %d", tr.Size(), st.Size(), h.Size)
			}
			var first [1]byte
			if _, err := tr.ReadAt(first[:], 0); err != nil || first[0] != 0x30 {
				t.Errorf("trailer does not start with a DER SEQUENCE: %x %v", first, err)
			}

			seen := 0
			var prevFolder int
			var prevOff int64 = -1
			err := c.Walk(context.Background(), func(m Member, r io.Reader) error {
				if m.Folder < prevFolder || (m.Folder == prevFolder && m.Offset < prevOff) {
					t.Errorf("member %d %q out of order", m.Index, m.Name)
				}
				prevFolder, prevOff = m.Folder, m.Offset
				got, err := io.ReadAll(r)
				if err != nil {
					return err
				}
				exp, ok := want[m.Name]
				if !ok {
					t.Errorf("member %q: not extracted by cabextract", m.Name)
				} else if !bytes.Equal(got, exp) {
					t.Errorf("member %q: %d bytes differ from cabextract's %d", m.Name, len(got), len(exp))
				}
				if int64(len(got)) != m.Size {
					t.Errorf("member %q: got %d bytes, want %d", m.Name, len(got), m.Size)
				}
				if m.Modified.IsZero() || m.Modified.Year() < 2000 {
					t.Errorf("member %q: modified %v", m.Name, m.Modified)
				}
				seen++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if seen != tc.members || len(want) != tc.members {
				t.Errorf("walked %d members, cabextract wrote %d files, want %d", seen, len(want), tc.members)
			}
		})
	}
}

func TestReadAllReal(t *testing.T) {
	c := openFile(t, testutil.NovCab)
	all, err := c.ReadAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2193 {
		t.Fatalf("ReadAll: %d members", len(all))
	}
	v, ok := all["version.txt"]
	if !ok || !bytes.Contains(v, []byte("21-November-2024")) {
		t.Errorf("version.txt: present %v, %q", ok, v[:min(len(v), 80)])
	}
	for _, m := range c.Members() {
		if strings.Contains(m.Name, `\`) {
			t.Errorf("name %q keeps a backslash", m.Name)
		}
	}
}

// writeTree writes files (slash-separated names) below dir.
func writeTree(tb testing.TB, dir string, files map[string][]byte) {
	tb.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func synthFiles() map[string][]byte {
	files := map[string][]byte{
		"empty":                  {},
		"top.txt":                []byte("hello, cabinet\r\n"),
		"dir/sub/deeper/a.bin":   randBytes(40000),                                     // > 32 KiB, incompressible
		"dir/sub/big.bin":        randBytes(100000),                                    // > 64 KiB, spans 4 blocks
		"dir/text.txt":           bytes.Repeat([]byte("the quick brown fox\n"), 10000), // compressible, 200 KB
		"dir/another empty file": {},
	}
	for i := range 300 {
		files[fmt.Sprintf("many/f%03d.cer", i)] = []byte(strings.Repeat(fmt.Sprintf("cert %d\n", i), i%37))
	}
	return files
}

func TestGcabRoundTrip(t *testing.T) {
	gcab := testutil.RequireTool(t, "gcab")
	files := synthFiles()
	dir := fastTempDir(t)
	writeTree(t, dir, files)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	for _, zip := range []bool{false, true} {
		t.Run(fmt.Sprintf("zip=%v", zip), func(t *testing.T) {
			out := filepath.Join(fastTempDir(t), "out.cab")
			args := []string{"-c"}
			if zip {
				args = append(args, "-z")
			}
			args = append(args, out)
			args = append(args, names...)
			cmd := exec.Command(gcab, args...)
			cmd.Dir = dir
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("gcab: %v\n%s", err, b)
			}
			c := openFile(t, out)
			wantComp := "none"
			if zip {
				wantComp = "MSZIP"
			}
			if f := c.Folders(); len(f) != 1 || f[0].Compression != wantComp {
				t.Errorf("folders: %+v", f)
			}
			got, err := c.ReadAll(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(files) {
				t.Errorf("got %d members, want %d", len(got), len(files))
			}
			for n, want := range files {
				if !bytes.Equal(got[n], want) {
					t.Errorf("%q: %d bytes, want %d", n, len(got[n]), len(want))
				}
			}
		})
	}
	t.Run("only-empty", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "e.cab")
		cmd := exec.Command(gcab, "-c", "-z", out, "empty")
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gcab: %v\n%s", err, b)
		}
		got, err := openFile(t, out).ReadAll(context.Background())
		if err != nil || len(got) != 1 || len(got["empty"]) != 0 {
			t.Fatalf("got %v, %v", got, err)
		}
	})
}

func TestMultiFolder(t *testing.T) {
	big := randBytes(70000)
	text := bytes.Repeat([]byte("0123456789abcdef"), 9000)
	spec := &tCab{
		flags:         FlagReservePresent,
		hdrReserve:    []byte("header-reserve-bytes"),
		folderReserve: 3,
		dataReserve:   5,
		folders: []tFolder{
			{comp: CompressNone},
			{comp: CompressMSZIP},
			{comp: CompressMSZIP, blockSize: 4000}, // small blocks: dictionary spans blocks
			{comp: CompressMSZIP},                  // only empty members: no blocks
		},
		files: []tFile{
			{name: `f0\big`, data: big, folder: 0},
			{name: `f1\text`, data: text, folder: 1},
			{name: `f0\small`, data: []byte("small"), folder: 0},
			{name: `f2\text`, data: text, folder: 2},
			{name: `f2\big`, data: big, folder: 2},
			{name: `f1\empty`, data: nil, folder: 1},
			{name: `f3\empty`, data: nil, folder: 3},
			{name: `f1\big`, data: big, folder: 1},
		},
	}
	b, _ := spec.build(t)
	c, err := openBytes(b, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if got := string(c.Header().Reserve); got != "header-reserve-bytes" {
		t.Errorf("reserve %q", got)
	}
	fs := c.Folders()
	if len(fs) != 4 || fs[2].NumBlocks != 54 || fs[3].NumBlocks != 0 || fs[0].Compression != "none" || len(fs[1].Reserve) != 3 {
		t.Errorf("folders: %+v", fs)
	}
	var order []string
	got := map[string][]byte{}
	err = c.Walk(context.Background(), func(m Member, r io.Reader) error {
		order = append(order, m.Name)
		data, err := io.ReadAll(r)
		got[m.Name] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantOrder := "f0/big f0/small f1/text f1/empty f1/big f2/text f2/big f3/empty"
	if strings.Join(order, " ") != wantOrder {
		t.Errorf("order %v, want %v", order, wantOrder)
	}
	for _, f := range spec.files {
		name := strings.ReplaceAll(f.name, `\`, "/")
		if !bytes.Equal(got[name], f.data) {
			t.Errorf("%s: %d bytes, want %d", name, len(got[name]), len(f.data))
		}
	}
}

func TestOverlappingMembers(t *testing.T) {
	stream := randBytes(200000)
	type rng struct{ off, size uint32 }
	ranges := []rng{
		{0, 100}, {50, 100}, {50, 10}, {0, 200}, {10, 20}, // heavy overlap in one block
		{1000, 100000}, {5000, 3}, {90000, 50000}, {100999, 1}, {100999, 0}, // across blocks
		{150000, 50000}, {150000, 50000}, {199999, 1}, {200000, 0}, // shared ranges, end of folder
	}
	for _, comp := range []uint16{CompressNone, CompressMSZIP} {
		for _, consume := range []bool{true, false} {
			spec := &tCab{folders: []tFolder{{comp: comp, blockSize: 7000}}}
			spec.files = append(spec.files, tFile{name: "stream", data: stream})
			for i, r := range ranges {
				spec.files = append(spec.files, tFile{
					name: fmt.Sprintf("r%02d", i), noAppend: true,
					offset: u32p(r.off), size: u32p(r.size),
				})
			}
			b, _ := spec.build(t)
			c, err := openBytes(b, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			err = c.Walk(context.Background(), func(m Member, r io.Reader) error {
				n++
				if !consume && n%2 == 0 {
					return nil // leave every other member unread
				}
				got, err := io.ReadAll(r)
				if err != nil {
					return err
				}
				if want := stream[m.Offset : m.Offset+m.Size]; !bytes.Equal(got, want) {
					t.Errorf("comp %d consume %v: member %q [%d,+%d): wrong bytes", comp, consume, m.Name, m.Offset, m.Size)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != len(spec.files) {
				t.Errorf("walked %d of %d", n, len(spec.files))
			}
		}
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		raw   string
		utf8  bool
		want  string
		isErr bool
	}{
		{`a\b\c.cer`, false, "a/b/c.cer", false},
		{"caf\xe9.txt", false, "café.txt", false},
		{"café.txt", true, "café.txt", false},
		{"caf\xe9.txt", true, "", true},
		{`..\evil`, false, "", true},
		{`a\..\..\evil`, false, "", true},
		{`a\..`, false, "", true},
		{`\abs`, false, "", true},
		{`/abs`, false, "", true},
		{`C:\Windows\x`, false, "", true},
		{`a..b\...\c..`, false, "a..b/.../c..", false},
		{`dir\`, false, "", true},
		{`.`, false, "", true},
		{`.\.`, false, "", true},
		{`.\x`, false, "./x", false},
	} {
		spec := &tCab{folders: []tFolder{{comp: CompressMSZIP}}, files: []tFile{{rawName: []byte(tc.raw), data: []byte("x")}}}
		if tc.utf8 {
			spec.files[0].attrs = AttrNameIsUTF
		}
		b, _ := spec.build(t)
		c, err := openBytes(b, DefaultLimits())
		switch {
		case tc.isErr:
			if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "member 0") {
				t.Errorf("%q: err = %v, want ErrCorrupt naming member 0", tc.raw, err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.raw, err)
		case c.Members()[0].Name != tc.want:
			t.Errorf("%q: name %q, want %q", tc.raw, c.Members()[0].Name, tc.want)
		}
	}
	// A NUL cannot be part of a name (it terminates it), and an empty name is rejected.
	spec := &tCab{folders: []tFolder{{}}, files: []tFile{{rawName: []byte{}, data: []byte("x")}}}
	b, _ := spec.build(t)
	if _, err := openBytes(b, DefaultLimits()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("empty name: %v", err)
	}
	// A name without its NUL within 256 bytes.
	spec = &tCab{folders: []tFolder{{}}, files: []tFile{{rawName: bytes.Repeat([]byte("a"), 300), data: []byte("x")}}}
	b, _ = spec.build(t)
	if _, err := openBytes(b, DefaultLimits()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("long name: %v", err)
	}
}

func TestReaderExpires(t *testing.T) {
	spec := &tCab{folders: []tFolder{{comp: CompressMSZIP}}, files: []tFile{{name: "a", data: []byte("aaaa")}, {name: "b", data: []byte("bbbb")}}}
	b, _ := spec.build(t)
	c, err := openBytes(b, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	var kept io.Reader
	if err := c.Walk(context.Background(), func(m Member, r io.Reader) error {
		if kept == nil {
			kept = r
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := kept.Read(make([]byte, 4)); err == nil {
		t.Error("reading an expired member reader succeeded")
	}
	// Errors from fn are returned as is.
	sentinel := errors.New("stop here")
	if err := c.Walk(context.Background(), func(Member, io.Reader) error { return sentinel }); err != sentinel {
		t.Errorf("Walk returned %v, want the callback's error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Walk(ctx, func(Member, io.Reader) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Walk returned %v", err)
	}
	// Cancellation while reading a member stops decompression.
	ctx, cancel = context.WithCancel(context.Background())
	err = c.Walk(ctx, func(m Member, r io.Reader) error {
		cancel()
		_, err := io.ReadAll(r)
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Walk cancelled mid-member returned %v", err)
	}
}

func TestDosTime(t *testing.T) {
	c := openFile(t, testutil.NovCab)
	m := c.Members()[0]
	if m.Name != "setup.cmd" || m.Modified.Location().String() != "UTC" || m.Modified.Year() != 2024 {
		t.Errorf("first member %q modified %v", m.Name, m.Modified)
	}
	if !dosTime(0, 0).IsZero() || !dosTime(0x5a5e /* Feb 30 */, 0).IsZero() {
		t.Error("invalid DOS dates should give the zero time")
	}
}

func TestConcurrentWalk(t *testing.T) {
	files := synthFiles()
	spec := &tCab{folders: []tFolder{{comp: CompressMSZIP}, {comp: CompressNone}}}
	i := 0
	for n, d := range files {
		spec.files = append(spec.files, tFile{name: n, data: d, folder: uint16(i % 2)})
		i++
	}
	b, _ := spec.build(t)
	c, err := openBytes(b, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			got, err := c.ReadAll(context.Background())
			if err == nil && len(got) != len(files) {
				err = fmt.Errorf("%d members", len(got))
			}
			for n, d := range files {
				if err == nil && !bytes.Equal(got[n], d) {
					err = fmt.Errorf("%s differs", n)
				}
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
