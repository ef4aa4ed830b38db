package cab

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

var le = binary.LittleEndian

// wantErr fails unless err wraps target and mentions every string in parts.
func wantErr(t *testing.T, what string, err, target error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %v", what, target)
		return
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("%s: error %q does not wrap %q", what, err, target)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not mention %q", what, err, p)
		}
	}
}

func TestTruncated(t *testing.T) {
	real := testutil.ReadTestdata(t, "trustedtpm", "TrustedTpm-2024-11-21.cab")
	cabSize := int(le.Uint32(real[8:]))
	var cuts []int
	for i := 0; i < 5000; i += 3 {
		cuts = append(cuts, i)
	}
	for i := 5000; i < cabSize; i += 9973 {
		cuts = append(cuts, i)
	}
	cuts = append(cuts, cabSize-1)
	for _, n := range cuts {
		// Plain truncation: the file is shorter than cbCabinet.
		_, err := openBytes(real[:n], DefaultLimits())
		if n < 4 {
			wantErr(t, "truncated", err, ErrNotCab)
		} else {
			wantErr(t, "truncated", err, ErrTruncated)
		}
		// Truncation with cbCabinet patched to match: the tables or the block chain run out.
		if n >= 12 {
			b := bytes.Clone(real[:n])
			le.PutUint32(b[8:], uint32(n))
			if _, err := walkAll(b, DefaultLimits()); err == nil {
				t.Errorf("cut at %d with cbCabinet patched: no error", n)
			}
		}
	}
	// A cut exactly at cbCabinet drops only the signature: still a valid cabinet.
	c, err := openBytes(real[:cabSize], DefaultLimits())
	if err != nil || c.Trailer().Size() != 0 {
		t.Errorf("cut at cbCabinet: %v", err)
	}
}

func TestCorruptData(t *testing.T) {
	real := testutil.ReadTestdata(t, "trustedtpm", "TrustedTpm-2024-11-21.cab")
	dataOff := int(le.Uint32(real[0x3c:])) // first CFFOLDER's coffCabStart
	// Find block 3's header by following cbData.
	pos := dataOff
	for range 3 {
		pos += 8 + int(le.Uint16(real[pos+4:]))
	}
	t.Run("flipped data byte", func(t *testing.T) {
		b := bytes.Clone(real)
		b[pos+100] ^= 0x10
		_, err := walkAll(b, DefaultLimits())
		wantErr(t, "flip", err, ErrChecksum, "folder 0 block 3")
	})
	t.Run("wrong checksum", func(t *testing.T) {
		b := bytes.Clone(real)
		b[pos] ^= 1
		_, err := walkAll(b, DefaultLimits())
		wantErr(t, "csum", err, ErrChecksum, "folder 0 block 3")
	})
	t.Run("flipped byte without checksum", func(t *testing.T) {
		// With csum = 0 nothing detects a flip but the decoder: it must fail or deliver
		// data, never panic or overrun.
		var tb bytes.Buffer
		for i := range 2500 {
			fmt.Fprintf(&tb, "line %d: MIIFQzCCAyugAwIBAgIQ %x\n", i, i*i*7919)
		}
		text := tb.Bytes()
		spec := &tCab{noChecksum: true, folders: []tFolder{{comp: CompressMSZIP}},
			files: []tFile{{name: "a", data: text[:70000]}, {name: "b", data: text[70000:]}}}
		good, lay := spec.build(t)
		for _, off := range lay.blockOffs[0] {
			for i := 8; i < 400 && off+i < len(good); i += 29 {
				b := bytes.Clone(good)
				b[off+i] ^= 0xA5
				_, _ = walkAll(b, DefaultLimits())
			}
		}
	})
	t.Run("missing CK", func(t *testing.T) {
		spec := &tCab{folders: []tFolder{{comp: CompressMSZIP}}, files: []tFile{{name: "a", data: []byte("hello")}}}
		b, lay := spec.build(t)
		b[lay.blockOffs[0][0]+8] = 'X'
		le.PutUint32(b[lay.blockOffs[0][0]:], 0)
		_, err := walkAll(b, DefaultLimits())
		wantErr(t, "CK", err, ErrCorrupt, "folder 0 block 0", "CK")
	})
}

func TestHeaderHostile(t *testing.T) {
	base := &tCab{folders: []tFolder{{comp: CompressMSZIP}}, files: []tFile{{name: "a", data: []byte("hello")}}}
	good, lay := base.build(t)

	_, err := openBytes([]byte("PK\x03\x04 definitely not a cab, but long enough to have a header"), DefaultLimits())
	wantErr(t, "zip", err, ErrNotCab)
	_, err = openBytes(nil, DefaultLimits())
	wantErr(t, "empty", err, ErrNotCab)

	b := bytes.Clone(good)
	le.PutUint32(b[8:], 0xFFFFFFF0)
	_, err = openBytes(b, DefaultLimits())
	wantErr(t, "huge cbCabinet", err, ErrTruncated, "cbCabinet")

	b = bytes.Clone(good)
	le.PutUint32(b[8:], 20)
	_, err = openBytes(b, DefaultLimits())
	wantErr(t, "tiny cbCabinet", err, ErrCorrupt)

	for _, fl := range []uint16{FlagPrevCabinet, FlagNextCabinet} {
		b = bytes.Clone(good)
		le.PutUint16(b[30:], fl)
		_, err = openBytes(b, DefaultLimits())
		wantErr(t, "multi-cabinet flag", err, ErrMultiCabinet)
	}

	// cFiles = 65535 in a tiny file.
	b = bytes.Clone(good)
	le.PutUint16(b[28:], 0xFFFF)
	_, err = openBytes(b, DefaultLimits())
	wantErr(t, "cFiles 65535", err, ErrLimit, "65535 members")
	_, err = openBytes(b, Limits{MaxMembers: 1 << 20})
	wantErr(t, "cFiles 65535, high limit", err, ErrTruncated, "file table")

	// cFolders huge.
	b = bytes.Clone(good)
	le.PutUint16(b[26:], 0xFFFF)
	_, err = openBytes(b, DefaultLimits())
	wantErr(t, "cFolders", err, ErrLimit, "folders")
	_, err = openBytes(b, Limits{MaxFolders: 1 << 20})
	wantErr(t, "cFolders, high limit", err, ErrTruncated, "folder table")

	// coffFiles pointing into the header, or past the end.
	b = bytes.Clone(good)
	le.PutUint32(b[16:], 4)
	_, err = openBytes(b, DefaultLimits())
	wantErr(t, "coffFiles low", err, ErrCorrupt, "coffFiles")
	b = bytes.Clone(good)
	le.PutUint32(b[16:], uint32(len(b)-3))
	_, err = openBytes(b, DefaultLimits())
	wantErr(t, "coffFiles high", err, ErrTruncated)

	// Reserve sizes beyond the file.
	b = bytes.Clone(good)
	le.PutUint16(b[30:], FlagReservePresent)
	_, err = openBytes(b, DefaultLimits())
	if err == nil {
		t.Error("bogus reserve: no error")
	}

	// cCFData huge / data offset out of range / inside the tables.
	folder := lay.foldersOff
	b = bytes.Clone(good)
	le.PutUint16(b[folder+4:], 0xFFFF)
	_, err = openBytes(b, DefaultLimits())
	wantErr(t, "cCFData", err, ErrTruncated, "folder 0")
	b = bytes.Clone(good)
	le.PutUint32(b[folder:], 0xFFFFFF00)
	_, err = openBytes(b, DefaultLimits())
	wantErr(t, "coffCabStart", err, ErrTruncated, "folder 0")
	b = bytes.Clone(good)
	le.PutUint32(b[folder:], 0)
	_, err = openBytes(b, DefaultLimits())
	wantErr(t, "coffCabStart 0", err, ErrCorrupt, "folder 0")

	// Member fields.
	file := lay.filesOff
	b = bytes.Clone(good)
	le.PutUint16(b[file+8:], 0xFFFD)
	_, err = openBytes(b, DefaultLimits())
	wantErr(t, "iFolder FFFD", err, ErrMultiCabinet, `member 0 "a"`)
	b = bytes.Clone(good)
	le.PutUint16(b[file+8:], 7)
	_, err = openBytes(b, DefaultLimits())
	wantErr(t, "iFolder 7", err, ErrCorrupt, `member 0 "a"`, "folder 7")
	b = bytes.Clone(good)
	le.PutUint32(b[file:], 6) // one byte more than the folder holds
	_, err = openBytes(b, DefaultLimits())
	wantErr(t, "member past folder", err, ErrCorrupt, `member 0 "a"`)
	b = bytes.Clone(good)
	le.PutUint32(b[file+4:], 0xFFFFFFFF) // offset + size overflow 32 bits
	_, err = openBytes(b, DefaultLimits())
	wantErr(t, "member offset", err, ErrCorrupt, `member 0 "a"`)
	b = bytes.Clone(good)
	le.PutUint32(b[file:], 0xFFFFFFFF)
	_, err = openBytes(b, DefaultLimits())
	wantErr(t, "member size", err, ErrLimit, `member 0 "a"`)
}

func TestBlockHostile(t *testing.T) {
	zeros := make([]byte, 40000)
	deflate := func(data []byte) []byte {
		var buf bytes.Buffer
		buf.WriteString("CK")
		w, _ := flate.NewWriter(&buf, flate.BestCompression)
		w.Write(data)
		w.Close()
		return buf.Bytes()
	}
	one := func(blocks []tBlock, size uint32) []byte {
		spec := &tCab{
			folders: []tFolder{{comp: CompressMSZIP, rawBlocks: blocks}},
			files:   []tFile{{name: "bomb", size: u32p(size), offset: u32p(0), noAppend: true}},
		}
		b, _ := spec.build(t)
		return b
	}
	// A block declaring 32 KiB that inflates to more.
	_, err := walkAll(one([]tBlock{{ab: deflate(zeros), cbUncomp: 32768}}, 32768), DefaultLimits())
	wantErr(t, "bomb block", err, ErrCorrupt, "folder 0 block 0", "more than")
	// A block declaring 1000 bytes that inflates to 32 KiB.
	_, err = walkAll(one([]tBlock{{ab: deflate(zeros[:32768]), cbUncomp: 1000}}, 1000), DefaultLimits())
	wantErr(t, "overlong block", err, ErrCorrupt, "folder 0 block 0")
	// A block inflating to less than it declares.
	_, err = walkAll(one([]tBlock{{ab: deflate(zeros[:100]), cbUncomp: 32768}}, 32768), DefaultLimits())
	wantErr(t, "short block", err, ErrCorrupt, "folder 0 block 0", "inflates to 100")
	// cbUncomp over 32 KiB and 0.
	_, err = walkAll(one([]tBlock{{ab: deflate(zeros[:100]), cbUncomp: 40000}}, 100), DefaultLimits())
	wantErr(t, "cbUncomp 40000", err, ErrCorrupt, "folder 0 block 0")
	_, err = walkAll(one([]tBlock{{ab: deflate(zeros[:100]), cbUncomp: 0}}, 0), DefaultLimits())
	wantErr(t, "cbUncomp 0", err, ErrCorrupt, "folder 0 block 0")
	// A stored block whose cbData differs from cbUncomp.
	spec := &tCab{folders: []tFolder{{comp: CompressNone, rawBlocks: []tBlock{{ab: []byte("abc"), cbUncomp: 4}}}},
		files: []tFile{{name: "x", size: u32p(3), offset: u32p(0), noAppend: true}}}
	b, _ := spec.build(t)
	_, err = walkAll(b, DefaultLimits())
	wantErr(t, "stored size", err, ErrCorrupt, "folder 0 block 0")

	// Many blocks of zeros: 9,000 x 32 KiB = 281 MiB declared, rejected by Open.
	zb := deflate(zeros[:32768])
	blocks := make([]tBlock, 9000)
	for i := range blocks {
		blocks[i] = tBlock{ab: zb, cbUncomp: 32768}
	}
	_, err = openBytes(one(blocks, 1), DefaultLimits())
	wantErr(t, "zero blocks", err, ErrLimit, "folder 0")
	_, err = openBytes(one(blocks[:100], 1), Limits{MaxTotalSize: 1 << 20})
	wantErr(t, "zero blocks, small limit", err, ErrLimit, "folder 0")
	// Within the limits the same data decodes fine.
	got, err := walkAll(one(blocks[:100], 100*32768), DefaultLimits())
	if err != nil || len(got["bomb"]) != 100*32768 {
		t.Errorf("100 zero blocks: %v", err)
	}
}

func TestUnsupportedCompression(t *testing.T) {
	for _, tc := range []struct {
		comp uint16
		name string
	}{{CompressLZX | 0x1500, "LZX"}, {CompressQuantum | 0x0400, "Quantum"}, {7, "unknown(7)"}} {
		spec := &tCab{
			folders: []tFolder{{comp: CompressMSZIP}, {comp: CompressNone}},
			files:   []tFile{{name: "a", data: []byte("aaa")}, {name: "b", data: []byte("bbb"), folder: 1}},
		}
		b, lay := spec.build(t)
		le.PutUint16(b[lay.foldersOff+8+6:], tc.comp) // folder 1's typeCompress
		c, err := openBytes(b, DefaultLimits())
		if err != nil {
			t.Fatalf("%s: Open: %v", tc.name, err)
		}
		if got := c.Folders()[1].Compression; got != tc.name {
			t.Errorf("compression %q, want %q", got, tc.name)
		}
		called := false
		err = c.Walk(context.Background(), func(Member, io.Reader) error { called = true; return nil })
		wantErr(t, tc.name, err, ErrUnsupportedCompression, "folder 1", tc.name)
		if called {
			t.Errorf("%s: callback called before the unsupported folder was reported", tc.name)
		}
	}
}

// heapAlloc returns the bytes allocated by fn.
func heapAlloc(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestRecursiveFolderTable(t *testing.T) {
	// 1,000 folders all pointing at the same 100 blocks of zeros (3.2 MiB each), and
	// 20,000 members each claiming the largest size a folder allows.
	var zb bytes.Buffer
	zb.WriteString("CK")
	w, _ := flate.NewWriter(&zb, flate.BestCompression)
	w.Write(make([]byte, 32768))
	w.Close()
	blocks := make([]tBlock, 100)
	for i := range blocks {
		blocks[i] = tBlock{ab: zb.Bytes(), cbUncomp: 32768}
	}
	spec := &tCab{folders: []tFolder{{comp: CompressMSZIP, rawBlocks: blocks}}}
	for i := range 999 {
		_ = i
		spec.folders = append(spec.folders, tFolder{comp: CompressMSZIP, rawBlocks: []tBlock{}, numBlocks: 100, dataOffset: 1})
	}
	for i := range 20000 {
		spec.files = append(spec.files, tFile{name: "m", folder: uint16(i % 1000), size: u32p(100 * 32768), offset: u32p(0), noAppend: true})
	}
	b, lay := spec.build(t)
	// Point every folder at folder 0's data.
	first := le.Uint32(b[lay.foldersOff:])
	for i := 1; i < 1000; i++ {
		le.PutUint32(b[lay.foldersOff+8*i:], first)
	}
	var err error
	alloc := heapAlloc(func() { _, err = openBytes(b, DefaultLimits()) })
	wantErr(t, "shared folders", err, nil)
	if !errors.Is(err, ErrLimit) && !errors.Is(err, ErrCorrupt) {
		t.Errorf("shared folders: %v, want ErrLimit or ErrCorrupt", err)
	}
	// With limits out of the way, the overlap itself is rejected.
	alloc2 := heapAlloc(func() {
		_, err = openBytes(b, Limits{MaxMembers: 1 << 20, MaxMemberSize: 1 << 40, MaxTotalSize: 1 << 40})
	})
	wantErr(t, "shared folders, no limits", err, ErrCorrupt, "overlaps folder 0")
	if alloc > 64<<20 || alloc2 > 64<<20 {
		t.Errorf("allocated %d and %d bytes rejecting a %d-byte file", alloc, alloc2, len(b))
	}
	t.Logf("rejecting %d-byte file: %v; allocated %d / %d bytes", len(b), err, alloc, alloc2)
}

func TestManyMembers(t *testing.T) {
	// 65,535 members (the format's maximum), all empty.
	spec := &tCab{folders: []tFolder{{comp: CompressMSZIP}}}
	for range 65535 {
		spec.files = append(spec.files, tFile{name: "e"})
	}
	b, _ := spec.build(t)
	var err error
	alloc := heapAlloc(func() { _, err = openBytes(b, DefaultLimits()) })
	wantErr(t, "65535 members", err, ErrLimit, "members")
	if alloc > 1<<20 {
		t.Errorf("rejecting by MaxMembers allocated %d bytes", alloc)
	}
	c, err := openBytes(b, Limits{MaxMembers: 65535})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := c.Walk(context.Background(), func(Member, io.Reader) error { n++; return nil }); err != nil || n != 65535 {
		t.Errorf("walked %d: %v", n, err)
	}
	// ReadAll refuses duplicate names rather than dropping members.
	_, err = c.ReadAll(context.Background())
	wantErr(t, "duplicates", err, ErrCorrupt, "duplicate")
}

func TestTotalSizeLimit(t *testing.T) {
	// Overlapping members re-deliver the same bytes: their sum is bounded too.
	data := make([]byte, 1<<20)
	spec := &tCab{folders: []tFolder{{comp: CompressMSZIP}}, files: []tFile{{name: "a", data: data}}}
	for range 10 {
		spec.files = append(spec.files, tFile{name: "again", size: u32p(1 << 20), offset: u32p(0), noAppend: true})
	}
	b, _ := spec.build(t)
	_, err := openBytes(b, Limits{MaxTotalSize: 4 << 20})
	wantErr(t, "total", err, ErrLimit, "member 4")
	_, err = openBytes(b, Limits{MaxMemberSize: 1000})
	wantErr(t, "member size", err, ErrLimit, `member 0 "a"`)
}
