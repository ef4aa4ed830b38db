package trustlist

import (
	"sort"
	"time"
)

// Summary is the stable JSON form of a release (`aikwatch trustlist show --output json`, the
// daemon's /api/v1/trustlist). Fields are only ever added.
type Summary struct {
	Source            string              `json:"source"`
	Format            string              `json:"format"`
	SHA256            string              `json:"sha256"`
	Size              int64               `json:"size"`
	VersionDate       string              `json:"version_date"` // YYYY-MM-DD
	Signature         Signature           `json:"signature"`
	Members           int                 `json:"members"`
	Certificates      int                 `json:"certificates"`
	Counts            []Count             `json:"counts"` // certificates by vendor folder and kind
	Unparseable       []Unparseable       `json:"unparseable"`
	AIKHosts          []AIKHost           `json:"aik_hosts"`
	EKCAs             []EKCA              `json:"ek_cas"`
	Coverage          Coverage            `json:"coverage"`
	Anomalies         []Anomaly           `json:"anomalies"`
	ShippedButRemoved []ChangelogMismatch `json:"changelog_removed_but_shipped"`
	ChangelogEntries  int                 `json:"changelog_entries"`
}

// Count is the number of members of one vendor folder and kind.
type Count struct {
	VendorFolder string `json:"vendor_folder"`
	Kind         Kind   `json:"kind"`
	Count        int    `json:"count"`
}

// Unparseable is a certificate file that did not parse, with the parser's error.
type Unparseable struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// Summary returns the release's stable JSON form.
func (s *Snapshot) Summary() Summary {
	out := Summary{
		Source: s.Source, Format: s.Format, SHA256: s.SHA256, Size: s.Size,
		VersionDate: DateString(s.VersionDate), Signature: s.Signature,
		Members: len(s.Members), Certificates: s.CertificateCount(),
		Counts: s.Counts(), Unparseable: []Unparseable{},
		AIKHosts: s.AIKHosts, EKCAs: s.EKCAs, Coverage: s.Coverage(), Anomalies: s.Anomalies,
		ShippedButRemoved: s.ShippedButRemoved(),
	}
	for _, m := range s.Unparseable() {
		out.Unparseable = append(out.Unparseable, Unparseable{Path: m.Path, Error: m.ParseError})
	}
	if s.Changelog != nil {
		out.ChangelogEntries = len(s.Changelog.Entries)
	}
	return out
}

// Counts returns the number of members by vendor folder and kind, sorted.
func (s *Snapshot) Counts() []Count {
	type key struct {
		v string
		k Kind
	}
	n := map[key]int{}
	for _, m := range s.Members {
		n[key{m.VendorFolder, m.Kind}]++
	}
	out := make([]Count, 0, len(n))
	for k, c := range n {
		out = append(out, Count{VendorFolder: k.v, Kind: k.k, Count: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].VendorFolder != out[j].VendorFolder {
			return out[i].VendorFolder < out[j].VendorFolder
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// ExpiringEKCAs returns the EK CAs whose validity ends within d of now (already expired
// included), soonest first.
func (s *Snapshot) ExpiringEKCAs(now time.Time, d time.Duration) []EKCA {
	var out []EKCA
	for _, e := range s.EKCAs {
		if e.NotAfter.Before(now.Add(d)) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NotAfter.Before(out[j].NotAfter) })
	return out
}
