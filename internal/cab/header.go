package cab

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Header flags (CFHEADER.flags).
const (
	FlagPrevCabinet    = 0x0001 // cabinet continues a previous one (unsupported)
	FlagNextCabinet    = 0x0002 // cabinet is continued by a next one (unsupported)
	FlagReservePresent = 0x0004 // reserve sizes and the header's abReserve are present
)

// Member attribute bits (CFFILE.attribs).
const (
	AttrReadOnly  = 0x01
	AttrHidden    = 0x02
	AttrSystem    = 0x04
	AttrArchive   = 0x20
	AttrExec      = 0x40
	AttrNameIsUTF = 0x80 // the name is UTF-8 rather than a single-byte code page
)

// Compression type codes (low 4 bits of CFFOLDER.typeCompress).
const (
	CompressNone    = 0
	CompressMSZIP   = 1
	CompressQuantum = 2
	CompressLZX     = 3
)

// Format constants from [MS-CAB].
const (
	headerFixedSize  = 36    // CFHEADER up to and including iCabinet
	folderFixedSize  = 8     // CFFOLDER without abReserve
	fileFixedSize    = 16    // CFFILE without szName
	dataFixedSize    = 8     // CFDATA without abReserve and ab
	maxHeaderReserve = 60000 // cbCFHeader upper bound
	maxNameLen       = 256   // szName including its NUL terminator
	maxBlockUncomp   = 32768 // cbUncomp upper bound
	maxBlockComp     = 32768 + 6144
)

// Header describes a cabinet's CFHEADER.
type Header struct {
	Size         uint32 // cbCabinet: bytes of the cabinet proper; data after it is the trailer
	Flags        uint16 // FlagPrevCabinet, FlagNextCabinet, FlagReservePresent
	SetID        uint16 // setID shared by the cabinets of a set
	Index        uint16 // iCabinet: the cabinet's position in its set
	VersionMajor uint8
	VersionMinor uint8
	// Reserve is the header's abReserve area (nil when absent). In Authenticode-signed
	// cabinets it holds the signature's offset and size.
	Reserve           []byte
	FoldersOffset     uint32 // file offset of the first CFFOLDER entry
	FilesOffset       uint32 // coffFiles: file offset of the first CFFILE entry
	NumFolders        int    // cFolders
	NumFiles          int    // cFiles
	FolderReserveSize int    // cbCFFolder: reserved bytes in each CFFOLDER
	DataReserveSize   int    // cbCFData: reserved bytes in each CFDATA
}

// Member is one file stored in a cabinet (a CFFILE entry).
type Member struct {
	Index    int       // position in the file table
	Name     string    // slash-separated UTF-8 path, validated as safe to extract
	Size     int64     // cbFile
	Modified time.Time // DOS date and time, taken as UTC; zero if invalid
	Attrs    uint16    // attribs: AttrReadOnly, AttrNameIsUTF, ...
	Folder   int       // index of the folder holding the member's bytes
	Offset   int64     // uoffFolderStart: offset in the folder's uncompressed stream
}

// Folder describes one CFFOLDER entry: a compressed stream of CFDATA blocks.
type Folder struct {
	Index           int
	Compression     string // "none", "MSZIP", "Quantum", "LZX" or "unknown(N)"
	CompressionType uint16 // raw typeCompress, including LZX/Quantum window parameters
	DataOffset      uint32 // coffCabStart: file offset of the first CFDATA block
	NumBlocks       int    // cCFData
	// UncompressedSize is the sum of the blocks' declared uncompressed sizes.
	UncompressedSize int64
	// DataEnd is the file offset just past the folder's last CFDATA block.
	DataEnd int64
	Reserve []byte // the folder's abReserve (nil when absent)
}

// Cabinet is an opened, validated cabinet. Its methods may be called concurrently; each
// Walk or ReadAll call decompresses on its own.
type Cabinet struct {
	r        io.ReaderAt
	fileSize int64
	lim      Limits
	hdr      Header
	folders  []Folder
	members  []Member
	// order lists member indexes per folder, sorted by (Offset, Index): the order in
	// which Walk serves them.
	order [][]int
}

// compressionName returns the display name of a typeCompress value.
func compressionName(t uint16) string {
	switch t & 0x000F {
	case CompressNone:
		return "none"
	case CompressMSZIP:
		return "MSZIP"
	case CompressQuantum:
		return "Quantum"
	case CompressLZX:
		return "LZX"
	}
	return fmt.Sprintf("unknown(%d)", t&0x000F)
}

// readFull reads exactly len(p) bytes at off, reporting a short read as ErrTruncated.
// Callers add context.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: read %d of %d bytes at offset %d", ErrTruncated, n, len(p), off)
	}
	return fmt.Errorf("reading %d bytes at offset %d: %w", len(p), off, err)
}

// Open parses and validates the cabinet read from r, whose total size is size. It reads
// the header, the folder and file tables and the chain of CFDATA headers, but no
// compressed data. r must stay readable for as long as the Cabinet is used.
func Open(r io.ReaderAt, size int64, lim Limits) (*Cabinet, error) {
	lim = lim.withDefaults()
	if r == nil {
		return nil, fmt.Errorf("cab: nil reader: %w", ErrNotCab)
	}
	if size < 0 {
		return nil, fmt.Errorf("cab: negative size %d: %w", size, ErrCorrupt)
	}
	c := &Cabinet{r: r, fileSize: size, lim: lim}

	var fixed [headerFixedSize]byte
	n := int64(len(fixed))
	if size < n {
		n = size
	}
	if err := readFull(r, fixed[:n], 0); err != nil {
		return nil, fmt.Errorf("cab: header: %w", err)
	}
	if n < 4 || string(fixed[:4]) != "MSCF" {
		return nil, fmt.Errorf("cab: %w: missing MSCF signature", ErrNotCab)
	}
	if n < headerFixedSize {
		return nil, fmt.Errorf("cab: header: %w: file has %d bytes, header needs %d", ErrTruncated, size, headerFixedSize)
	}
	le := binary.LittleEndian
	h := &c.hdr
	h.Size = le.Uint32(fixed[8:])
	h.FilesOffset = le.Uint32(fixed[16:])
	h.VersionMinor = fixed[24]
	h.VersionMajor = fixed[25]
	h.NumFolders = int(le.Uint16(fixed[26:]))
	h.NumFiles = int(le.Uint16(fixed[28:]))
	h.Flags = le.Uint16(fixed[30:])
	h.SetID = le.Uint16(fixed[32:])
	h.Index = le.Uint16(fixed[34:])

	cabSize := int64(h.Size)
	if cabSize > size {
		return nil, fmt.Errorf("cab: header: %w: cbCabinet declares %d bytes but the file has %d", ErrTruncated, cabSize, size)
	}
	if cabSize < headerFixedSize {
		return nil, fmt.Errorf("cab: header: %w: cbCabinet %d is smaller than the header", ErrCorrupt, cabSize)
	}
	if h.Flags&(FlagPrevCabinet|FlagNextCabinet) != 0 {
		return nil, fmt.Errorf("cab: header: %w (flags %#04x)", ErrMultiCabinet, h.Flags)
	}
	if h.NumFolders > lim.MaxFolders {
		return nil, fmt.Errorf("cab: header: %w: %d folders (max %d)", ErrLimit, h.NumFolders, lim.MaxFolders)
	}
	if h.NumFiles > lim.MaxMembers {
		return nil, fmt.Errorf("cab: header: %w: %d members (max %d)", ErrLimit, h.NumFiles, lim.MaxMembers)
	}

	pos := int64(headerFixedSize)
	if h.Flags&FlagReservePresent != 0 {
		var rs [4]byte
		if pos+4 > cabSize {
			return nil, fmt.Errorf("cab: header reserve sizes: %w", ErrTruncated)
		}
		if err := readFull(r, rs[:], pos); err != nil {
			return nil, fmt.Errorf("cab: header reserve sizes: %w", err)
		}
		pos += 4
		hr := int64(le.Uint16(rs[0:]))
		h.FolderReserveSize = int(rs[2])
		h.DataReserveSize = int(rs[3])
		if hr > maxHeaderReserve {
			return nil, fmt.Errorf("cab: header: %w: cbCFHeader %d exceeds %d", ErrCorrupt, hr, maxHeaderReserve)
		}
		if pos+hr > cabSize {
			return nil, fmt.Errorf("cab: header reserve: %w: %d bytes at offset %d pass cbCabinet %d", ErrTruncated, hr, pos, cabSize)
		}
		if hr > 0 {
			h.Reserve = make([]byte, hr)
			if err := readFull(r, h.Reserve, pos); err != nil {
				return nil, fmt.Errorf("cab: header reserve: %w", err)
			}
		}
		pos += hr
	}

	// Folder table.
	folderEntry := int64(folderFixedSize + h.FolderReserveSize)
	tableLen := int64(h.NumFolders) * folderEntry
	if pos+tableLen > cabSize {
		return nil, fmt.Errorf("cab: folder table: %w: %d folders of %d bytes at offset %d pass cbCabinet %d",
			ErrTruncated, h.NumFolders, folderEntry, pos, cabSize)
	}
	h.FoldersOffset = uint32(pos)
	table := make([]byte, tableLen)
	if err := readFull(r, table, pos); err != nil {
		return nil, fmt.Errorf("cab: folder table: %w", err)
	}
	c.folders = make([]Folder, h.NumFolders)
	for i := range c.folders {
		e := table[int64(i)*folderEntry:]
		f := &c.folders[i]
		f.Index = i
		f.DataOffset = le.Uint32(e[0:])
		f.NumBlocks = int(le.Uint16(e[4:]))
		f.CompressionType = le.Uint16(e[6:])
		f.Compression = compressionName(f.CompressionType)
		if h.FolderReserveSize > 0 {
			f.Reserve = e[folderFixedSize:folderEntry:folderEntry]
		}
	}
	tableEnd := pos + tableLen

	if err := c.scanFolders(tableEnd); err != nil {
		return nil, err
	}
	if err := c.readFiles(tableEnd); err != nil {
		return nil, err
	}
	return c, nil
}

// scanFolders walks each folder's chain of CFDATA headers (without reading data),
// checking that every block lies inside the cabinet and that folders do not share data,
// and computes each folder's uncompressed size.
func (c *Cabinet) scanFolders(minOffset int64) error {
	cabSize := int64(c.hdr.Size)
	dres := int64(c.hdr.DataReserveSize)
	byStart := make([]int, len(c.folders))
	for i := range byStart {
		byStart[i] = i
	}
	slices.SortStableFunc(byStart, func(a, b int) int {
		return cmp.Compare(c.folders[a].DataOffset, c.folders[b].DataOffset)
	})
	var total int64
	prevEnd, prevIdx := minOffset, -1
	var hb [dataFixedSize + 255]byte
	for _, fi := range byStart {
		f := &c.folders[fi]
		start := int64(f.DataOffset)
		if f.NumBlocks == 0 {
			f.DataEnd = start
			continue
		}
		if start < prevEnd {
			if prevIdx >= 0 {
				return fmt.Errorf("cab: folder %d: %w: data at offset %d overlaps folder %d (ends at %d)", fi, ErrCorrupt, start, prevIdx, prevEnd)
			}
			return fmt.Errorf("cab: folder %d: %w: data offset %d lies inside the header or folder table (ends at %d)", fi, ErrCorrupt, start, prevEnd)
		}
		// Each block needs at least its fixed header.
		if start+int64(f.NumBlocks)*(dataFixedSize+dres) > cabSize {
			return fmt.Errorf("cab: folder %d: %w: %d blocks at offset %d cannot fit before cbCabinet %d", fi, ErrTruncated, f.NumBlocks, start, cabSize)
		}
		pos := start
		var size int64
		for b := 0; b < f.NumBlocks; b++ {
			hdr := hb[:dataFixedSize+dres]
			if pos+int64(len(hdr)) > cabSize {
				return fmt.Errorf("cab: folder %d block %d: header at offset %d: %w", fi, b, pos, ErrTruncated)
			}
			if err := readFull(c.r, hdr, pos); err != nil {
				return fmt.Errorf("cab: folder %d block %d: header: %w", fi, b, err)
			}
			cb, cu, err := checkBlockHeader(f.CompressionType, hdr)
			if err != nil {
				return fmt.Errorf("cab: folder %d block %d: %w", fi, b, err)
			}
			next := pos + int64(len(hdr)) + int64(cb)
			if next > cabSize {
				return fmt.Errorf("cab: folder %d block %d: %w: %d data bytes at offset %d pass cbCabinet %d", fi, b, ErrTruncated, cb, pos, cabSize)
			}
			pos = next
			size += int64(cu)
			if total+size > c.lim.MaxTotalSize {
				return fmt.Errorf("cab: folder %d block %d: %w: declared uncompressed data exceeds %d bytes in total", fi, b, ErrLimit, c.lim.MaxTotalSize)
			}
		}
		total += size
		f.UncompressedSize = size
		f.DataEnd = pos
		prevEnd, prevIdx = pos, fi
	}
	return nil
}

// checkBlockHeader validates a CFDATA header (csum, cbData, cbUncomp, reserve) for a folder
// of the given compression type and returns cbData and cbUncomp.
func checkBlockHeader(typeCompress uint16, hdr []byte) (cbData, cbUncomp int, err error) {
	cbData = int(binary.LittleEndian.Uint16(hdr[4:]))
	cbUncomp = int(binary.LittleEndian.Uint16(hdr[6:]))
	if cbUncomp == 0 {
		return 0, 0, fmt.Errorf("%w: block declares 0 uncompressed bytes (continued in a next cabinet?)", ErrCorrupt)
	}
	if cbUncomp > maxBlockUncomp {
		return 0, 0, fmt.Errorf("%w: block declares %d uncompressed bytes (max %d)", ErrCorrupt, cbUncomp, maxBlockUncomp)
	}
	switch typeCompress & 0x000F {
	case CompressNone:
		if cbData != cbUncomp {
			return 0, 0, fmt.Errorf("%w: stored block has %d data bytes but declares %d uncompressed", ErrCorrupt, cbData, cbUncomp)
		}
	case CompressMSZIP:
		if cbData < 2 || cbData > maxBlockComp {
			return 0, 0, fmt.Errorf("%w: MSZIP block has %d data bytes", ErrCorrupt, cbData)
		}
	}
	return cbData, cbUncomp, nil
}

// readFiles parses the CFFILE table at coffFiles and validates every member.
func (c *Cabinet) readFiles(minOffset int64) error {
	h := &c.hdr
	cabSize := int64(h.Size)
	off := int64(h.FilesOffset)
	if h.NumFiles == 0 {
		return nil
	}
	if off < minOffset {
		return fmt.Errorf("cab: file table: %w: coffFiles %d lies inside the header or folder table (ends at %d)", ErrCorrupt, off, minOffset)
	}
	// Each entry has a fixed part and a name of at least one byte plus NUL.
	if off+int64(h.NumFiles)*(fileFixedSize+2) > cabSize {
		return fmt.Errorf("cab: file table: %w: %d entries at offset %d cannot fit before cbCabinet %d", ErrTruncated, h.NumFiles, off, cabSize)
	}
	br := bufio.NewReaderSize(io.NewSectionReader(c.r, off, cabSize-off), 16<<10)
	c.members = make([]Member, h.NumFiles)
	c.order = make([][]int, len(c.folders))
	var fixed [fileFixedSize]byte
	var total int64
	le := binary.LittleEndian
	pos := off
	for i := range c.members {
		if _, err := io.ReadFull(br, fixed[:]); err != nil {
			return fmt.Errorf("cab: member %d: entry at offset %d: %w", i, pos, truncErr(err))
		}
		name, err := readName(br)
		if err != nil {
			return fmt.Errorf("cab: member %d: name at offset %d: %w", i, pos+fileFixedSize, err)
		}
		pos += fileFixedSize + int64(len(name)) + 1
		m := &c.members[i]
		m.Index = i
		m.Size = int64(le.Uint32(fixed[0:]))
		m.Offset = int64(le.Uint32(fixed[4:]))
		ifolder := le.Uint16(fixed[8:])
		m.Modified = dosTime(le.Uint16(fixed[10:]), le.Uint16(fixed[12:]))
		m.Attrs = le.Uint16(fixed[14:])
		m.Name, err = decodeName(name, m.Attrs&AttrNameIsUTF != 0)
		if err != nil {
			return fmt.Errorf("cab: member %d %q: %w", i, latin1(name), err)
		}
		if ifolder >= 0xFFFD {
			return fmt.Errorf("cab: member %d %q: %w: continued from or to another cabinet (iFolder %#04x)", i, m.Name, ErrMultiCabinet, ifolder)
		}
		m.Folder = int(ifolder)
		if m.Folder >= len(c.folders) {
			return fmt.Errorf("cab: member %d %q: %w: folder %d does not exist (%d folders)", i, m.Name, ErrCorrupt, m.Folder, len(c.folders))
		}
		if m.Size > c.lim.MaxMemberSize {
			return fmt.Errorf("cab: member %d %q: %w: size %d exceeds %d", i, m.Name, ErrLimit, m.Size, c.lim.MaxMemberSize)
		}
		f := &c.folders[m.Folder]
		if m.Offset+m.Size > f.UncompressedSize {
			return fmt.Errorf("cab: member %d %q: %w: bytes %d..%d lie beyond folder %d's %d uncompressed bytes",
				i, m.Name, ErrCorrupt, m.Offset, m.Offset+m.Size, m.Folder, f.UncompressedSize)
		}
		total += m.Size
		if total > c.lim.MaxTotalSize {
			return fmt.Errorf("cab: member %d %q: %w: members total more than %d bytes", i, m.Name, ErrLimit, c.lim.MaxTotalSize)
		}
		c.order[m.Folder] = append(c.order[m.Folder], i)
	}
	for _, ord := range c.order {
		slices.SortStableFunc(ord, func(a, b int) int {
			return cmp.Compare(c.members[a].Offset, c.members[b].Offset)
		})
	}
	return nil
}

// truncErr maps an unexpected end of input to ErrTruncated.
func truncErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: passes cbCabinet", ErrTruncated)
	}
	return err
}

// readName reads a NUL-terminated szName of at most maxNameLen bytes (with the NUL) and
// returns it without the terminator.
func readName(br *bufio.Reader) ([]byte, error) {
	b, err := br.Peek(maxNameLen)
	if i := indexByte(b, 0); i >= 0 {
		name := make([]byte, i)
		copy(name, b[:i])
		_, _ = br.Discard(i + 1)
		return name, nil
	}
	if len(b) == maxNameLen {
		return nil, fmt.Errorf("%w: name longer than %d bytes", ErrCorrupt, maxNameLen-1)
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return nil, truncErr(err)
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// latin1 converts bytes to a string mapping each byte to the rune of the same value.
func latin1(b []byte) string {
	ascii := true
	for _, x := range b {
		if x >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(2 * len(b))
	for _, x := range b {
		sb.WriteRune(rune(x))
	}
	return sb.String()
}

// decodeName turns a raw szName into a slash-separated UTF-8 path and rejects names that
// are unsafe to extract.
func decodeName(raw []byte, isUTF8 bool) (string, error) {
	var name string
	if isUTF8 {
		if !utf8.Valid(raw) {
			return "", fmt.Errorf("%w: name flagged UTF-8 is not valid UTF-8", ErrCorrupt)
		}
		name = string(raw)
	} else {
		name = latin1(raw)
	}
	name = strings.ReplaceAll(name, `\`, "/")
	switch {
	case name == "":
		return "", fmt.Errorf("%w: empty name", ErrCorrupt)
	case strings.IndexByte(name, 0) >= 0:
		return "", fmt.Errorf("%w: name contains NUL", ErrCorrupt)
	case name[0] == '/':
		return "", fmt.Errorf("%w: absolute name", ErrCorrupt)
	case len(name) >= 2 && name[1] == ':' && isLetter(name[0]):
		return "", fmt.Errorf("%w: name has a drive letter", ErrCorrupt)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: name contains a \"..\" component", ErrCorrupt)
		}
	}
	if strings.HasSuffix(name, "/") || path.Clean(name) == "." {
		return "", fmt.Errorf("%w: name does not name a file", ErrCorrupt)
	}
	return name, nil
}

func isLetter(b byte) bool { return (b|0x20) >= 'a' && (b|0x20) <= 'z' }

// dosTime converts a DOS date and time to a time.Time in UTC; invalid values give the
// zero time.
func dosTime(d, t uint16) time.Time {
	year := 1980 + int(d>>9)
	month := int(d>>5) & 0xF
	day := int(d) & 0x1F
	hour := int(t >> 11)
	minute := int(t>>5) & 0x3F
	sec := int(t&0x1F) * 2
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}
	}
	tm := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if tm.Day() != day { // e.g. February 30
		return time.Time{}
	}
	return tm
}

// Header returns the cabinet's header fields.
func (c *Cabinet) Header() Header {
	h := c.hdr
	h.Reserve = slices.Clone(h.Reserve)
	return h
}

// Folders returns the cabinet's folders in table order.
func (c *Cabinet) Folders() []Folder {
	out := slices.Clone(c.folders)
	for i := range out {
		out[i].Reserve = slices.Clone(out[i].Reserve)
	}
	return out
}

// Members returns the cabinet's members in file-table order.
func (c *Cabinet) Members() []Member { return slices.Clone(c.members) }

// Trailer returns the bytes stored after cbCabinet (an Authenticode signature in signed
// cabinets); it is empty when the file ends at cbCabinet.
func (c *Cabinet) Trailer() *io.SectionReader {
	return io.NewSectionReader(c.r, int64(c.hdr.Size), c.fileSize-int64(c.hdr.Size))
}
