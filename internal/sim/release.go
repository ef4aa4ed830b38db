package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aikwatch/aikwatch/trustlist"
)

// msRootCN is the common name of Microsoft's TPM root, the issuer of every AIK CA.
const msRootCN = "Microsoft TPM Root Certificate Authority 2014"

// parsedRelease is what the simulator needs of one trust-list release. It is immutable (but
// for its lazily filled AIK CA cache) and shared by every simulator that publishes the same
// bytes.
type parsedRelease struct {
	sha256   string
	hosts    map[string]trustlist.AIKHost
	names    []string          // sorted host names
	files    map[string][]byte // AIK CA members, by path
	newest   map[string]string // host -> path of its parseable certificate with the latest NotAfter
	rootDER  []byte            // Microsoft/RootCA's TPM root, nil if the release has none
	aikCerts sync.Map          // host -> aikCert
}

// aikCert is the AIK CA certificate a host serves, or why it has none.
type aikCert struct {
	der []byte
	err error
}

// releaseCache keeps the last few parsed releases: parsing the real cab costs about a second
// of CPU, and tests and scenarios publish the same bytes more than once.
var releaseCache = struct {
	mu    sync.Mutex
	m     map[string]*parsedRelease
	order []string
}{m: map[string]*parsedRelease{}}

const releaseCacheSize = 4

// parseRelease reads and indexes a release (a cab, or an archive the trustlist package reads).
// The Authenticode signature is not checked: the simulator serves what it is given.
func parseRelease(ctx context.Context, data []byte) (*parsedRelease, error) {
	sum := sha256.Sum256(data)
	key := hex.EncodeToString(sum[:])
	releaseCache.mu.Lock()
	r, ok := releaseCache.m[key]
	releaseCache.mu.Unlock()
	if ok {
		return r, nil
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("trust list: empty")
	}
	files, _, err := trustlist.ReadFiles(ctx, data, "TrustedTpm.cab", trustlist.Options{})
	if err != nil {
		return nil, fmt.Errorf("trust list: %w", err)
	}
	snap, err := trustlist.Index(files)
	if err != nil {
		return nil, fmt.Errorf("trust list: %w", err)
	}
	r = &parsedRelease{sha256: key, hosts: map[string]trustlist.AIKHost{}, files: map[string][]byte{}, newest: map[string]string{}}
	for _, h := range snap.AIKHosts {
		r.hosts[h.Host] = h
		r.names = append(r.names, h.Host)
		var best time.Time
		for _, p := range h.Files {
			if m, ok := snap.Member(p); ok && m.Cert != nil && (r.newest[h.Host] == "" || m.Cert.NotAfter.After(best)) {
				r.newest[h.Host], best = p, m.Cert.NotAfter
			}
		}
	}
	for _, f := range files {
		m, ok := snap.Member(f.Path)
		if !ok {
			continue
		}
		switch {
		case m.Kind == trustlist.KindAIKCA:
			r.files[f.Path] = f.Data
		case m.VendorFolder == "Microsoft" && m.Role == trustlist.RoleRoot && m.Cert != nil &&
			strings.EqualFold(m.Cert.SubjectCN, msRootCN) && r.rootDER == nil:
			c, _, err := trustlist.ParseCertificate(f.Data)
			if err == nil {
				r.rootDER = c.Raw
			}
		}
	}
	releaseCache.mu.Lock()
	defer releaseCache.mu.Unlock()
	if _, ok := releaseCache.m[key]; !ok {
		releaseCache.m[key] = r
		releaseCache.order = append(releaseCache.order, key)
		if len(releaseCache.order) > releaseCacheSize {
			delete(releaseCache.m, releaseCache.order[0])
			releaseCache.order = releaseCache.order[1:]
		}
	}
	return releaseCache.m[key], nil
}

// aikCA returns the DER AIK CA certificate of host: of the host's files, the parseable
// certificate with the latest NotAfter.
func (r *parsedRelease) aikCA(host string) ([]byte, error) {
	if v, ok := r.aikCerts.Load(host); ok {
		a := v.(aikCert)
		return a.der, a.err
	}
	h, ok := r.hosts[host]
	if !ok {
		return nil, fmt.Errorf("%s is not in the trust list", host)
	}
	var a aikCert
	if p := r.newest[host]; p == "" {
		a.err = fmt.Errorf("%s: none of its %d files holds a parseable certificate (%s)", host, len(h.Files), strings.Join(h.Files, ", "))
	} else if c, _, err := trustlist.ParseCertificate(r.files[p]); err != nil {
		a.err = fmt.Errorf("%s: %s: %w", host, p, err)
	} else {
		a.der = c.Raw
	}
	r.aikCerts.Store(host, a)
	return a.der, a.err
}

// publication is one release as the download host serves it.
type publication struct {
	rel      *parsedRelease
	cab      []byte
	etag     string
	modified time.Time
	bundles  sync.Map // host -> []byte GetCACertChain answer
}

func newPublication(rel *parsedRelease, cab []byte, at time.Time) *publication {
	return &publication{rel: rel, cab: cab, etag: `"` + rel.sha256[:32] + `"`, modified: at.UTC().Truncate(time.Second)}
}
