package cab

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"testing"
)

// A tiny, test-only cabinet writer: it builds valid cabinets with any number of folders
// (stored or MSZIP) and exposes the layout so tests can corrupt them precisely.

type tBlock struct {
	ab       []byte // CFDATA payload as stored (for MSZIP including "CK")
	cbUncomp uint16
}

type tFolder struct {
	comp      uint16 // typeCompress
	blockSize int    // uncompressed bytes per block; default 32768
	blocks    []tBlock
	// rawBlocks, if non-nil, replaces the blocks built from the folder's members.
	rawBlocks []tBlock
	// dataOffset, if non-zero, overrides coffCabStart.
	dataOffset uint32
	// numBlocks, if non-zero, overrides cCFData.
	numBlocks uint16
}

type tFile struct {
	name   string
	data   []byte
	folder uint16
	attrs  uint16
	// Overrides (applied when set) for hostile tables.
	size     *uint32
	offset   *uint32
	rawName  []byte
	noAppend bool // do not append data to the folder stream (offset must be given)
}

type tCab struct {
	folders       []tFolder
	files         []tFile
	flags         uint16
	hdrReserve    []byte
	folderReserve int
	dataReserve   int
	noChecksum    bool
	trailer       []byte
	cbCabinet     *uint32
	numFiles      *uint16
}

type tLayout struct {
	foldersOff int
	filesOff   int
	blockOffs  [][]int // per folder, offset of each CFDATA header
	cabSize    int
}

func u32p(v uint32) *uint32 { return &v }

// mszipBlocks compresses stream into MSZIP blocks of at most blockSize bytes, each
// using the previous 32 KiB of output as dictionary.
func mszipBlocks(tb testing.TB, stream []byte, blockSize int) []tBlock {
	tb.Helper()
	var out []tBlock
	for start := 0; start < len(stream); start += blockSize {
		end := min(start+blockSize, len(stream))
		dict := stream[max(0, start-32768):start]
		var buf bytes.Buffer
		buf.WriteString("CK")
		w, err := flate.NewWriterDict(&buf, flate.BestCompression, dict)
		if err != nil {
			tb.Fatal(err)
		}
		w.Write(stream[start:end])
		if err := w.Close(); err != nil {
			tb.Fatal(err)
		}
		out = append(out, tBlock{ab: buf.Bytes(), cbUncomp: uint16(end - start)})
	}
	return out
}

func storedBlocks(stream []byte, blockSize int) []tBlock {
	var out []tBlock
	for start := 0; start < len(stream); start += blockSize {
		end := min(start+blockSize, len(stream))
		out = append(out, tBlock{ab: stream[start:end:end], cbUncomp: uint16(end - start)})
	}
	return out
}

func (c *tCab) build(tb testing.TB) ([]byte, tLayout) {
	tb.Helper()
	le := binary.LittleEndian
	// Folder streams.
	streams := make([][]byte, len(c.folders))
	offsets := make([]uint32, len(c.files))
	for i, f := range c.files {
		offsets[i] = uint32(len(streams[f.folder]))
		if f.offset != nil {
			offsets[i] = *f.offset
		}
		if !f.noAppend && int(f.folder) < len(streams) {
			streams[f.folder] = append(streams[f.folder], f.data...)
		}
	}
	for i := range c.folders {
		f := &c.folders[i]
		bs := f.blockSize
		if bs == 0 {
			bs = 32768
		}
		switch {
		case f.rawBlocks != nil:
			f.blocks = f.rawBlocks
		case f.comp&0xF == CompressMSZIP:
			f.blocks = mszipBlocks(tb, streams[i], bs)
		default:
			f.blocks = storedBlocks(streams[i], bs)
		}
	}

	var lay tLayout
	hdrLen := 36
	if c.flags&FlagReservePresent != 0 {
		hdrLen += 4 + len(c.hdrReserve)
	}
	lay.foldersOff = hdrLen
	folderEntry := 8 + c.folderReserve
	lay.filesOff = hdrLen + len(c.folders)*folderEntry
	var files bytes.Buffer
	for i, f := range c.files {
		var e [16]byte
		size := uint32(len(f.data))
		if f.size != nil {
			size = *f.size
		}
		le.PutUint32(e[0:], size)
		le.PutUint32(e[4:], offsets[i])
		le.PutUint16(e[8:], f.folder)
		le.PutUint16(e[10:], 0x5976) // 2024-11-22
		le.PutUint16(e[12:], 0x4e00)
		le.PutUint16(e[14:], f.attrs)
		files.Write(e[:])
		if f.rawName != nil {
			files.Write(f.rawName)
		} else {
			files.WriteString(f.name)
		}
		files.WriteByte(0)
	}
	dataStart := lay.filesOff + files.Len()
	var data bytes.Buffer
	lay.blockOffs = make([][]int, len(c.folders))
	folderOffs := make([]int, len(c.folders))
	for i, f := range c.folders {
		folderOffs[i] = dataStart + data.Len()
		for _, b := range f.blocks {
			lay.blockOffs[i] = append(lay.blockOffs[i], dataStart+data.Len())
			hdr := make([]byte, 8+c.dataReserve)
			le.PutUint16(hdr[4:], uint16(len(b.ab)))
			le.PutUint16(hdr[6:], b.cbUncomp)
			for j := 8; j < len(hdr); j++ {
				hdr[j] = byte(j)
			}
			if !c.noChecksum {
				le.PutUint32(hdr[0:], blockChecksum(hdr[4:], b.ab))
			}
			data.Write(hdr)
			data.Write(b.ab)
		}
	}
	total := dataStart + data.Len()
	lay.cabSize = total

	var out bytes.Buffer
	var h [36]byte
	copy(h[:], "MSCF")
	cb := uint32(total)
	if c.cbCabinet != nil {
		cb = *c.cbCabinet
	}
	le.PutUint32(h[8:], cb)
	le.PutUint32(h[16:], uint32(lay.filesOff))
	h[24], h[25] = 3, 1
	le.PutUint16(h[26:], uint16(len(c.folders)))
	nf := uint16(len(c.files))
	if c.numFiles != nil {
		nf = *c.numFiles
	}
	le.PutUint16(h[28:], nf)
	le.PutUint16(h[30:], c.flags)
	out.Write(h[:])
	if c.flags&FlagReservePresent != 0 {
		var r [4]byte
		le.PutUint16(r[0:], uint16(len(c.hdrReserve)))
		r[2], r[3] = byte(c.folderReserve), byte(c.dataReserve)
		out.Write(r[:])
		out.Write(c.hdrReserve)
	}
	for i, f := range c.folders {
		e := make([]byte, folderEntry)
		off := uint32(folderOffs[i])
		if f.dataOffset != 0 {
			off = f.dataOffset
		}
		le.PutUint32(e[0:], off)
		nb := uint16(len(f.blocks))
		if f.numBlocks != 0 {
			nb = f.numBlocks
		}
		le.PutUint16(e[4:], nb)
		le.PutUint16(e[6:], f.comp)
		out.Write(e)
	}
	out.Write(files.Bytes())
	out.Write(data.Bytes())
	out.Write(c.trailer)
	return out.Bytes(), lay
}
