package trustlist

import (
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/trustlist/changelog"
)

// Diff is what changed from one release to the next.
type Diff struct {
	From                ReleaseRef          `json:"from"`
	To                  ReleaseRef          `json:"to"`
	Added               []MemberChange      `json:"added"`
	Removed             []MemberChange      `json:"removed"`
	Changed             []MemberChange      `json:"changed"`
	AIKHostsWithdrawn   []string            `json:"aik_hosts_withdrawn"` // no AIK CA certificate left for the host
	AIKHostsAdded       []string            `json:"aik_hosts_added"`
	EKCAsRemoved        []EKCAChange        `json:"ek_cas_removed"`
	EKCAsAdded          []EKCAChange        `json:"ek_cas_added"`
	Changelog           []changelog.Entry   `json:"changelog"` // entries of the new release dated after the old one, newest first
	ChangelogMismatches []ChangelogMismatch `json:"changelog_mismatches"`
}

// ReleaseRef identifies a release in a diff.
type ReleaseRef struct {
	SHA256      string `json:"sha256"`
	VersionDate string `json:"version_date"` // YYYY-MM-DD, "" if unknown
}

// MemberChange is one member added, removed or changed (same path, new bytes).
type MemberChange struct {
	Path string `json:"path"`
	Kind Kind   `json:"kind"`
}

// EKCAChange is an EK CA certificate that appeared in or disappeared from a release,
// identified by its fingerprint (so a renamed file is neither).
type EKCAChange struct {
	Path         string    `json:"path"`
	VendorFolder string    `json:"vendor_folder"`
	Subject      string    `json:"subject"`
	SKI          string    `json:"ski,omitempty"`
	NotAfter     time.Time `json:"not_after"`
	AIKHost      string    `json:"aik_host,omitempty"`
}

// ChangelogMismatch is a place where version.txt and the shipped members disagree.
type ChangelogMismatch struct {
	Kind    string `json:"kind"`              // see the Mismatch* constants
	Item    string `json:"item,omitempty"`    // the changelog item, as written
	Path    string `json:"path,omitempty"`    // the member concerned
	Date    string `json:"date,omitempty"`    // the changelog entry's date, YYYY-MM-DD
	Section string `json:"section,omitempty"` // the section header, as written
}

// Changelog mismatch kinds.
const (
	MismatchRemovedButShipped = "removed_but_shipped"       // listed as removed, still in the new release
	MismatchRemovedNoEntry    = "removed_without_changelog" // gone from the release, no changelog line says so
	MismatchAddedNotShipped   = "added_but_not_shipped"     // listed as added, not in the new release
)

// Ref returns the release's identity for diffs and summaries.
func (s *Snapshot) Ref() ReleaseRef {
	return ReleaseRef{SHA256: s.SHA256, VersionDate: DateString(s.VersionDate)}
}

// DateString formats a date as YYYY-MM-DD, or "" for the zero time.
func DateString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// Compare says what changed from old to new.
func Compare(old, new *Snapshot) *Diff {
	d := &Diff{
		From: old.Ref(), To: new.Ref(),
		Added: []MemberChange{}, Removed: []MemberChange{}, Changed: []MemberChange{},
		AIKHostsWithdrawn: []string{}, AIKHostsAdded: []string{},
		EKCAsRemoved: []EKCAChange{}, EKCAsAdded: []EKCAChange{},
		Changelog: []changelog.Entry{}, ChangelogMismatches: []ChangelogMismatch{},
	}
	i, j := 0, 0
	for i < len(old.Members) || j < len(new.Members) {
		switch {
		case j == len(new.Members) || i < len(old.Members) && old.Members[i].Path < new.Members[j].Path:
			d.Removed = append(d.Removed, MemberChange{Path: old.Members[i].Path, Kind: old.Members[i].Kind})
			i++
		case i == len(old.Members) || new.Members[j].Path < old.Members[i].Path:
			d.Added = append(d.Added, MemberChange{Path: new.Members[j].Path, Kind: new.Members[j].Kind})
			j++
		default:
			if old.Members[i].SHA256 != new.Members[j].SHA256 {
				d.Changed = append(d.Changed, MemberChange{Path: new.Members[j].Path, Kind: new.Members[j].Kind})
			}
			i++
			j++
		}
	}
	oldHosts, newHosts := hostSet(old), hostSet(new)
	for h := range oldHosts {
		if !newHosts[h] {
			d.AIKHostsWithdrawn = append(d.AIKHostsWithdrawn, h)
		}
	}
	for h := range newHosts {
		if !oldHosts[h] {
			d.AIKHostsAdded = append(d.AIKHostsAdded, h)
		}
	}
	sort.Strings(d.AIKHostsWithdrawn)
	sort.Strings(d.AIKHostsAdded)
	d.EKCAsRemoved = ekcaDelta(old, new)
	d.EKCAsAdded = ekcaDelta(new, old)

	if new.Changelog != nil {
		if old.VersionDate.IsZero() {
			d.Changelog = append(d.Changelog, new.Changelog.Entries...)
		} else {
			d.Changelog = append(d.Changelog, new.Changelog.Since(old.VersionDate)...)
		}
	}
	d.ChangelogMismatches = changelogMismatches(d, new)
	return d
}

func hostSet(s *Snapshot) map[string]bool {
	m := make(map[string]bool, len(s.AIKHosts))
	for _, h := range s.AIKHosts {
		m[h.Host] = true
	}
	return m
}

// ekcaDelta returns the EK CAs of a whose certificate is not in b.
func ekcaDelta(a, b *Snapshot) []EKCAChange {
	have := map[string]bool{}
	for _, e := range b.EKCAs {
		if m, ok := b.Member(e.Path); ok && m.Cert != nil {
			have[m.Cert.Fingerprint] = true
		}
	}
	out := []EKCAChange{}
	for _, e := range a.EKCAs {
		m, ok := a.Member(e.Path)
		if !ok || m.Cert == nil || have[m.Cert.Fingerprint] {
			continue
		}
		out = append(out, EKCAChange{Path: e.Path, VendorFolder: e.VendorFolder, Subject: e.Subject, SKI: e.SKI,
			NotAfter: e.NotAfter, AIKHost: e.AIKHost})
	}
	return out
}

// changelogMismatches compares the changelog entries new to this diff with the member delta:
// items listed as removed that are still shipped, listed as added but absent, and members
// removed with no changelog line.
func changelogMismatches(d *Diff, new *Snapshot) []ChangelogMismatch {
	out := []ChangelogMismatch{}
	shipped := baseNames(new)
	mentionedRemoved := map[string]bool{}
	for _, e := range d.Changelog {
		date := DateString(e.Date)
		for _, sec := range e.Sections {
			for _, it := range sec.Items {
				key := stemKey(it.Name)
				switch sec.Action {
				case changelog.Removed, changelog.Replaced, changelog.Renamed:
					mentionedRemoved[key] = true
				}
				switch sec.Action {
				case changelog.Removed:
					if p, ok := shipped[key]; ok {
						out = append(out, ChangelogMismatch{Kind: MismatchRemovedButShipped, Item: it.Name, Path: p, Date: date, Section: sec.Header})
					}
				case changelog.Added:
					if _, ok := shipped[key]; !ok {
						out = append(out, ChangelogMismatch{Kind: MismatchAddedNotShipped, Item: it.Name, Date: date, Section: sec.Header})
					}
				}
			}
		}
	}
	for _, r := range d.Removed {
		if r.Kind == KindOther {
			continue
		}
		if !mentionedRemoved[stemKey(path.Base(r.Path))] {
			out = append(out, ChangelogMismatch{Kind: MismatchRemovedNoEntry, Path: r.Path})
		}
	}
	return out
}

// ShippedButRemoved lists the items the release's own changelog, at any date, says were
// removed (and not re-added on a later date) while the release still ships them.
func (s *Snapshot) ShippedButRemoved() []ChangelogMismatch {
	out := []ChangelogMismatch{}
	if s.Changelog == nil {
		return out
	}
	shipped := baseNames(s)
	type last struct {
		action  changelog.Action
		item    string
		date    time.Time
		section string
	}
	state := map[string]last{}
	entries := slices.Clone(s.Changelog.Entries)
	slices.Reverse(entries) // oldest first, so the newest action wins
	// Same-day entries are not reliably ordered in version.txt (05-May-2024 has an "Added" and
	// a "Removed" entry naming the same AIK CAs), so within one date a removal wins.
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Date.Before(entries[j].Date) })
	for i := 0; i < len(entries); {
		j := i
		for j < len(entries) && entries[j].Date.Equal(entries[i].Date) {
			j++
		}
		for _, action := range []changelog.Action{changelog.Added, changelog.Removed} {
			for _, e := range entries[i:j] {
				for _, sec := range e.Sections {
					if sec.Action != action {
						continue
					}
					for _, it := range sec.Items {
						state[stemKey(it.Name)] = last{sec.Action, it.Name, e.Date, sec.Header}
					}
				}
			}
		}
		i = j
	}
	for key, l := range state {
		if p, ok := shipped[key]; ok && l.action == changelog.Removed {
			out = append(out, ChangelogMismatch{Kind: MismatchRemovedButShipped, Item: l.item, Path: p, Date: DateString(l.date), Section: l.section})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// baseNames maps the case-folded stem of every certificate member's base name to its path.
func baseNames(s *Snapshot) map[string]string {
	m := make(map[string]string, len(s.Members))
	for _, mem := range s.Members {
		if mem.Kind == KindOther {
			continue
		}
		m[stemKey(path.Base(mem.Path))] = mem.Path
	}
	return m
}

// stemKey folds a file name for matching changelog items: lower case, certificate extension
// removed.
func stemKey(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if hasCertExt(n) {
		n = n[:strings.LastIndexByte(n, '.')]
	}
	return n
}
