package exporter

import (
	"time"

	"github.com/aikwatch/aikwatch/trustlist"
)

// History gives the trust-list releases the daemon has seen and the diffs between them. The
// daemon adapts its store to it for /api/v1/trustlist/history.
type History interface {
	// Releases returns every release the daemon has kept, newest first.
	Releases() ([]ReleaseInfo, error)
	// Diffs returns at most limit release changes, newest first.
	Diffs(limit int) ([]DiffInfo, error)
}

// ReleaseInfo describes one trust-list release the daemon has downloaded.
type ReleaseInfo struct {
	SHA256      string              `json:"sha256"`
	VersionDate string              `json:"version_date"` // YYYY-MM-DD from version.txt, "" if absent
	Size        int64               `json:"size,omitempty"`
	Source      string              `json:"source,omitempty"`
	FetchedAt   time.Time           `json:"fetched_at,omitzero"`   // first downloaded
	CommittedAt time.Time           `json:"committed_at,omitzero"` // put in force; zero if it never was (refused)
	Signature   trustlist.Signature `json:"signature"`
	Refused     string              `json:"refused,omitempty"` // why it was not committed
	// Current is set by the API for the release in force; the History need not fill it.
	Current bool `json:"current"`
}

// DiffInfo is one release replacing another.
type DiffInfo struct {
	At   time.Time            `json:"at"` // when the new release was committed
	From trustlist.ReleaseRef `json:"from"`
	To   trustlist.ReleaseRef `json:"to"`
	Diff *trustlist.Diff      `json:"diff"`
}

// HistoryResponse is the body of GET /api/v1/trustlist/history.
type HistoryResponse struct {
	Releases []ReleaseInfo `json:"releases"` // newest first
	Diffs    []DiffInfo    `json:"diffs"`    // newest first, at most the limit asked for
}
