package cab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"testing"

	"github.com/mholt/archives"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

func TestIdentify(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"TrustedTpm.cab", ""} {
		f, err := os.Open(testutil.NovCab)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		format, _, err := archives.Identify(ctx, name, f)
		if err != nil {
			t.Fatalf("Identify(%q): %v", name, err)
		}
		if _, ok := format.(Format); !ok {
			t.Errorf("Identify(%q) = %T, want cab.Format", name, format)
		}
		// A non-seekable stream is identified too.
		data, _ := os.ReadFile(testutil.NovCab)
		format, _, err = archives.Identify(ctx, name, io.MultiReader(bytes.NewReader(data)))
		if _, ok := format.(Format); !ok || err != nil {
			t.Errorf("Identify(%q, stream) = %T, %v", name, format, err)
		}
	}
	mr, _ := Format{}.Match(ctx, "x.CAB", bytes.NewReader([]byte("PK")))
	if !mr.ByName || mr.ByStream {
		t.Errorf("Match(x.CAB, PK) = %v", mr)
	}
	if (Format{}).Extension() != ".cab" || (Format{}).MediaType() != "application/vnd.ms-cab-compressed" {
		t.Error("extension or media type")
	}
}

// digests returns name → SHA-256 of every member, via Walk.
func digests(t *testing.T, c *Cabinet) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := c.Walk(context.Background(), func(m Member, r io.Reader) error {
		b, err := io.ReadAll(r)
		out[m.Name] = sha256.Sum256(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExtract(t *testing.T) {
	want := digests(t, openFile(t, testutil.NovCab))
	data, err := os.ReadFile(testutil.NovCab)
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string]func() io.Reader{
		"file":   func() io.Reader { f, _ := os.Open(testutil.NovCab); t.Cleanup(func() { f.Close() }); return f },
		"stream": func() io.Reader { return io.MultiReader(bytes.NewReader(data)) },
	}
	for name, input := range inputs {
		t.Run(name, func(t *testing.T) {
			got := map[string][32]byte{}
			err := Format{}.Extract(context.Background(), input(), func(ctx context.Context, fi archives.FileInfo) error {
				if fi.IsDir() || fi.Name() == "" || fi.NameInArchive == "" {
					t.Errorf("bad FileInfo %+v", fi)
				}
				f, err := fi.Open()
				if err != nil {
					return err
				}
				defer f.Close()
				b, err := io.ReadAll(f)
				if int64(len(b)) != fi.Size() {
					t.Errorf("%s: %d bytes, FileInfo says %d", fi.NameInArchive, len(b), fi.Size())
				}
				got[fi.NameInArchive] = sha256.Sum256(b)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("extracted %d members, want %d", len(got), len(want))
			}
			for n, d := range want {
				if got[n] != d {
					t.Errorf("%s: content differs", n)
				}
			}
		})
	}
	// Limits apply to buffered streams.
	err = Format{Limits: Limits{MaxTotalSize: 1 << 10, MaxMembers: 10, MaxFolders: 1}}.Extract(context.Background(),
		io.MultiReader(bytes.NewReader(data)), func(context.Context, archives.FileInfo) error { return nil })
	if !errors.Is(err, ErrLimit) {
		t.Errorf("small limits: %v", err)
	}
	// fs.SkipAll stops quietly; other handler errors are returned.
	n := 0
	err = Format{}.Extract(context.Background(), bytes.NewReader(data), func(context.Context, archives.FileInfo) error {
		n++
		return fs.SkipAll
	})
	if err != nil || n != 1 {
		t.Errorf("SkipAll: %d calls, %v", n, err)
	}
	boom := errors.New("boom")
	err = Format{}.Extract(context.Background(), bytes.NewReader(data), func(context.Context, archives.FileInfo) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("handler error: %v", err)
	}
	// fs.SkipDir skips the rest of the member's directory.
	var names []string
	err = Format{}.Extract(context.Background(), bytes.NewReader(data), func(ctx context.Context, fi archives.FileInfo) error {
		names = append(names, fi.NameInArchive)
		if fi.NameInArchive == "Intel/IntermediateCA/"+fi.Name() {
			return fs.SkipDir
		}
		return nil
	})
	intel := 0
	for _, n := range names {
		if len(n) > 21 && n[:21] == "Intel/IntermediateCA/" {
			intel++
		}
	}
	if err != nil || intel != 1 {
		t.Errorf("SkipDir: %d Intel intermediates seen, %v", intel, err)
	}
}

func TestFileSystem(t *testing.T) {
	ctx := context.Background()
	fsys, err := archives.FileSystem(ctx, testutil.NovCab, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fsys.(*archives.ArchiveFS); !ok {
		t.Fatalf("FileSystem = %T, want *archives.ArchiveFS", fsys)
	}
	files := 0
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
		}
		return err
	})
	if err != nil || files != 2193 {
		t.Fatalf("WalkDir: %d files, %v", files, err)
	}
	all, err := openFile(t, testutil.NovCab).ReadAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// ArchiveFS.Open reads the file after Extract has returned.
	for _, name := range []string{"version.txt", "setup.cmd", "Intel/RootCA/" + firstIn(t, all, "Intel/RootCA/")} {
		b, err := fs.ReadFile(fsys, name)
		if err != nil || !bytes.Equal(b, all[name]) {
			t.Errorf("ReadFile(%q): %d bytes, %v", name, len(b), err)
		}
	}
	// Stream-backed file system.
	f, err := os.Open(testutil.NovCab)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sfs, err := archives.FileSystem(ctx, "", f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(sfs, "version.txt")
	if err != nil || !bytes.Equal(b, all["version.txt"]) {
		t.Errorf("stream ReadFile: %v", err)
	}
}

func firstIn(t *testing.T, all map[string][]byte, dir string) string {
	for n := range all {
		if len(n) > len(dir) && n[:len(dir)] == dir {
			return n[len(dir):]
		}
	}
	t.Fatalf("no member in %s", dir)
	return ""
}
