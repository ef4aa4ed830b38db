package trustlist

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/aikwatch/aikwatch/trustlist/changelog"
)

// File is one member of a release as read from its source: a slash-separated path and bytes.
type File struct {
	Path string
	Data []byte
}

// Coverage says which EK CAs and AIK hosts of a release have no counterpart.
type Coverage struct {
	EKCAsWithoutAIKHost []string `json:"ek_cas_without_aik_host"` // EK CA paths no AIK host serves
	AIKHostsWithoutEKCA []string `json:"aik_hosts_without_ek_ca"` // AIK hosts whose EK CA is not in the release
}

// Coverage computes both directions of the EK CA / AIK host match.
func (s *Snapshot) Coverage() Coverage {
	c := Coverage{EKCAsWithoutAIKHost: []string{}, AIKHostsWithoutEKCA: []string{}}
	for _, e := range s.EKCAs {
		if e.AIKHost == "" {
			c.EKCAsWithoutAIKHost = append(c.EKCAsWithoutAIKHost, e.Path)
		}
	}
	for _, h := range s.AIKHosts {
		if len(h.EKCAs) == 0 {
			c.AIKHostsWithoutEKCA = append(c.AIKHostsWithoutEKCA, h.Host)
		}
	}
	return c
}

// Index classifies and indexes the members of a release. It never fails on a member's content:
// a certificate file that does not parse is kept with its error. The returned snapshot has no
// source, SHA-256 or signature; [Load] fills those in.
func Index(files []File) (*Snapshot, error) {
	x := newIndexer(len(files))
	for _, f := range files {
		x.add(f) // cannot fail: exactly len(files) members
	}
	return x.finish()
}

// indexer indexes members on every core while they are still arriving (from a cab being
// decompressed, say), then assembles the snapshot.
type indexer struct {
	names nameCache
	buf   []File // fixed length n: workers read buf[i] after add wrote it
	n     int    // members added so far
	out   []Member
	jobs  chan int
	wg    sync.WaitGroup

	mu           sync.Mutex
	changelog    *changelog.Changelog // parsed by whichever worker meets version.txt
	changelogErr error
}

// newIndexer starts workers for a release of n members.
func newIndexer(n int) *indexer {
	x := &indexer{buf: make([]File, n), out: make([]Member, n), jobs: make(chan int, n)}
	for range min(runtime.GOMAXPROCS(0), 8) {
		x.wg.Go(func() {
			for i := range x.jobs {
				f := x.buf[i]
				x.out[i] = indexMember(f, &x.names)
				if strings.EqualFold(f.Path, "version.txt") {
					cl, err := changelog.Parse(f.Data)
					x.mu.Lock()
					x.changelog, x.changelogErr = cl, err
					x.mu.Unlock()
				}
			}
		})
	}
	return x
}

// add queues one member. It is called from one goroutine; past n members it reports an error.
func (x *indexer) add(f File) error {
	if x.n == len(x.buf) {
		return fmt.Errorf("trust list: more than the %d members announced", len(x.buf))
	}
	x.buf[x.n] = f
	x.jobs <- x.n
	x.n++
	return nil
}

// finish waits for the workers and builds the snapshot.
func (x *indexer) finish() (*Snapshot, error) {
	close(x.jobs)
	x.wg.Wait()
	files, members := x.buf[:x.n], x.out[:x.n]
	order := make([]int, len(files))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return files[order[a]].Path < files[order[b]].Path })
	s := &Snapshot{Members: make([]Member, len(files)), AIKHosts: []AIKHost{}, EKCAs: []EKCA{}, Anomalies: []Anomaly{}}
	for i, o := range order {
		s.Members[i] = members[o]
		if i > 0 && s.Members[i].Path == s.Members[i-1].Path {
			return nil, fmt.Errorf("trust list: member %q appears twice", s.Members[i].Path)
		}
	}
	switch {
	case x.changelogErr != nil:
		s.Anomalies = append(s.Anomalies, Anomaly{Kind: "bad_changelog", Path: "version.txt", Detail: x.changelogErr.Error()})
	case x.changelog != nil:
		s.Changelog = x.changelog
		s.VersionDate = x.changelog.LastUpdated
	}
	for _, m := range s.Members {
		if m.ParseError != "" {
			s.Anomalies = append(s.Anomalies, Anomaly{Kind: AnomalyUnparseable, Path: m.Path, Detail: m.ParseError})
		}
	}
	s.indexAIKHosts()
	s.indexEKCAs()
	return s, nil
}

func indexMember(f File, names *nameCache) Member {
	sum := sha256.Sum256(f.Data)
	m := Member{Path: f.Path, Size: int64(len(f.Data)), SHA256: hex.EncodeToString(sum[:]), Kind: KindOther}
	m.VendorFolder, m.Role = folderRole(f.Path)
	if !m.IsCertificateFile() {
		return m
	}
	if ci, err := readCertInfo(f.Data, m.SHA256, names); err != nil {
		m.ParseError = err.Error()
	} else {
		m.Cert = ci
	}
	switch {
	case strings.EqualFold(m.VendorFolder, "Microsoft") && m.Role == RoleIntermediate:
		m.Kind = KindAIKCA
	case strings.EqualFold(m.VendorFolder, "Microsoft"):
		m.Kind = KindOther
	case m.Role == RoleRoot:
		m.Kind = KindEKRoot
	case m.Role == RoleIntermediate:
		m.Kind = KindEKIntermediate
	}
	return m
}

// folderRole returns a member's top-level vendor folder and, when its second component is
// RootCA or IntermediateCA (any case), that role.
func folderRole(p string) (vendor, role string) {
	parts := strings.Split(p, "/")
	if len(parts) < 2 {
		return "", ""
	}
	vendor = parts[0]
	if len(parts) >= 3 {
		switch strings.ToLower(parts[1]) {
		case "rootca":
			role = RoleRoot
		case "intermediateca":
			role = RoleIntermediate
		}
	}
	return vendor, role
}

func (s *Snapshot) indexAIKHosts() {
	hosts := map[string]*AIKHost{}
	for _, m := range s.Members {
		if m.Kind != KindAIKCA {
			continue
		}
		base := path.Base(m.Path)
		fromFile, fileErr := ParseAIKName(base)
		var name AIKName
		switch {
		case m.Cert != nil:
			var err error
			name, err = ParseAIKName(m.Cert.SubjectCN)
			if err != nil {
				if fileErr != nil {
					s.Anomalies = append(s.Anomalies, Anomaly{Kind: AnomalyBadAIKName, Path: m.Path,
						Detail: fmt.Sprintf("neither the subject CN nor the file name is an AIK CA name: %v", err)})
					continue
				}
				s.Anomalies = append(s.Anomalies, Anomaly{Kind: AnomalyBadAIKName, Path: m.Path,
					Detail: fmt.Sprintf("subject CN %q is not an AIK CA name; host taken from the file name", m.Cert.SubjectCN)})
				name = fromFile
			} else if fileErr != nil {
				s.Anomalies = append(s.Anomalies, Anomaly{Kind: AnomalyNameMismatch, Path: m.Path,
					Detail: fmt.Sprintf("file name is not an AIK CA name (%v); host taken from subject CN %q", fileErr, m.Cert.SubjectCN)})
			} else if fromFile.Host() != name.Host() {
				s.Anomalies = append(s.Anomalies, Anomaly{Kind: AnomalyNameMismatch, Path: m.Path, Host: name.Host(),
					Detail: fmt.Sprintf("file name names %s-%s-%s (%d hex digits) but subject CN %q names %s; the CN is used",
						fromFile.Vendor, fromFile.IDKind, fromFile.ID, len(fromFile.ID), m.Cert.SubjectCN, name.Host())})
			}
			if fileErr == nil {
				name.Generation = fromFile.Generation
			}
		case fileErr == nil:
			name = fromFile // unparseable certificate: its file name is all there is
		default:
			s.Anomalies = append(s.Anomalies, Anomaly{Kind: AnomalyBadAIKName, Path: m.Path, Detail: fileErr.Error()})
			continue
		}
		if !name.Valid() {
			s.Anomalies = append(s.Anomalies, Anomaly{Kind: AnomalyBadAIKName, Path: m.Path, Host: name.Host(),
				Detail: fmt.Sprintf("id has %d hex digits, want 40", len(name.ID))})
		}
		h := hosts[name.Host()]
		if h == nil {
			h = &AIKHost{Host: name.Host(), Vendor: name.Vendor, IDKind: name.IDKind, ID: name.ID}
			hosts[h.Host] = h
		}
		h.Files = append(h.Files, m.Path)
		if name.Region != "" && !slices.Contains(h.Regions, name.Region) {
			h.Regions = append(h.Regions, name.Region)
		}
		if m.Cert != nil && m.Cert.NotAfter.After(h.LatestNotAfter) {
			h.LatestNotAfter = m.Cert.NotAfter
		}
	}
	for _, h := range hosts {
		sort.Strings(h.Regions)
		s.AIKHosts = append(s.AIKHosts, *h)
	}
	sort.Slice(s.AIKHosts, func(i, j int) bool { return s.AIKHosts[i].Host < s.AIKHosts[j].Host })
}

func (s *Snapshot) indexEKCAs() {
	byID := map[string][]int{} // idkind+":"+id -> AIK host indexes
	for i, h := range s.AIKHosts {
		k := h.IDKind + ":" + h.ID
		byID[k] = append(byID[k], i)
	}
	for _, m := range s.Members {
		if (m.Kind != KindEKRoot && m.Kind != KindEKIntermediate) || m.Cert == nil {
			continue
		}
		c := m.Cert
		e := EKCA{Path: m.Path, VendorFolder: m.VendorFolder, Role: m.Role, Subject: c.Subject, SKI: c.SKI,
			NameID: c.NameID, NotBefore: c.NotBefore, NotAfter: c.NotAfter, SignatureAlgorithm: c.SignatureAlgorithm,
			AIA: c.AIA, CRL: c.CRL}
		var idx []int
		if c.SKI != "" {
			idx = append(idx, byID["keyid:"+c.SKI]...)
		}
		idx = append(idx, byID["nameid:"+c.NameID]...)
		for _, i := range idx {
			e.AIKHosts = append(e.AIKHosts, s.AIKHosts[i].Host)
			s.AIKHosts[i].EKCAs = append(s.AIKHosts[i].EKCAs, m.Path)
		}
		sort.Strings(e.AIKHosts)
		if len(e.AIKHosts) > 0 {
			e.AIKHost = e.AIKHosts[0]
		}
		if len(e.AIKHosts) < 2 {
			e.AIKHosts = nil
		}
		s.EKCAs = append(s.EKCAs, e)
	}
}

// memberIndex finds path in the sorted member list.
func (s *Snapshot) memberIndex(p string) (int, bool) {
	i := sort.Search(len(s.Members), func(i int) bool { return s.Members[i].Path >= p })
	return i, i < len(s.Members) && s.Members[i].Path == p
}
