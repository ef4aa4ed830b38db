package cab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/flate"
)

// ErrInvalidName reports a WriterFile whose name cannot be stored as a safe cabinet member
// name (empty, absolute, containing ".." or NUL, too long, ...) or repeats an earlier name.
var ErrInvalidName = errors.New("invalid member name")

// WriterFile is one member for Write to store.
type WriterFile struct {
	// Name is the member's slash-separated UTF-8 path; it is stored with '\' separators.
	Name string
	// Data is the member's content.
	Data []byte
	// Modified is stored as a DOS date and time in UTC (2-second resolution); the zero
	// time, times before 1980 and times after 2107 are stored as the nearest representable
	// value (the zero time as 1980-01-01 00:00:00).
	Modified time.Time
	// Attrs are the CFFILE attribute bits (AttrReadOnly, AttrArchive, ...). Write adds
	// AttrNameIsUTF when Name is not plain ASCII.
	Attrs uint16
}

// WriteOptions controls the cabinet Write produces. The zero value writes MSZIP at the
// default compression level with set ID 0.
type WriteOptions struct {
	// Compression is "MSZIP" (the default when empty) or "none".
	Compression string
	// Level is the DEFLATE level for MSZIP: flate.HuffmanOnly (-2), flate.DefaultCompression
	// (-1) or 1 (flate.BestSpeed) to 9 (flate.BestCompression). 0 selects
	// flate.DefaultCompression; for uncompressed data use Compression "none".
	Level int
	// SetID is the header's setID.
	SetID uint16
}

// Writer limits imposed by the format's field widths.
const (
	// maxWriteFiles is the largest cFiles (uint16).
	maxWriteFiles = math.MaxUint16
	// maxFolderData is the most uncompressed data one folder can hold: cCFData (uint16)
	// blocks of at most 32 KiB each, which also keeps uoffFolderStart below 2^31.
	maxFolderData = math.MaxUint16 * maxBlockUncomp
)

// Write writes a single-folder cabinet holding files, in the given order, to w. Member
// data is stored in one folder, in the same order, split into CFDATA blocks of 32 KiB of
// uncompressed data, each with its checksum. With MSZIP each block is "CK" followed by a
// complete raw DEFLATE stream that uses the previous 32 KiB of uncompressed data as its
// dictionary; every Huffman code in it is complete, as strict decoders such as libmspack's
// (cabextract) require. The cabinet has no reserved areas (flags 0) and is not signed. Names must be
// unique and safe to extract (see ErrInvalidName); at most 65,535 files totalling at most
// 65,535 × 32 KiB bytes fit in a cabinet (larger input fails with ErrLimit). The output
// is assembled in memory (about the size of the compressed data) before it is written.
// An empty list gives a cabinet with one empty folder and no files, which this package and
// gcab read but cabextract rejects ("no files in cabinet").
func Write(w io.Writer, files []WriterFile, opts WriteOptions) error {
	_, err := write(w, files, opts)
	return err
}

// writeStats counts how write encoded a folder's blocks.
type writeStats struct {
	blocks int // CFDATA blocks
	// MSZIP blocks re-encoded with the fixed Huffman codes, stored, and stored because the
	// compressor's output could not be scanned (never expected).
	fixed, stored, scanErrors int
}

// write implements Write and reports how the blocks were encoded.
func write(w io.Writer, files []WriterFile, opts WriteOptions) (writeStats, error) {
	comp, level, err := opts.resolve()
	if err != nil {
		return writeStats{}, err
	}
	if len(files) > maxWriteFiles {
		return writeStats{}, fmt.Errorf("cab: write: %w: %d files (a cabinet holds at most %d)", ErrLimit, len(files), maxWriteFiles)
	}

	// Validate everything and lay out the file table before compressing anything.
	table, total, err := fileTable(files)
	if err != nil {
		return writeStats{}, err
	}
	const tableStart = headerFixedSize + folderFixedSize
	dataStart := int64(tableStart + len(table))

	// Compress the folder.
	fw := folderWriter{comp: comp, level: level}
	fw.out.Grow(int(min(total, 1<<20)) + 64)
	for i, f := range files {
		if err := fw.write(f.Data); err != nil {
			return fw.stats, fmt.Errorf("cab: write: file %d %q: %w", i, f.Name, err)
		}
	}
	if err := fw.flush(); err != nil {
		return fw.stats, fmt.Errorf("cab: write: last block: %w", err)
	}
	cabSize := dataStart + int64(fw.out.Len())
	if cabSize > math.MaxUint32 {
		return fw.stats, fmt.Errorf("cab: write: %w: cabinet would be %d bytes (max %d)", ErrLimit, cabSize, int64(math.MaxUint32))
	}

	le := binary.LittleEndian
	hdr := make([]byte, tableStart, dataStart)
	copy(hdr, "MSCF")
	le.PutUint32(hdr[8:], uint32(cabSize))     // cbCabinet
	le.PutUint32(hdr[16:], tableStart)         // coffFiles
	hdr[24], hdr[25] = 3, 1                    // version 1.3
	le.PutUint16(hdr[26:], 1)                  // cFolders
	le.PutUint16(hdr[28:], uint16(len(files))) // cFiles
	le.PutUint16(hdr[30:], 0)                  // flags
	le.PutUint16(hdr[32:], opts.SetID)         // setID
	le.PutUint16(hdr[34:], 0)                  // iCabinet
	fe := hdr[headerFixedSize:]
	le.PutUint32(fe[0:], uint32(dataStart))       // coffCabStart
	le.PutUint16(fe[4:], uint16(fw.stats.blocks)) // cCFData
	le.PutUint16(fe[6:], comp)                    // typeCompress
	hdr = append(hdr, table...)

	if _, err := w.Write(hdr); err != nil {
		return fw.stats, fmt.Errorf("cab: write: writing header and file table: %w", err)
	}
	if _, err := w.Write(fw.out.Bytes()); err != nil {
		return fw.stats, fmt.Errorf("cab: write: writing %d bytes of CFDATA blocks: %w", fw.out.Len(), err)
	}
	return fw.stats, nil
}

// fileTable validates files and returns their CFFILE table (all in folder 0, stored in
// order) and the total size of their data.
func fileTable(files []WriterFile) (table []byte, total int64, err error) {
	le := binary.LittleEndian
	table = make([]byte, 0, len(files)*(fileFixedSize+32))
	seen := make(map[string]int, len(files))
	for i, f := range files {
		raw, isUTF, err := encodeName(f.Name)
		if err != nil {
			return nil, 0, fmt.Errorf("cab: write: file %d %q: %w", i, f.Name, err)
		}
		if j, dup := seen[f.Name]; dup {
			return nil, 0, fmt.Errorf("cab: write: file %d %q: %w: same name as file %d", i, f.Name, ErrInvalidName, j)
		}
		seen[f.Name] = i
		size := int64(len(f.Data))
		if total+size > maxFolderData {
			return nil, 0, fmt.Errorf("cab: write: file %d %q: %w: files total more than %d bytes (%d blocks of %d bytes, the most one folder holds)",
				i, f.Name, ErrLimit, int64(maxFolderData), math.MaxUint16, maxBlockUncomp)
		}
		attrs := f.Attrs
		if isUTF {
			attrs |= AttrNameIsUTF
		}
		date, tm := dosDateTime(f.Modified)
		var e [fileFixedSize]byte
		le.PutUint32(e[0:], uint32(size))  // cbFile
		le.PutUint32(e[4:], uint32(total)) // uoffFolderStart
		le.PutUint16(e[8:], 0)             // iFolder
		le.PutUint16(e[10:], date)
		le.PutUint16(e[12:], tm)
		le.PutUint16(e[14:], attrs)
		table = append(table, e[:]...)
		table = append(table, raw...)
		table = append(table, 0)
		total += size
	}
	return table, total, nil
}

// resolve validates o and returns the folder's typeCompress and the DEFLATE level.
func (o WriteOptions) resolve() (comp uint16, level int, err error) {
	switch {
	case o.Compression == "" || strings.EqualFold(o.Compression, "MSZIP"):
		comp = CompressMSZIP
	case strings.EqualFold(o.Compression, "none"):
		return CompressNone, 0, nil
	default:
		return 0, 0, fmt.Errorf("cab: write: unknown compression %q (want \"MSZIP\" or \"none\")", o.Compression)
	}
	switch level = o.Level; {
	case level == 0:
		level = flate.DefaultCompression
	case level < flate.HuffmanOnly || level > flate.BestCompression:
		return 0, 0, fmt.Errorf("cab: write: invalid MSZIP level %d (want %d to %d)", level, flate.HuffmanOnly, flate.BestCompression)
	}
	return comp, level, nil
}

// encodeName validates a slash-separated member name and returns it with '\' separators,
// reporting whether it needs AttrNameIsUTF. It accepts exactly the names the reader
// returns unchanged.
func encodeName(name string) (raw string, isUTF bool, err error) {
	switch {
	case name == "":
		return "", false, fmt.Errorf("%w: empty name", ErrInvalidName)
	case len(name) > maxNameLen-1:
		return "", false, fmt.Errorf("%w: name has %d bytes (max %d)", ErrInvalidName, len(name), maxNameLen-1)
	case strings.IndexByte(name, 0) >= 0:
		return "", false, fmt.Errorf("%w: name contains NUL", ErrInvalidName)
	case !utf8.ValidString(name):
		return "", false, fmt.Errorf("%w: name is not valid UTF-8", ErrInvalidName)
	case strings.IndexByte(name, '\\') >= 0:
		return "", false, fmt.Errorf("%w: name contains a backslash (use '/' to separate directories)", ErrInvalidName)
	case name[0] == '/':
		return "", false, fmt.Errorf("%w: absolute name", ErrInvalidName)
	case len(name) >= 2 && name[1] == ':' && isLetter(name[0]):
		return "", false, fmt.Errorf("%w: name has a drive letter", ErrInvalidName)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", false, fmt.Errorf("%w: name contains a \"..\" component", ErrInvalidName)
		}
	}
	if strings.HasSuffix(name, "/") || path.Clean(name) == "." {
		return "", false, fmt.Errorf("%w: name does not name a file", ErrInvalidName)
	}
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			isUTF = true
			break
		}
	}
	return strings.ReplaceAll(name, "/", `\`), isUTF, nil
}

// Range of DOS dates and times.
var (
	dosEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	dosLast  = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
)

// dosDateTime converts t to a DOS date and time in UTC, clamping it to the representable
// range; the zero time becomes 1980-01-01 00:00:00.
func dosDateTime(t time.Time) (date, tm uint16) {
	t = t.UTC()
	switch {
	case t.Before(dosEpoch):
		t = dosEpoch
	case t.After(dosLast):
		t = dosLast
	}
	date = uint16(t.Year()-1980)<<9 | uint16(t.Month())<<5 | uint16(t.Day())
	tm = uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2)
	return date, tm
}

// folderWriter splits a folder's uncompressed stream into CFDATA blocks, compressing them
// as they fill up, and collects the blocks (headers and data) in out.
type folderWriter struct {
	comp  uint16
	level int
	out   bytes.Buffer
	cur   []byte // pending uncompressed bytes of the current block
	prev  []byte // the previous block's uncompressed bytes: the MSZIP dictionary
	fw    *flate.Writer
	stats writeStats
	scan  deflateScanner
	toks  []token
}

// write appends p to the folder's stream, emitting every block that fills up.
func (f *folderWriter) write(p []byte) error {
	for len(p) > 0 {
		if f.cur == nil {
			f.cur = make([]byte, 0, maxBlockUncomp)
		}
		n := min(len(p), maxBlockUncomp-len(f.cur))
		f.cur = append(f.cur, p[:n]...)
		p = p[n:]
		if len(f.cur) == maxBlockUncomp {
			if err := f.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush emits the pending bytes, if any, as one CFDATA block.
func (f *folderWriter) flush() error {
	if len(f.cur) == 0 {
		return nil
	}
	if f.stats.blocks == math.MaxUint16 {
		// Unreachable: Write checks the total size first.
		return fmt.Errorf("%w: more than %d CFDATA blocks", ErrLimit, math.MaxUint16)
	}
	start := f.out.Len()
	f.out.Write(make([]byte, dataFixedSize)) // header, filled in below
	switch f.comp {
	case CompressNone:
		f.out.Write(f.cur)
	case CompressMSZIP:
		if err := f.deflate(); err != nil {
			return fmt.Errorf("block %d: %w", f.stats.blocks, err)
		}
	}
	blk := f.out.Bytes()[start:]
	hdr, data := blk[:dataFixedSize], blk[dataFixedSize:]
	le := binary.LittleEndian
	le.PutUint16(hdr[4:], uint16(len(data)))  // cbData
	le.PutUint16(hdr[6:], uint16(len(f.cur))) // cbUncomp
	le.PutUint32(hdr[0:], blockChecksum(hdr[4:], data))
	f.stats.blocks++
	// The block just written is the next block's dictionary.
	f.prev, f.cur = f.cur, f.prev[:0]
	return nil
}

// deflate appends "CK" and the current block's raw DEFLATE stream, with the previous
// block as dictionary, to out. The stream is then checked with deflateScanner: a block whose
// dynamic Huffman codes are incomplete (which strict MSZIP decoders such as libmspack's,
// used by cabextract, reject) is re-encoded from its LZ77 tokens with the fixed Huffman
// codes, and a block that does not compress is stored in a single uncompressed DEFLATE
// block, so cbData never exceeds cbUncomp+7.
func (f *folderWriter) deflate() error {
	start := f.out.Len()
	f.out.WriteString("CK")
	if f.fw == nil {
		w, err := flate.NewWriterDict(&f.out, f.level, f.prev)
		if err != nil {
			return fmt.Errorf("creating DEFLATE compressor: %w", err)
		}
		f.fw = w
	} else {
		f.fw.ResetDict(&f.out, f.prev)
	}
	if _, err := f.fw.Write(f.cur); err != nil {
		return fmt.Errorf("compressing: %w", err)
	}
	if err := f.fw.Close(); err != nil {
		return fmt.Errorf("compressing: %w", err)
	}
	n := len(f.cur)
	storedLen := n + 5
	if f.out.Len()-start-2 <= storedLen {
		var strict bool
		var err error
		var out int
		stream := f.out.Bytes()[start+2:]
		_, out, strict, err = f.scan.scan(stream, nil, false)
		if err == nil && out == n && !strict {
			f.toks, out, _, err = f.scan.scan(stream, f.toks[:0], true)
		}
		switch {
		case err != nil || out != n:
			// Not expected from the compressor; storing the block keeps the output valid.
			f.stats.scanErrors++
		case strict:
			return nil
		default:
			f.out.Truncate(start + 2)
			encodeFixed(&f.out, f.toks)
			if f.out.Len()-start-2 <= storedLen {
				f.stats.fixed++
				return nil
			}
		}
	}
	// Final stored block: BFINAL=1, BTYPE=00, then LEN and NLEN.
	f.out.Truncate(start + 2)
	f.out.Write([]byte{0x01, byte(n), byte(n >> 8), ^byte(n), ^byte(n >> 8)})
	f.out.Write(f.cur)
	f.stats.stored++
	return nil
}

// Strict DEFLATE.
//
// MSZIP decoders derived from libmspack (cabextract, ClamAV, Wine) build each Huffman
// decoding table only if the code is complete, and fail otherwise. Go's DEFLATE encoders,
// unlike zlib, give a block that uses a single distance code (or none, as in Huffman-only
// blocks) a one-symbol, hence incomplete, distance code. scanDeflate finds such blocks and
// encodeFixed re-encodes them with DEFLATE's fixed codes, which every decoder accepts.

// A token is one LZ77 step of a DEFLATE stream: a literal byte (< 256) or, with tokMatch
// set, a match of length (bits 16-24) at distance (bits 0-15, plus one).
type token = uint32

const tokMatch token = 1 << 31

func matchToken(length, dist int) token { return tokMatch | token(length)<<16 | token(dist-1) }

// DEFLATE's length and distance alphabets (RFC 1951, section 3.2.5).
var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// codeLenOrder is the order of the code length code lengths in a dynamic block header.
	codeLenOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// fixedLitLen returns the fixed Huffman code (MSB first) and length of a literal/length symbol.
func fixedLitLen(sym int) (code uint16, n uint8) {
	switch {
	case sym < 144:
		return uint16(0x30 + sym), 8
	case sym < 256:
		return uint16(0x190 + sym - 144), 9
	case sym < 280:
		return uint16(sym - 256), 7
	}
	return uint16(0xC0 + sym - 280), 8
}

// lsbBitReader reads a DEFLATE bit stream (least significant bit first). Reading past the
// end yields zero bits and makes n negative.
type lsbBitReader struct {
	src []byte
	pos int    // next byte of src to count into buf
	buf uint64 // unread bits, next in the low bits; bits above n, if any, are from src[pos:]
	n   int    // unread bits in buf; negative after reading past the end
}

// refill makes buf hold at least 48 bits, or all that is left of src.
func (r *lsbBitReader) refill() {
	if r.n >= 48 || r.n < 0 {
		return
	}
	if r.pos+8 <= len(r.src) {
		r.buf |= binary.LittleEndian.Uint64(r.src[r.pos:]) << r.n
		k := (63 - r.n) >> 3
		r.pos += k
		r.n += k << 3
		return
	}
	for r.n <= 56 && r.pos < len(r.src) {
		r.buf |= uint64(r.src[r.pos]) << r.n
		r.pos++
		r.n += 8
	}
}

// read consumes and returns the next k (at most 32) bits.
func (r *lsbBitReader) read(k int) uint32 {
	if r.n < 0 {
		return 0
	}
	if r.n < k {
		r.refill()
	}
	v := uint32(r.buf & (1<<k - 1))
	r.buf >>= k
	r.n -= k
	return v
}

// huffFastBits is the code length up to which huffDecoder decodes by table lookup.
const huffFastBits = 9

// huffDecoder decodes one canonical Huffman code: codes of up to huffFastBits bits by
// table lookup, longer ones bit by bit.
type huffDecoder struct {
	fast   [1 << huffFastBits]uint16 // by the next huffFastBits bits: symbol<<4 | length, 0 if longer or no code
	count  [16]uint16                // number of codes of each length
	sorted [288]uint16               // symbols in code order (by length, then symbol)
}

// init builds the decoder for the code with the given lengths (0 = symbol unused) and
// reports whether the code is complete. An over-subscribed code is an error.
func (h *huffDecoder) init(lengths []uint8) (complete bool, err error) {
	h.count = [16]uint16{}
	for _, l := range lengths {
		if l > 15 {
			return false, fmt.Errorf("code length %d", l)
		}
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	var next, offs [16]int
	code, off := 0, 0
	for l := 1; l <= 15; l++ {
		left = left<<1 - int(h.count[l])
		if left < 0 {
			return false, errors.New("over-subscribed Huffman code")
		}
		code = (code + int(h.count[l-1])) << 1
		next[l] = code
		offs[l] = off
		off += int(h.count[l])
	}
	clear(h.fast[:])
	for sym, l := range lengths {
		if l == 0 {
			continue
		}
		h.sorted[offs[l]] = uint16(sym)
		offs[l]++
		c := next[l]
		next[l]++
		if l <= huffFastBits {
			for j := int(bits.Reverse16(uint16(c)) >> (16 - l)); j < len(h.fast); j += 1 << l {
				h.fast[j] = uint16(sym)<<4 | uint16(l)
			}
		}
	}
	return left == 0, nil
}

// decode reads one symbol; r must have been refilled. It reports false for a bit sequence
// that is no code.
func (h *huffDecoder) decode(r *lsbBitReader) (int, bool) {
	if e := h.fast[r.buf&(1<<huffFastBits-1)]; e != 0 {
		l := int(e & 0xF)
		r.buf >>= l
		r.n -= l
		return int(e >> 4), true
	}
	buf := r.buf
	code, first, index := 0, 0, 0
	for l := 1; l <= 15; l++ {
		code |= int(buf & 1)
		buf >>= 1
		count := int(h.count[l])
		if code-first < count {
			r.buf = buf
			r.n -= l
			return int(h.sorted[index+code-first]), true
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, false
}

// deflateScanner walks raw DEFLATE streams; it keeps its tables between calls.
type deflateScanner struct {
	lit, dist, codeLen huffDecoder
	fixedLit, fixedDst huffDecoder
	fixedReady         bool
	lengths            [286 + 30]uint8
}

// scan decodes the raw DEFLATE stream src up to its final block and returns the number of
// bytes it produces; when collect is set it also appends its LZ77 tokens to toks. strict
// reports whether every dynamic block's three Huffman codes are complete.
func (s *deflateScanner) scan(src []byte, toks []token, collect bool) (_ []token, out int, strict bool, err error) {
	if !s.fixedReady {
		var l [288 + 32]uint8
		for i := range 288 {
			_, l[i] = fixedLitLen(i)
		}
		for i := range 32 {
			l[288+i] = 5
		}
		s.fixedLit.init(l[:288])
		s.fixedDst.init(l[288:])
		s.fixedReady = true
	}
	r := lsbBitReader{src: src}
	strict = true
	for blk := 0; ; blk++ {
		final := r.read(1)
		var lit, dist *huffDecoder
		switch typ := r.read(2); typ {
		case 0:
			if r.n < 0 {
				return toks, out, false, fmt.Errorf("DEFLATE block %d: %w", blk, io.ErrUnexpectedEOF)
			}
			r.read(r.n % 8)
			r.pos -= r.n / 8 // unread the whole bytes left in the buffer
			r.buf, r.n = 0, 0
			if r.pos+4 > len(src) {
				return toks, out, false, fmt.Errorf("DEFLATE block %d: stored block header truncated", blk)
			}
			ln := int(binary.LittleEndian.Uint16(src[r.pos:]))
			if ^binary.LittleEndian.Uint16(src[r.pos+2:]) != uint16(ln) {
				return toks, out, false, fmt.Errorf("DEFLATE block %d: stored block length check fails", blk)
			}
			r.pos += 4
			if r.pos+ln > len(src) {
				return toks, out, false, fmt.Errorf("DEFLATE block %d: stored data truncated", blk)
			}
			if collect {
				for _, b := range src[r.pos : r.pos+ln] {
					toks = append(toks, token(b))
				}
			}
			r.pos += ln
			out += ln
		case 1:
			lit, dist = &s.fixedLit, &s.fixedDst
		case 2:
			ok, err := s.readCodes(&r)
			if err != nil {
				return toks, out, false, fmt.Errorf("DEFLATE block %d: %w", blk, err)
			}
			strict = strict && ok
			lit, dist = &s.lit, &s.dist
		default:
			return toks, out, false, fmt.Errorf("DEFLATE block %d: invalid block type 3", blk)
		}
		if lit != nil {
			var n int
			toks, n, err = decodeSymbols(&r, lit, dist, toks, collect)
			out += n
			if err != nil {
				return toks, out, false, fmt.Errorf("DEFLATE block %d: %w", blk, err)
			}
		}
		if r.n < 0 {
			return toks, out, false, fmt.Errorf("DEFLATE block %d: %w", blk, io.ErrUnexpectedEOF)
		}
		if final == 1 {
			return toks, out, strict, nil
		}
	}
}

// readCodes reads a dynamic block's code definitions into s.lit and s.dist and reports
// whether all three codes involved are complete.
func (s *deflateScanner) readCodes(r *lsbBitReader) (complete bool, err error) {
	nlit := int(r.read(5)) + 257
	ndist := int(r.read(5)) + 1
	nclen := int(r.read(4)) + 4
	if nlit > 286 || ndist > 30 {
		return false, fmt.Errorf("%d literal/length and %d distance codes", nlit, ndist)
	}
	var cl [19]uint8
	for i := range nclen {
		cl[codeLenOrder[i]] = uint8(r.read(3))
	}
	clComplete, err := s.codeLen.init(cl[:])
	if err != nil {
		return false, fmt.Errorf("code length code: %w", err)
	}
	lens := s.lengths[:nlit+ndist]
	for i := 0; i < len(lens); {
		r.refill()
		sym, ok := s.codeLen.decode(r)
		if !ok {
			return false, errors.New("code lengths: invalid code")
		}
		var rep int
		var val uint8
		switch {
		case sym < 16:
			lens[i] = uint8(sym)
			i++
			continue
		case sym == 16:
			if i == 0 {
				return false, errors.New("code lengths: repeat with no previous length")
			}
			rep, val = 3+int(r.read(2)), lens[i-1]
		case sym == 17:
			rep = 3 + int(r.read(3))
		default:
			rep = 11 + int(r.read(7))
		}
		if i+rep > len(lens) {
			return false, errors.New("code lengths: repeat past the end")
		}
		for range rep {
			lens[i] = val
			i++
		}
	}
	if r.n < 0 {
		return false, io.ErrUnexpectedEOF
	}
	if lens[256] == 0 {
		return false, errors.New("no end-of-block code")
	}
	litComplete, err := s.lit.init(lens[:nlit])
	if err != nil {
		return false, fmt.Errorf("literal/length code: %w", err)
	}
	distComplete, err := s.dist.init(lens[nlit:])
	if err != nil {
		return false, fmt.Errorf("distance code: %w", err)
	}
	return clComplete && litComplete && distComplete, nil
}

// decodeSymbols decodes a Huffman-coded block's symbols up to end-of-block, returning the
// number of bytes they produce and, when collect is set, appending them to toks.
func decodeSymbols(r *lsbBitReader, lit, dist *huffDecoder, toks []token, collect bool) (_ []token, out int, err error) {
	for {
		r.refill() // 48 bits: enough for a length code, a distance code and their extra bits
		if r.n < 0 {
			return toks, out, io.ErrUnexpectedEOF
		}
		sym, ok := lit.decode(r)
		switch {
		case !ok:
			return toks, out, errors.New("invalid literal/length code")
		case sym < 256:
			if collect {
				toks = append(toks, token(sym))
			}
			out++
			continue
		case sym == 256:
			return toks, out, nil
		case sym > 285:
			return toks, out, fmt.Errorf("invalid length symbol %d", sym)
		}
		sym -= 257
		ne := int(lengthExtra[sym])
		length := int(lengthBase[sym]) + int(r.buf&(1<<ne-1))
		r.buf >>= ne
		r.n -= ne
		d, ok := dist.decode(r)
		if !ok || d >= 30 {
			return toks, out, fmt.Errorf("invalid distance code (symbol %d)", d)
		}
		ne = int(distExtra[d])
		distance := int(distBase[d]) + int(r.buf&(1<<ne-1))
		r.buf >>= ne
		r.n -= ne
		if collect {
			toks = append(toks, matchToken(length, distance))
		}
		out += length
	}
}

// encodeFixed appends toks to dst as one final DEFLATE block with the fixed Huffman codes.
func encodeFixed(dst *bytes.Buffer, toks []token) {
	var buf uint64
	var n uint
	put := func(v uint32, k uint) {
		buf |= uint64(v) << n
		n += k
		for n >= 8 {
			dst.WriteByte(byte(buf))
			buf >>= 8
			n -= 8
		}
	}
	putSym := func(sym int) {
		c, k := fixedLitLen(sym)
		put(uint32(bits.Reverse16(c)>>(16-k)), uint(k))
	}
	put(1, 1) // BFINAL
	put(1, 2) // BTYPE 01: fixed Huffman codes
	for _, t := range toks {
		if t&tokMatch == 0 {
			putSym(int(t))
			continue
		}
		length, dist := int(t>>16)&0x1FF, int(t&0xFFFF)+1
		li := len(lengthBase) - 1
		for int(lengthBase[li]) > length {
			li--
		}
		putSym(257 + li)
		put(uint32(length-int(lengthBase[li])), uint(lengthExtra[li]))
		di := len(distBase) - 1
		for int(distBase[di]) > dist {
			di--
		}
		put(uint32(bits.Reverse16(uint16(di))>>11), 5)
		put(uint32(dist-int(distBase[di])), uint(distExtra[di]))
	}
	putSym(256)
	if n > 0 {
		dst.WriteByte(byte(buf))
	}
}
