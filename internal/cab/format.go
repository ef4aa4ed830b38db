package cab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/mholt/archives"
)

func init() {
	archives.RegisterFormat(Format{Limits: DefaultLimits()})
}

// Format is the MS-CAB archive format for github.com/mholt/archives: it identifies
// cabinets and extracts their members (archives.Extraction). It is registered with
// archives at init, so archives.Identify and archives.FileSystem recognise cabinets.
type Format struct {
	// Limits bounds what Extract accepts; zero fields mean the defaults.
	Limits Limits
}

// Interface guard.
var _ archives.Extraction = Format{}

// Extension returns ".cab".
func (Format) Extension() string { return ".cab" }

// MediaType returns "application/vnd.ms-cab-compressed".
func (Format) MediaType() string { return "application/vnd.ms-cab-compressed" }

// Match reports whether filename has the ".cab" extension (ByName) and whether stream
// starts with the "MSCF" signature (ByStream).
func (f Format) Match(_ context.Context, filename string, stream io.Reader) (archives.MatchResult, error) {
	var mr archives.MatchResult
	if strings.EqualFold(path.Ext(filename), f.Extension()) {
		mr.ByName = true
	}
	if stream != nil {
		var sig [4]byte
		n, err := io.ReadFull(stream, sig[:])
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return mr, err
		}
		mr.ByStream = n == len(sig) && string(sig[:]) == "MSCF"
	}
	return mr, nil
}

type readerAtSeeker interface {
	io.ReaderAt
	io.Seeker
}

// Extract calls handleFile for each member of the cabinet read from archive, in the order
// Walk serves them. If archive implements io.ReaderAt and io.Seeker it is read in place
// (from offset 0, like archives.Zip); otherwise it is read into memory, up to a size
// derived from the Limits. Cabinets have no directory entries: only files are reported.
// A member's Open may be called once during its handler; a file still open when the
// handler returns is buffered (up to the member's size) so it stays readable, as
// archives.ArchiveFS requires. fs.SkipAll ends the walk without error and fs.SkipDir
// skips the rest of the member's directory.
func (f Format) Extract(ctx context.Context, archive io.Reader, handleFile archives.FileHandler) error {
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := f.open(archive)
	if err != nil {
		return err
	}
	var skipped []string // directory prefixes ("dir/") skipped by fs.SkipDir
	errStop := errors.New("stop")
	var handlerErr error
	err = c.Walk(ctx, func(m Member, r io.Reader) error {
		for _, p := range skipped {
			if strings.HasPrefix(m.Name, p) {
				return nil
			}
		}
		info := memberInfo{m}
		mf := &memberFile{info: info, live: r}
		fi := archives.FileInfo{
			FileInfo:      info,
			Header:        m,
			NameInArchive: m.Name,
			Open:          mf.open,
		}
		herr := handleFile(ctx, fi)
		if herr == nil || errors.Is(herr, fs.SkipAll) || errors.Is(herr, fs.SkipDir) {
			// Keep a file the handler left open readable (archives.ArchiveFS.Open).
			if derr := mf.detach(); derr != nil {
				herr = derr
			}
		} else {
			mf.expire()
		}
		switch {
		case herr == nil:
			return nil
		case errors.Is(herr, fs.SkipAll):
			return errStop
		case errors.Is(herr, fs.SkipDir):
			skipped = append(skipped, path.Dir(m.Name)+"/")
			return nil
		}
		handlerErr = fmt.Errorf("handling file %d: %s: %w", m.Index, m.Name, herr)
		return errStop
	})
	if err == errStop {
		return handlerErr
	}
	return err
}

// open opens the cabinet in archive, reading it into memory when it cannot be read at
// random.
func (f Format) open(archive io.Reader) (*Cabinet, error) {
	if archive == nil {
		return nil, fmt.Errorf("cab: nil archive: %w", ErrNotCab)
	}
	if ras, ok := archive.(readerAtSeeker); ok {
		cur, err := ras.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, fmt.Errorf("cab: determining stream size: %w", err)
		}
		size, err := ras.Seek(0, io.SeekEnd)
		if err != nil {
			return nil, fmt.Errorf("cab: determining stream size: %w", err)
		}
		if _, err := ras.Seek(cur, io.SeekStart); err != nil {
			return nil, fmt.Errorf("cab: determining stream size: %w", err)
		}
		return Open(ras, size, f.Limits)
	}
	max := f.Limits.maxInputSize()
	data, err := io.ReadAll(io.LimitReader(archive, max+1))
	if err != nil {
		return nil, fmt.Errorf("cab: reading archive: %w", err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("cab: archive: %w: more than %d bytes", ErrLimit, max)
	}
	return Open(bytes.NewReader(data), int64(len(data)), f.Limits)
}

// memberInfo is the fs.FileInfo of a member.
type memberInfo struct{ m Member }

func (i memberInfo) Name() string       { return path.Base(i.m.Name) }
func (i memberInfo) Size() int64        { return i.m.Size }
func (i memberInfo) ModTime() time.Time { return i.m.Modified }
func (i memberInfo) IsDir() bool        { return false }
func (i memberInfo) Sys() any           { return i.m }
func (i memberInfo) Mode() fs.FileMode {
	mode := fs.FileMode(0o644)
	if i.m.Attrs&AttrReadOnly != 0 {
		mode = 0o444
	}
	if i.m.Attrs&AttrExec != 0 {
		mode |= 0o111
	}
	return mode
}

// memberFile is the fs.File returned by a member's FileInfo.Open: it streams from the
// folder while the handler runs and from a buffer afterwards.
type memberFile struct {
	mu     sync.Mutex
	info   memberInfo
	live   io.Reader     // streaming reader, valid during the handler
	buf    *bytes.Reader // remaining bytes once detached
	err    error         // error met while detaching
	opened bool
	closed bool
	done   bool // the handler has returned
}

func (f *memberFile) open() (fs.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.done:
		return nil, &fs.PathError{Op: "open", Path: f.info.m.Name, Err: errors.New("cab: member opened after its handler returned")}
	case f.opened:
		return nil, &fs.PathError{Op: "open", Path: f.info.m.Name, Err: errors.New("cab: member may be opened only once")}
	}
	f.opened = true
	return f, nil
}

// detach marks the handler as returned; if the file is open, it buffers the member's
// remaining bytes so the file stays readable.
func (f *memberFile) detach() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done = true
	if !f.opened || f.closed {
		f.live = nil
		return nil
	}
	rest, err := io.ReadAll(f.live)
	f.live = nil
	f.buf = bytes.NewReader(rest)
	if err != nil {
		f.err = err
	}
	return err
}

// expire marks the handler as returned without keeping the file readable.
func (f *memberFile) expire() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done = true
	f.live = nil
	f.err = errors.New("cab: member file read after its handler failed")
	f.buf = bytes.NewReader(nil)
}

func (f *memberFile) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *memberFile) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed:
		return 0, fs.ErrClosed
	case f.live != nil:
		return f.live.Read(p)
	case f.buf != nil:
		n, err := f.buf.Read(p)
		if err == io.EOF && f.err != nil {
			err = f.err
		}
		return n, err
	}
	return 0, io.EOF
}

func (f *memberFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fs.ErrClosed
	}
	f.closed = true
	f.buf = nil
	return nil
}
