package trustlist

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mholt/archives"

	"github.com/aikwatch/aikwatch/internal/authenticode"
	"github.com/aikwatch/aikwatch/internal/cab"
)

// DefaultMaxSourceSize bounds how many bytes of a source (file or download) are read. The real
// TrustedTpm.cab is about 2.5 MB.
const DefaultMaxSourceSize = 64 << 20

// Options controls how a release is read and verified. The zero value uses Microsoft's
// embedded roots, the cab reader's default limits and [DefaultMaxSourceSize].
type Options struct {
	Roots         *authenticode.Roots // trust anchors for the Authenticode signature; nil: embedded Microsoft roots
	Limits        *cab.Limits         // cab reader limits; nil: cab.DefaultLimits()
	MaxSourceSize int64               // 0: DefaultMaxSourceSize
	Fetcher       *Fetcher            // for http(s) sources; nil: a Fetcher with default settings
}

func (o Options) maxSize() int64 {
	if o.MaxSourceSize > 0 {
		return o.MaxSourceSize
	}
	return DefaultMaxSourceSize
}

func (o Options) limits() cab.Limits {
	if o.Limits != nil {
		return *o.Limits
	}
	return cab.DefaultLimits()
}

func (o Options) roots() authenticode.Roots {
	if o.Roots != nil {
		return *o.Roots
	}
	return authenticode.DefaultRoots()
}

// ErrNotTrustList marks a source that is not a cab, archive or directory at all, such as an
// HTML page served by a captive portal.
var ErrNotTrustList = errors.New("not a trust list")

// Load reads, verifies and indexes the release at source: an http(s) URL, a directory, or a
// file holding a .cab (verified) or an archive that mholt/archives can open (.zip, .tar.gz, ...;
// reported as unsigned).
func Load(ctx context.Context, source string, opts Options) (*Snapshot, error) {
	if st, err := os.Stat(source); err == nil && st.IsDir() {
		return loadDir(source, opts)
	}
	data, err := ReadSource(ctx, source, opts)
	if err != nil {
		return nil, err
	}
	s, err := FromBytes(ctx, data, source, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return s, nil
}

// ReadSource returns the bytes of a file or an http(s) URL, within the size limit.
func ReadSource(ctx context.Context, source string, opts Options) ([]byte, error) {
	if strings.HasPrefix(source, "https://") || strings.HasPrefix(source, "http://") {
		f := opts.Fetcher
		if f == nil {
			f = &Fetcher{MaxSize: opts.maxSize()}
		}
		res, err := f.Fetch(ctx, source, "", "")
		if err != nil {
			return nil, err
		}
		return res.Body, nil
	}
	fh, err := os.Open(source)
	if err != nil {
		return nil, fmt.Errorf("trust list source: %w", err)
	}
	defer fh.Close()
	if st, err := fh.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("trust list source %s: is a directory", source)
	}
	data, err := io.ReadAll(io.LimitReader(fh, opts.maxSize()+1))
	if err != nil {
		return nil, fmt.Errorf("trust list source: %w", err)
	}
	if int64(len(data)) > opts.maxSize() {
		return nil, fmt.Errorf("%s: over the %d-byte limit for a trust list", source, opts.maxSize())
	}
	return data, nil
}

// FromBytes reads, verifies and indexes a release held in memory; name is used in errors and to
// help identify the archive format.
func FromBytes(ctx context.Context, data []byte, name string, opts Options) (*Snapshot, error) {
	s, _, err := FromBytesWithFiles(ctx, data, name, opts)
	return s, err
}

// FromBytesWithFiles is [FromBytes] that also returns the members' bytes (the snapshot keeps
// metadata only), for callers that check certificates further.
func FromBytesWithFiles(ctx context.Context, data []byte, name string, opts Options) (*Snapshot, []File, error) {
	var sigc chan authenticode.Result
	if isCab(data) {
		sigc = make(chan authenticode.Result, 1)
		go func() { sigc <- authenticode.VerifyCab(data, opts.roots()) }()
	}
	s, files, format, err := readIndex(ctx, data, name, opts)
	var sig authenticode.Result
	if sigc != nil {
		sig = <-sigc
	}
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(data)
	s.SHA256, s.Size, s.Source, s.Format = hex.EncodeToString(sum[:]), int64(len(data)), name, format
	if sigc != nil {
		s.Signature = signatureOf(sig)
	} else {
		s.Signature = Signature{Status: SignatureUnsigned, Reason: "not_a_cab",
			Detail: fmt.Sprintf("a %s archive carries no Authenticode signature", format)}
	}
	return s, files, nil
}

// readIndex extracts and indexes a release held in memory and names its format.
func readIndex(ctx context.Context, data []byte, name string, opts Options) (*Snapshot, []File, string, error) {
	if int64(len(data)) > opts.maxSize() {
		return nil, nil, "", fmt.Errorf("%d bytes is over the %d-byte limit for a trust list", len(data), opts.maxSize())
	}
	format, err := Sniff(ctx, data, name)
	if err != nil {
		return nil, nil, "", err
	}
	if format == "cab" {
		s, files, err := indexCab(ctx, data, opts.limits())
		return s, files, format, err
	}
	files, format, err := extractArchive(ctx, data, name, opts)
	if err != nil {
		return nil, nil, "", err
	}
	s, err := Index(files)
	return s, files, format, err
}

// VerifySignature checks the Authenticode signature of a release held in memory; anything
// but a cab is unsigned.
func VerifySignature(data []byte, opts Options) Signature {
	if !isCab(data) {
		return Signature{Status: SignatureUnsigned, Reason: "not_a_cab", Detail: "not a cab: no Authenticode signature"}
	}
	return signatureOf(authenticode.VerifyCab(data, opts.roots()))
}

// ReadFiles extracts every member of a release held in memory (a cab, or an archive that
// mholt/archives identifies) and names its format. An HTML page is refused with a clear error.
func ReadFiles(ctx context.Context, data []byte, name string, opts Options) ([]File, string, error) {
	if int64(len(data)) > opts.maxSize() {
		return nil, "", fmt.Errorf("%d bytes is over the %d-byte limit for a trust list", len(data), opts.maxSize())
	}
	format, err := Sniff(ctx, data, name)
	if err != nil {
		return nil, "", err
	}
	if format == "cab" {
		files, err := ReadCab(ctx, data, opts.limits())
		return files, format, err
	}
	return extractArchive(ctx, data, name, opts)
}

// Sniff names the format of a release held in memory ("cab", "zip", "tar.gz", ...) without
// extracting it, or says why it is not a trust list at all (an HTML page, unknown bytes).
func Sniff(ctx context.Context, data []byte, name string) (string, error) {
	if isCab(data) {
		return "cab", nil
	}
	if looksLikeHTML(data) {
		return "", fmt.Errorf("%w: got an HTML page (%s), not a cab: a captive portal, proxy or error page?", ErrNotTrustList, htmlTitle(data))
	}
	format, _, err := archives.Identify(ctx, path.Base(name), bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("%w: neither a cab nor an archive format this tool reads (first bytes %q)", ErrNotTrustList, head(data, 16))
	}
	if _, ok := format.(archives.Extractor); !ok {
		return "", fmt.Errorf("%w: %s is a compressed file, not an archive of the trust-list tree", ErrNotTrustList, format.Extension())
	}
	return strings.TrimPrefix(format.Extension(), "."), nil
}

func isCab(data []byte) bool { return bytes.HasPrefix(data, []byte("MSCF")) }

// ReadCab extracts every member of a cab held in memory, decompressing each folder once.
func ReadCab(ctx context.Context, data []byte, lim cab.Limits) ([]File, error) {
	var files []File
	err := walkCab(ctx, data, lim, func(n int) { files = make([]File, 0, n) }, func(f File) error {
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// walkCab calls start with the member count, then fn with every member, in folder order.
func walkCab(ctx context.Context, data []byte, lim cab.Limits, start func(n int), fn func(File) error) error {
	c, err := cab.Open(bytes.NewReader(data), int64(len(data)), lim)
	if err != nil {
		return err
	}
	start(len(c.Members()))
	return c.Walk(ctx, func(m cab.Member, r io.Reader) error {
		b := make([]byte, m.Size)
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("cab member %q: %w", m.Name, err)
		}
		return fn(File{Path: m.Name, Data: b})
	})
}

// indexCab extracts and indexes a cab at once: members are indexed on the other cores while
// the folder is still being decompressed.
func indexCab(ctx context.Context, data []byte, lim cab.Limits) (*Snapshot, []File, error) {
	var x *indexer
	err := walkCab(ctx, data, lim, func(n int) { x = newIndexer(n) }, func(f File) error { return x.add(f) })
	if x == nil {
		return nil, nil, err
	}
	s, ferr := x.finish() // always, so that no worker is left behind
	if err != nil {
		return nil, nil, err
	}
	return s, x.buf[:x.n], ferr
}

func signatureOf(r authenticode.Result) Signature {
	return Signature{
		Status:          string(r.Status),
		Reason:          string(r.Reason),
		Detail:          r.Detail,
		Signer:          r.Signer,
		Timestamp:       r.Timestamp.UTC(),
		DigestAlgorithm: r.DigestAlgorithm,
		Digest:          strings.ToUpper(hex.EncodeToString(r.Digest)),
	}
}

// extractArchive reads every regular file of an archive format that mholt/archives identifies.
func extractArchive(ctx context.Context, data []byte, name string, opts Options) ([]File, string, error) {
	format, stream, err := archives.Identify(ctx, path.Base(name), bytes.NewReader(data))
	if err != nil {
		return nil, "", fmt.Errorf("identifying archive: %w", err)
	}
	ex, ok := format.(archives.Extractor)
	if !ok { // Sniff refused these already
		return nil, "", fmt.Errorf("%w: %s is not an archive", ErrNotTrustList, format.Extension())
	}
	var files []File
	var total int64
	lim := opts.limits()
	err = ex.Extract(ctx, stream, func(ctx context.Context, f archives.FileInfo) error {
		if f.IsDir() || !f.Mode().IsRegular() {
			return nil
		}
		if len(files) >= lim.MaxMembers {
			return fmt.Errorf("archive member %q: more than %d members: %w", f.NameInArchive, lim.MaxMembers, cab.ErrLimit)
		}
		p, err := cleanMemberPath(f.NameInArchive)
		if err != nil {
			return err
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("archive member %q: %w", p, err)
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, lim.MaxMemberSize+1))
		if err != nil {
			return fmt.Errorf("archive member %q: %w", p, err)
		}
		if int64(len(b)) > lim.MaxMemberSize {
			return fmt.Errorf("archive member %q: over %d bytes: %w", p, lim.MaxMemberSize, cab.ErrLimit)
		}
		if total += int64(len(b)); total > lim.MaxTotalSize {
			return fmt.Errorf("archive: more than %d bytes in all: %w", lim.MaxTotalSize, cab.ErrLimit)
		}
		files = append(files, File{Path: p, Data: b})
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("extracting %s archive: %w", strings.TrimPrefix(format.Extension(), "."), err)
	}
	return stripCommonRoot(files), strings.TrimPrefix(format.Extension(), "."), nil
}

// loadDir indexes a directory holding an extracted release. Its SHA-256 is that of a manifest
// of sorted "sha256  path" lines, so the same tree always has the same id.
func loadDir(dir string, opts Options) (*Snapshot, error) {
	var files []File
	var total int64
	lim := opts.limits()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if len(files) >= lim.MaxMembers {
			return fmt.Errorf("more than %d files: %w", lim.MaxMembers, cab.ErrLimit)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > lim.MaxMemberSize {
			return fmt.Errorf("%s: over %d bytes: %w", rel, lim.MaxMemberSize, cab.ErrLimit)
		}
		if total += info.Size(); total > lim.MaxTotalSize {
			return fmt.Errorf("more than %d bytes in all: %w", lim.MaxTotalSize, cab.ErrLimit)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, File{Path: filepath.ToSlash(rel), Data: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading trust-list directory %s: %w", dir, err)
	}
	s, err := Index(files)
	if err != nil {
		return nil, err
	}
	var manifest strings.Builder
	for _, m := range s.Members {
		fmt.Fprintf(&manifest, "%s  %s\n", m.SHA256, m.Path)
	}
	sum := sha256.Sum256([]byte(manifest.String()))
	s.SHA256, s.Size, s.Source, s.Format = hex.EncodeToString(sum[:]), total, dir, "dir"
	s.Signature = Signature{Status: SignatureUnsigned, Reason: "not_a_cab", Detail: "a directory carries no Authenticode signature"}
	return s, nil
}

// cleanMemberPath turns an archive member name into a slash-separated relative path and refuses
// names that would escape the tree.
func cleanMemberPath(name string) (string, error) {
	p := strings.ReplaceAll(name, `\`, "/")
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" || p == "." || strings.HasPrefix(name, "/") || strings.Contains("/"+strings.ReplaceAll(name, `\`, "/")+"/", "/../") {
		return "", fmt.Errorf("archive member %q: unsafe path", name)
	}
	return p, nil
}

// stripCommonRoot removes a single top-level folder that wraps the whole tree (a zip made of
// "TrustedTpm/AMD/...") unless that folder is itself a vendor folder.
func stripCommonRoot(files []File) []File {
	if len(files) == 0 {
		return files
	}
	first, _, ok := strings.Cut(files[0].Path, "/")
	if !ok {
		return files
	}
	for _, f := range files {
		top, _, ok := strings.Cut(f.Path, "/")
		if !ok || top != first {
			return files
		}
		if _, sub, _ := strings.Cut(f.Path, "/"); strings.HasPrefix(strings.ToLower(sub), "rootca/") || strings.HasPrefix(strings.ToLower(sub), "intermediateca/") {
			return files
		}
	}
	out := make([]File, len(files))
	for i, f := range files {
		out[i] = File{Path: strings.TrimPrefix(f.Path, first+"/"), Data: f.Data}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func looksLikeHTML(data []byte) bool {
	h := bytes.ToLower(bytes.TrimSpace(head(data, 1024)))
	h = bytes.TrimPrefix(h, []byte("\xef\xbb\xbf"))
	return bytes.HasPrefix(h, []byte("<!doctype html")) || bytes.HasPrefix(h, []byte("<html")) ||
		bytes.HasPrefix(h, []byte("<?xml")) && bytes.Contains(h, []byte("<html")) ||
		bytes.HasPrefix(h, []byte("<")) && (bytes.Contains(h, []byte("<head")) || bytes.Contains(h, []byte("<body")))
}

func htmlTitle(data []byte) string {
	h := head(data, 4096)
	lower := bytes.ToLower(h)
	i := bytes.Index(lower, []byte("<title>"))
	if i < 0 {
		return "no title"
	}
	rest := h[i+len("<title>"):]
	j := bytes.Index(bytes.ToLower(rest), []byte("</title>"))
	if j < 0 {
		j = min(len(rest), 80)
	}
	t := strings.Join(strings.Fields(string(rest[:min(j, 120)])), " ")
	return fmt.Sprintf("title %q", t)
}

func head(b []byte, n int) []byte { return b[:min(len(b), n)] }
