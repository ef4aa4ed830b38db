package cab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
)

// folderStream serves byte ranges of one folder's uncompressed stream, decompressing each
// block once, front to back. It keeps the current block plus, only when members overlap,
// the retained bytes at or after need (the start of the next member to serve).
type folderStream struct {
	ctx    context.Context
	src    *blockReader
	folder int
	blk    []byte // current block's bytes: positions [blkPos, blkPos+len(blk))
	blkPos int64
	ret    []byte // ret[retOff:] holds positions [retPos, blkPos)
	retOff int
	retPos int64
	need   int64 // bytes at positions >= need must be kept for later members
	err    error // sticky error
}

func (s *folderStream) reset(ctx context.Context, src *blockReader, folder int) {
	s.ctx = ctx
	s.src = src
	s.folder = folder
	s.blk, s.blkPos = nil, 0
	s.ret, s.retOff, s.retPos = s.ret[:0], 0, 0
	s.need = math.MaxInt64
	s.err = nil
}

// at returns the bytes available from position p on (at least one), decompressing further
// blocks as needed. The slice is valid until the next call. p must not precede the
// current member's read position or need.
func (s *folderStream) at(p int64) ([]byte, error) {
	for {
		if s.err != nil {
			return nil, s.err
		}
		end := s.blkPos + int64(len(s.blk))
		switch {
		case p >= s.blkPos && p < end:
			return s.blk[p-s.blkPos:], nil
		case p < s.blkPos:
			if n := len(s.ret) - s.retOff; n > 0 && p >= s.retPos {
				return s.ret[s.retOff+int(p-s.retPos):], nil
			}
			s.err = fmt.Errorf("cab: folder %d: internal error: position %d no longer buffered", s.folder, p)
			return nil, s.err
		}
		if err := s.ctx.Err(); err != nil {
			s.err = err
			return nil, err
		}
		s.retain(min(p, s.need), end)
		blk, err := s.src.next()
		if err == io.EOF {
			err = fmt.Errorf("cab: folder %d: %w: uncompressed data ends at %d, member needs byte %d", s.folder, ErrCorrupt, end, p)
		}
		if err != nil {
			s.err = err
			return nil, err
		}
		s.blk, s.blkPos = blk, end
	}
}

// retain keeps the bytes of the window [retPos or blkPos, end) at or after keep, before
// the current block is replaced.
func (s *folderStream) retain(keep, end int64) {
	if keep >= end {
		s.ret, s.retOff = s.ret[:0], 0
		s.retPos = end
		return
	}
	// Drop retained bytes before keep.
	if n := int64(len(s.ret) - s.retOff); n > 0 && keep > s.retPos {
		drop := min(keep-s.retPos, n)
		s.retOff += int(drop)
		s.retPos += drop
	}
	if s.retOff == len(s.ret) {
		s.ret, s.retOff = s.ret[:0], 0
		s.retPos = max(keep, s.blkPos)
	} else if s.retOff > 0 && s.retOff >= len(s.ret)-s.retOff {
		n := copy(s.ret, s.ret[s.retOff:])
		s.ret, s.retOff = s.ret[:n], 0
	}
	from := max(keep, s.blkPos) - s.blkPos
	s.ret = append(s.ret, s.blk[from:]...)
}

// memberReader reads one member's bytes from a folderStream; it is valid only during the
// Walk callback it was passed to.
type memberReader struct {
	s        *folderStream
	pos, end int64
	dead     bool
}

var errReaderExpired = errors.New("cab: member reader used after its Walk callback returned")

// Read implements io.Reader.
func (r *memberReader) Read(p []byte) (int, error) {
	if r.dead {
		return 0, errReaderExpired
	}
	if r.pos >= r.end {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	b, err := r.s.at(r.pos)
	if err != nil {
		return 0, err
	}
	if rem := r.end - r.pos; int64(len(b)) > rem {
		b = b[:rem]
	}
	n := copy(p, b)
	r.pos += int64(n)
	return n, nil
}

// WriteTo implements io.WriterTo, writing the member's remaining bytes without an
// intermediate copy.
func (r *memberReader) WriteTo(w io.Writer) (int64, error) {
	if r.dead {
		return 0, errReaderExpired
	}
	var total int64
	for r.pos < r.end {
		b, err := r.s.at(r.pos)
		if err != nil {
			return total, err
		}
		if rem := r.end - r.pos; int64(len(b)) > rem {
			b = b[:rem]
		}
		n, err := w.Write(b)
		total += int64(n)
		r.pos += int64(n)
		if err != nil {
			return total, err
		}
		if n < len(b) {
			return total, io.ErrShortWrite
		}
	}
	return total, nil
}

// checkReadable reports an error if a folder that holds members cannot be decompressed.
func (c *Cabinet) checkReadable() error {
	for fi, ord := range c.order {
		if len(ord) == 0 {
			continue
		}
		f := &c.folders[fi]
		switch f.CompressionType & 0x000F {
		case CompressNone, CompressMSZIP:
		default:
			m := &c.members[ord[0]]
			return fmt.Errorf("cab: folder %d: %w: %s (holds member %d %q and %d more)",
				fi, ErrUnsupportedCompression, f.Compression, m.Index, m.Name, len(ord)-1)
		}
	}
	return nil
}

// Walk decompresses every folder once, in folder order, and calls fn for each member with
// a reader of exactly the member's bytes. Within a folder members come in order of their
// offset (file-table order for ordinary cabinets). The reader is valid only during the
// call and fn need not consume it. An error from fn stops the walk and is returned as is;
// other errors name the folder, block or member concerned. Members in folders whose
// compression is unsupported make Walk fail before fn is first called. Blocks past the
// last byte any member needs are not read.
func (c *Cabinet) Walk(ctx context.Context, fn func(m Member, r io.Reader) error) error {
	if err := c.checkReadable(); err != nil {
		return err
	}
	var br blockReader
	var s folderStream
	for fi, ord := range c.order {
		if len(ord) == 0 {
			continue
		}
		br.reset(c.r, int64(c.hdr.Size), &c.folders[fi], c.hdr.DataReserveSize)
		s.reset(ctx, &br, fi)
		for k, mi := range ord {
			if err := ctx.Err(); err != nil {
				return err
			}
			m := c.members[mi]
			if k+1 < len(ord) {
				s.need = c.members[ord[k+1]].Offset
			} else {
				s.need = math.MaxInt64
			}
			r := &memberReader{s: &s, pos: m.Offset, end: m.Offset + m.Size}
			err := fn(m, r)
			r.dead = true
			if err != nil {
				return err
			}
			if s.err != nil {
				if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(s.err, ctxErr) {
					return s.err
				}
				return fmt.Errorf("cab: member %d %q: %w", m.Index, m.Name, s.err)
			}
		}
	}
	return nil
}

// ReadAll returns every member's bytes keyed by Name. Sizes are bounded by the Limits
// given to Open. Two members with the same name make it fail with ErrCorrupt.
func (c *Cabinet) ReadAll(ctx context.Context) (map[string][]byte, error) {
	out := make(map[string][]byte, len(c.members))
	err := c.Walk(ctx, func(m Member, r io.Reader) error {
		if _, dup := out[m.Name]; dup {
			return fmt.Errorf("cab: member %d %q: %w: duplicate name", m.Index, m.Name, ErrCorrupt)
		}
		b := make([]byte, m.Size)
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("cab: member %d %q: %w", m.Index, m.Name, err)
		}
		out[m.Name] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
