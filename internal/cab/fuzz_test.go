package cab

import (
	"context"
	"io"
	"testing"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

// fuzzLimits keeps each fuzz execution small while still letting the real cabinets (about
// 5 MB uncompressed) through.
var fuzzLimits = Limits{MaxFolders: 16, MaxMembers: 4096, MaxMemberSize: 1 << 20, MaxTotalSize: 8 << 20}

func FuzzOpenWalk(f *testing.F) {
	f.Add(testutil.ReadTestdata(f, "trustedtpm", "TrustedTpm-2024-11-21.cab"))
	f.Add(testutil.ReadTestdata(f, "trustedtpm", "TrustedTpm-2024-06-11.cab"))
	small := []*tCab{
		{folders: []tFolder{{comp: CompressMSZIP}}, files: []tFile{{name: `a\b.txt`, data: []byte("hello hello hello")}, {name: "e"}}},
		{folders: []tFolder{{comp: CompressNone}, {comp: CompressMSZIP, blockSize: 64}},
			files: []tFile{{name: "x", data: []byte("stored data")}, {name: "y", folder: 1, data: []byte("abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij")}}},
		{flags: FlagReservePresent, hdrReserve: []byte("0123456789abcdefghij"), folderReserve: 2, dataReserve: 3,
			folders: []tFolder{{comp: CompressMSZIP}}, files: []tFile{{name: "r", data: []byte("reserved areas everywhere")}}},
		{folders: []tFolder{{comp: CompressMSZIP, blockSize: 10}}, files: []tFile{
			{name: "s", data: []byte("0123456789abcdefghijklmnopqrstuvwxyz")},
			{name: "o", offset: u32p(5), size: u32p(20), noAppend: true},
			{name: "p", offset: u32p(3), size: u32p(2), noAppend: true}}},
		{folders: []tFolder{{comp: CompressLZX}}, files: []tFile{{name: "l", data: []byte("lzx?")}}},
	}
	for _, s := range small {
		b, _ := s.build(f)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := openBytes(data, fuzzLimits)
		if err != nil {
			return
		}
		if len(c.Members()) > fuzzLimits.MaxMembers || len(c.Folders()) > fuzzLimits.MaxFolders {
			t.Fatalf("Open accepted %d members, %d folders", len(c.Members()), len(c.Folders()))
		}
		var total int64
		_ = c.Walk(context.Background(), func(m Member, r io.Reader) error {
			n, err := io.Copy(io.Discard, r)
			total += n
			if err == nil && n != m.Size {
				t.Fatalf("member %d: read %d bytes without error, size %d", m.Index, n, m.Size)
			}
			if n > m.Size || m.Size > fuzzLimits.MaxMemberSize {
				t.Fatalf("member %d: read %d bytes, size %d", m.Index, n, m.Size)
			}
			return err
		})
		if total > fuzzLimits.MaxTotalSize {
			t.Fatalf("delivered %d bytes in total", total)
		}
	})
}
