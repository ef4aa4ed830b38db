package cab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/flate"
)

// mszipWindow is the MSZIP history size: each block may refer back 32 KiB into the output
// of the blocks before it.
const mszipWindow = 32768

// blockReader produces a folder's CFDATA blocks, decompressed, one at a time.
// Buffers are reused across blocks and folders.
type blockReader struct {
	r      io.ReaderAt
	cabEnd int64
	folder int
	comp   uint16 // compression type (low 4 bits of typeCompress)
	dres   int    // cbCFData
	pos    int64  // file offset of the next CFDATA header
	idx    int    // index of the next block
	n      int    // number of blocks in the folder

	in   []byte // CFDATA header and compressed data of the current block
	hist []byte // MSZIP: dictionary (hist[:dict]) followed by the last block's output
	dict int
	last int
	src  bytes.Reader
	fr   io.ReadCloser
}

// reset prepares b to read folder f of a cabinet.
func (b *blockReader) reset(r io.ReaderAt, cabEnd int64, f *Folder, dres int) {
	b.r, b.cabEnd = r, cabEnd
	b.folder = f.Index
	b.comp = f.CompressionType & 0x000F
	b.dres = dres
	b.pos = int64(f.DataOffset)
	b.idx, b.n = 0, f.NumBlocks
	b.dict, b.last = 0, 0
	if b.in == nil {
		b.in = make([]byte, dataFixedSize+255+maxBlockComp)
	}
	if b.comp == CompressMSZIP && b.hist == nil {
		b.hist = make([]byte, 2*mszipWindow)
	}
}

// blockErr formats an error about the current block.
func (b *blockReader) blockErr(idx int, format string, args ...any) error {
	return fmt.Errorf("cab: folder %d block %d: "+format, append([]any{b.folder, idx}, args...)...)
}

// next returns the next block's uncompressed bytes, valid until the following call.
// It returns io.EOF after the last block.
func (b *blockReader) next() ([]byte, error) {
	if b.idx >= b.n {
		return nil, io.EOF
	}
	idx := b.idx
	hl := dataFixedSize + b.dres
	hdr := b.in[:hl]
	if b.pos+int64(hl) > b.cabEnd {
		return nil, b.blockErr(idx, "header at offset %d: %w", b.pos, ErrTruncated)
	}
	if err := readFull(b.r, hdr, b.pos); err != nil {
		return nil, b.blockErr(idx, "header: %w", err)
	}
	cb, cu, err := checkBlockHeader(b.comp, hdr)
	if err != nil {
		return nil, b.blockErr(idx, "%w", err)
	}
	if b.pos+int64(hl+cb) > b.cabEnd {
		return nil, b.blockErr(idx, "%w: %d data bytes at offset %d pass cbCabinet %d", ErrTruncated, cb, b.pos, b.cabEnd)
	}
	data := b.in[hl : hl+cb]
	if err := readFull(b.r, data, b.pos+int64(hl)); err != nil {
		return nil, b.blockErr(idx, "data: %w", err)
	}
	if stored := binary.LittleEndian.Uint32(hdr); stored != 0 {
		if got := blockChecksum(hdr[4:], data); got != stored {
			return nil, b.blockErr(idx, "%w (stored %#08x, computed %#08x)", ErrChecksum, stored, got)
		}
	}
	b.pos += int64(hl + cb)
	b.idx++

	switch b.comp {
	case CompressNone:
		return data, nil
	case CompressMSZIP:
		return b.inflate(idx, data, cu)
	}
	return nil, fmt.Errorf("cab: folder %d: %w: %s", b.folder, ErrUnsupportedCompression, compressionName(b.comp))
}

// inflate decompresses one MSZIP block ("CK" + raw DEFLATE) that must produce exactly cu
// bytes, using the previous 32 KiB of output as dictionary.
func (b *blockReader) inflate(idx int, data []byte, cu int) ([]byte, error) {
	// Slide the history so that hist[:dict] holds the last (up to) 32 KiB of output.
	if total := b.dict + b.last; total > mszipWindow {
		copy(b.hist, b.hist[total-mszipWindow:total])
		b.dict = mszipWindow
	} else {
		b.dict = total
	}
	b.last = 0
	if len(data) < 2 || data[0] != 'C' || data[1] != 'K' {
		return nil, b.blockErr(idx, "%w: MSZIP block lacks the \"CK\" signature", ErrCorrupt)
	}
	b.src.Reset(data[2:])
	dict := b.hist[:b.dict]
	if b.fr == nil {
		b.fr = flate.NewReaderDict(&b.src, dict)
	} else if err := b.fr.(flate.Resetter).Reset(&b.src, dict); err != nil {
		return nil, b.blockErr(idx, "%w: resetting decompressor: %v", ErrCorrupt, err)
	}
	out := b.hist[b.dict : b.dict+cu]
	n, err := io.ReadFull(b.fr, out)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, b.blockErr(idx, "%w: block inflates to %d bytes but declares %d", ErrCorrupt, n, cu)
		}
		return nil, b.blockErr(idx, "%w: invalid DEFLATE data: %v", ErrCorrupt, err)
	}
	// The stream must end here: one more byte means the block inflates to more than it
	// declares (a decompression bomb or corrupt block).
	var one [1]byte
	for tries := 0; ; tries++ {
		k, err := b.fr.Read(one[:])
		if k > 0 {
			return nil, b.blockErr(idx, "%w: block inflates to more than the %d bytes it declares", ErrCorrupt, cu)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			// ErrUnexpectedEOF: the DEFLATE stream lacks its final-block marker; all
			// declared bytes were produced, so accept it as other readers do.
			break
		}
		if err != nil {
			return nil, b.blockErr(idx, "%w: invalid DEFLATE data after %d bytes: %v", ErrCorrupt, cu, err)
		}
		if tries > 100 {
			return nil, b.blockErr(idx, "%w: DEFLATE stream does not end", ErrCorrupt)
		}
	}
	b.last = cu
	return out, nil
}
