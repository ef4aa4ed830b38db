// Package store persists the daemon's state in one bbolt file: every trust-list release ever
// committed (its record, and its cab bytes content-addressed by SHA-256 within the retention
// window), the history of diffs between releases, the last refresh, each AIK host's and EK
// service's state, the EK CA checks and the last sweep, plus generic JSON buckets for later
// features (alert instances, the notification outbox, silences).
//
// Every change that spans several keys is made in one bbolt transaction, so a crash (even
// SIGKILL) at any moment leaves either all of it or none of it. The schema is versioned in the
// meta bucket; [Open] migrates an older file forward in one transaction and refuses a newer
// one.
//
// Layout (bucket/key → value; values are JSON unless said otherwise):
//
//	meta/schema_version        schema version, a JSON number
//	blobs/<sha256>             a release's cab bytes (raw), while within retention
//	releases/<sha256>          ReleaseRecord of every release ever committed
//	release_order/<seq>        sha256 (raw); seq is 8-byte big-endian, the last is current
//	diffs/<seq>                DiffRecord; seq is 8-byte big-endian, oldest first
//	hosts/<host>               state.HostState
//	ek_services/<name>         state.EKServiceState
//	state/refresh              state.RefreshStatus
//	state/sweep                state.SweepStatus
//	state/ek_cas               {"at": time, "cas": []probes.EKCAStatus}
//	canaries/<name>            state.CanaryState (created by the first canary report)
//	<any other bucket>/<key>   whatever the generic primitives put there
package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the store's file name within the daemon's data directory.
const FileName = "aikwatch.db"

// Retention and locking defaults.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultKeepReleases = 50
	DefaultKeepDiffs    = 200
)

// Bucket names of the fixed layout. The generic primitives may read them but not write them.
const (
	bucketMeta         = "meta"
	bucketState        = "state"
	bucketBlobs        = "blobs"
	bucketReleases     = "releases"
	bucketReleaseOrder = "release_order"
	bucketDiffs        = "diffs"
	bucketHosts        = "hosts"
	bucketEKServices   = "ek_services"
)

// reserved are the buckets whose consistency the store maintains itself.
var reserved = map[string]bool{
	bucketMeta: true, bucketState: true, bucketBlobs: true, bucketReleases: true,
	bucketReleaseOrder: true, bucketDiffs: true, bucketHosts: true, bucketEKServices: true,
}

// Errors callers can test for with errors.Is.
var (
	// ErrNotFound: the release, or its bytes, are not in the store.
	ErrNotFound = errors.New("not found")
	// ErrLocked: another process (or another Store in this one) holds the file.
	ErrLocked = errors.New("locked by another process")
	// ErrNewerSchema: the file was written by a newer aikwatch.
	ErrNewerSchema = errors.New("schema is newer than this aikwatch supports")
	// ErrReserved: a generic write to a bucket the store maintains itself.
	ErrReserved = errors.New("bucket is reserved")
)

// Options tune [Open]. The zero value is the production setting.
type Options struct {
	// Timeout is how long Open waits for the file lock; 0 means [DefaultTimeout].
	Timeout time.Duration
	// KeepReleases is how many of the most recently committed releases keep their cab bytes;
	// 0 means [DefaultKeepReleases], negative keeps all. The current release always keeps
	// them. Release records are never pruned.
	KeepReleases int
	// KeepDiffs is how many of the newest diffs are kept; 0 means [DefaultKeepDiffs],
	// negative keeps all.
	KeepDiffs int
	// NoSync skips fsync after commits: faster, and not crash-safe against power loss. For
	// tests only.
	NoSync bool
	// Logger receives migration and pruning messages; nil discards them.
	Logger *slog.Logger
}

// Store is an open store. It is safe for concurrent use; writes are serialised.
type Store struct {
	db   *bolt.DB
	path string
	opts Options
	log  *slog.Logger
}

// Open opens (creating if needed, with its directory) the store file at path, creates the
// buckets, migrates an older schema forward and prunes beyond the retention settings, all in
// one transaction. Errors name the file.
func Open(path string, o Options) (*Store, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.KeepReleases == 0 {
		o.KeepReleases = DefaultKeepReleases
	}
	if o.KeepDiffs == 0 {
		o.KeepDiffs = DefaultKeepDiffs
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("store %s: creating directory: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout, NoSync: o.NoSync})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("store %s: %w (waited %s for the file lock; is another aikwatch running on this data directory?)", path, ErrLocked, o.Timeout)
		}
		if errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) || errors.Is(err, bolterrors.ErrVersionMismatch) {
			return nil, fmt.Errorf("store %s: not a bbolt database, or a damaged one: %w", path, err)
		}
		return nil, fmt.Errorf("store %s: open: %w", path, err)
	}
	s := &Store{db: db, path: path, opts: o, log: log}
	err = db.Update(func(btx *bolt.Tx) error {
		if err := migrate(btx, log); err != nil {
			return err
		}
		return prune(btx, o, log)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the file. The Store must not be used afterwards.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store %s: close: %w", s.path, err)
	}
	return nil
}

// Path returns the file's path as given to Open.
func (s *Store) Path() string { return s.path }

// Stats describes the store's contents, for status pages and metrics.
type Stats struct {
	SchemaVersion int   `json:"schema_version"`
	FileBytes     int64 `json:"file_bytes"`
	Releases      int   `json:"releases"`     // records, ever committed
	BlobsStored   int   `json:"blobs_stored"` // releases whose cab bytes are kept
	BlobBytes     int64 `json:"blob_bytes"`
	Diffs         int   `json:"diffs"`
	Hosts         int   `json:"hosts"`
	EKServices    int   `json:"ek_services"`
}

// Stats counts what the store holds.
func (s *Store) Stats() (Stats, error) {
	var st Stats
	err := s.db.View(func(btx *bolt.Tx) error {
		st.FileBytes = btx.Size()
		v, err := schemaVersion(btx)
		if err != nil {
			return err
		}
		st.SchemaVersion = v
		count := func(name string, fn func(v []byte)) int {
			n := 0
			if b := btx.Bucket([]byte(name)); b != nil {
				b.ForEach(func(_, v []byte) error {
					n++
					if fn != nil {
						fn(v)
					}
					return nil
				})
			}
			return n
		}
		st.Releases = count(bucketReleases, nil)
		st.BlobsStored = count(bucketBlobs, func(v []byte) { st.BlobBytes += int64(len(v)) })
		st.Diffs = count(bucketDiffs, nil)
		st.Hosts = count(bucketHosts, nil)
		st.EKServices = count(bucketEKServices, nil)
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("store %s: stats: %w", s.path, err)
	}
	return st, nil
}

// Update runs fn in one read-write transaction: everything fn writes is committed together
// when it returns nil, and nothing when it returns an error (which Update returns).
func (s *Store) Update(fn func(tx *Tx) error) error {
	return s.db.Update(func(btx *bolt.Tx) error {
		return fn(&Tx{tx: btx, opts: s.opts, log: s.log})
	})
}

// View runs fn in one read-only transaction: a consistent snapshot of the store.
func (s *Store) View(fn func(tx *Tx) error) error {
	return s.db.View(func(btx *bolt.Tx) error {
		return fn(&Tx{tx: btx, opts: s.opts, log: s.log})
	})
}

// Tx is one transaction, given to the function passed to [Store.Update] or [Store.View]. It
// must not be used after that function returns. Writes through a View's Tx fail.
type Tx struct {
	tx   *bolt.Tx
	opts Options
	log  *slog.Logger
}
