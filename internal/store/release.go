package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aikwatch/aikwatch/trustlist"
)

// ReleaseRecord is what the store keeps of a committed trust-list release besides its bytes.
type ReleaseRecord struct {
	SHA256       string              `json:"sha256"` // of the cab bytes, lower-case hex: the release's identity
	VersionDate  time.Time           `json:"version_date"`
	Source       string              `json:"source"`
	Size         int64               `json:"size"`
	Format       string              `json:"format"`
	Signature    trustlist.Signature `json:"signature"`
	FetchedAt    time.Time           `json:"fetched_at,omitzero"`
	CommittedAt  time.Time           `json:"committed_at"` // of the latest commit; set by the store when zero
	ETag         string              `json:"etag,omitempty"`
	LastModified string              `json:"last_modified,omitempty"`
	Members      int                 `json:"members"`
	Certificates int                 `json:"certificates"`
	AIKHosts     int                 `json:"aik_hosts"`
	EKCAs        int                 `json:"ek_cas"`
	// Stored reports whether the cab bytes are still held (see [Options.KeepReleases]). It is
	// filled in when read; what is written is ignored.
	Stored bool `json:"stored"`
}

// DiffRecord is one release replacing another.
type DiffRecord struct {
	At   time.Time       `json:"at"`   // when To was committed
	From string          `json:"from"` // sha256 of the release replaced
	To   string          `json:"to"`   // sha256 of the release committed
	Diff *trustlist.Diff `json:"diff"`
}

// storedRelease is a record as kept in the releases bucket: with the key of its entry in
// release_order.
type storedRelease struct {
	ReleaseRecord
	Order uint64 `json:"order"`
}

// CommitRelease records rel as the current release, with its cab bytes (stored once per
// SHA-256) and diff, the change from the previous current release. See [Tx.CommitRelease].
func (s *Store) CommitRelease(rel ReleaseRecord, cab []byte, diff *trustlist.Diff) (bool, error) {
	var changed bool
	err := s.Update(func(tx *Tx) (err error) {
		changed, err = tx.CommitRelease(rel, cab, diff)
		return err
	})
	return changed, err
}

// CommitRelease records rel as the current release, in this transaction: its record, its cab
// bytes unless already stored, its place at the top of the release history, the diff from the
// previous current release, and retention pruning. It reports whether anything changed:
// committing the current release again is a no-op returning false.
//
// cab must hash to rel.SHA256; it may be nil when the store already holds those bytes. diff
// must be nil for the first release; for later ones nil records no diff, and a diff whose
// From or To names another release is refused. A release committed before (not the current
// one) moves to the top of the history, its record replaced by rel: the history lists each
// release once, at its latest commit.
func (tx *Tx) CommitRelease(rel ReleaseRecord, cab []byte, diff *trustlist.Diff) (bool, error) {
	sha := strings.ToLower(rel.SHA256)
	if !isSHA256(sha) {
		return false, fmt.Errorf("store: commit release: %q is not a SHA-256 in hex", rel.SHA256)
	}
	rel.SHA256, rel.Stored = sha, false
	fail := func(format string, a ...any) (bool, error) {
		return false, fmt.Errorf("store: commit release %s: %s", sha, fmt.Sprintf(format, a...))
	}
	order, blobs, recs, diffs, err := tx.releaseBuckets()
	if err != nil {
		return false, err
	}
	curSeq, curSHA := lastOrder(order)
	if curSHA == sha {
		return false, nil
	}
	if diff != nil {
		switch {
		case curSHA == "":
			return fail("a diff was given but no release is current")
		case diff.From.SHA256 != "" && !strings.EqualFold(diff.From.SHA256, curSHA):
			return fail("the diff is from %s, but the current release is %s", diff.From.SHA256, curSHA)
		case diff.To.SHA256 != "" && !strings.EqualFold(diff.To.SHA256, sha):
			return fail("the diff is to %s", diff.To.SHA256)
		}
	}
	if cab != nil {
		if sum := sha256.Sum256(cab); hex.EncodeToString(sum[:]) != sha {
			return fail("the bytes given hash to %x", sum)
		}
	}
	if blobs.Get([]byte(sha)) == nil {
		if cab == nil {
			return fail("no bytes given and none stored")
		}
		if err := blobs.Put([]byte(sha), bytes.Clone(cab)); err != nil {
			return fail("put %s/%s: %v", bucketBlobs, sha, err)
		}
	}
	if raw := recs.Get([]byte(sha)); raw != nil { // committed before: leave its old place
		var old storedRelease
		if err := json.Unmarshal(raw, &old); err != nil {
			return fail("decoding %s/%s: %v", bucketReleases, sha, err)
		}
		k := seqKey(old.Order)
		if string(order.Get(k)) == sha {
			if err := order.Delete(k); err != nil {
				return fail("delete %s/%d: %v", bucketReleaseOrder, old.Order, err)
			}
		}
	}
	seq, err := order.NextSequence()
	if err != nil {
		return fail("next sequence of %s: %v", bucketReleaseOrder, err)
	}
	if seq <= curSeq { // a sequence reset by hand would reorder history
		return fail("%s sequence %d is not after the current entry %d", bucketReleaseOrder, seq, curSeq)
	}
	if rel.CommittedAt.IsZero() {
		rel.CommittedAt = time.Now().UTC()
	}
	raw, err := json.Marshal(storedRelease{ReleaseRecord: rel, Order: seq})
	if err != nil {
		return fail("encoding the record: %v", err)
	}
	if err := recs.Put([]byte(sha), raw); err != nil {
		return fail("put %s/%s: %v", bucketReleases, sha, err)
	}
	if err := order.Put(seqKey(seq), []byte(sha)); err != nil {
		return fail("put %s/%d: %v", bucketReleaseOrder, seq, err)
	}
	if diff != nil {
		dseq, err := diffs.NextSequence()
		if err != nil {
			return fail("next sequence of %s: %v", bucketDiffs, err)
		}
		raw, err := json.Marshal(DiffRecord{At: rel.CommittedAt, From: curSHA, To: sha, Diff: diff})
		if err != nil {
			return fail("encoding the diff: %v", err)
		}
		if err := diffs.Put(seqKey(dseq), raw); err != nil {
			return fail("put %s/%d: %v", bucketDiffs, dseq, err)
		}
	}
	if err := prune(tx.tx, tx.opts, tx.log); err != nil {
		return false, fmt.Errorf("store: commit release %s: %w", sha, err)
	}
	return true, nil
}

// Current returns the record of the current release (the last committed), or nil when none
// was ever committed.
func (s *Store) Current() (*ReleaseRecord, error) {
	var rec *ReleaseRecord
	err := s.View(func(tx *Tx) (err error) {
		rec, err = tx.Current()
		return err
	})
	return rec, err
}

// Current returns the record of the current release, or nil when none was ever committed.
func (tx *Tx) Current() (*ReleaseRecord, error) {
	order, blobs, recs, _, err := tx.releaseBuckets()
	if err != nil {
		return nil, err
	}
	seq, sha := lastOrder(order)
	if sha == "" {
		return nil, nil
	}
	r, err := readRecord(recs, blobs, seq, sha)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// ReleaseBytes returns the cab bytes of the release sha256; the error wraps [ErrNotFound]
// when they were never stored or have been pruned.
func (s *Store) ReleaseBytes(sha string) ([]byte, error) {
	var out []byte
	err := s.View(func(tx *Tx) error {
		b := tx.tx.Bucket([]byte(bucketBlobs))
		if b == nil {
			return fmt.Errorf("store: release bytes: bucket %s missing", bucketBlobs)
		}
		v := b.Get([]byte(strings.ToLower(sha)))
		if v == nil {
			return fmt.Errorf("store: release bytes %s/%s: %w (never stored, or pruned)", bucketBlobs, sha, ErrNotFound)
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

// Release returns the record of the release sha256; the error wraps [ErrNotFound] when it
// was never committed.
func (s *Store) Release(sha string) (ReleaseRecord, error) {
	var r ReleaseRecord
	err := s.View(func(tx *Tx) error {
		_, blobs, recs, _, err := tx.releaseBuckets()
		if err != nil {
			return err
		}
		sha = strings.ToLower(sha)
		if recs.Get([]byte(sha)) == nil {
			return fmt.Errorf("store: release %s/%s: %w", bucketReleases, sha, ErrNotFound)
		}
		r, err = readRecord(recs, blobs, 0, sha)
		return err
	})
	return r, err
}

// Releases returns every release ever committed, the most recently committed first (so the
// current one first). Each release appears once, at its latest commit.
func (s *Store) Releases() ([]ReleaseRecord, error) {
	out := []ReleaseRecord{}
	err := s.View(func(tx *Tx) error {
		order, blobs, recs, _, err := tx.releaseBuckets()
		if err != nil {
			return err
		}
		c := order.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			r, err := readRecord(recs, blobs, binary.BigEndian.Uint64(k), string(v))
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// Diffs returns the newest limit diffs (all kept ones when limit <= 0), newest first.
func (s *Store) Diffs(limit int) ([]DiffRecord, error) {
	out := []DiffRecord{}
	err := s.View(func(tx *Tx) error {
		_, _, _, diffs, err := tx.releaseBuckets()
		if err != nil {
			return err
		}
		c := diffs.Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var d DiffRecord
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("store: diffs: decoding %s/%d: %w", bucketDiffs, binary.BigEndian.Uint64(k), err)
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

func (tx *Tx) releaseBuckets() (order, blobs, recs, diffs *bolt.Bucket, err error) {
	names := []string{bucketReleaseOrder, bucketBlobs, bucketReleases, bucketDiffs}
	bs := make([]*bolt.Bucket, len(names))
	for i, n := range names {
		if bs[i] = tx.tx.Bucket([]byte(n)); bs[i] == nil {
			return nil, nil, nil, nil, fmt.Errorf("store: bucket %s missing", n)
		}
	}
	return bs[0], bs[1], bs[2], bs[3], nil
}

// lastOrder returns the newest release_order entry, "" when there is none.
func lastOrder(order *bolt.Bucket) (uint64, string) {
	k, v := order.Cursor().Last()
	if k == nil {
		return 0, ""
	}
	return binary.BigEndian.Uint64(k), string(v)
}

// readRecord decodes releases/sha, named by release_order/seq (0: not from the order).
func readRecord(recs, blobs *bolt.Bucket, seq uint64, sha string) (ReleaseRecord, error) {
	raw := recs.Get([]byte(sha))
	if raw == nil {
		return ReleaseRecord{}, fmt.Errorf("store: %s/%d names %s, but %s/%s is missing", bucketReleaseOrder, seq, sha, bucketReleases, sha)
	}
	var r storedRelease
	if err := json.Unmarshal(raw, &r); err != nil {
		return ReleaseRecord{}, fmt.Errorf("store: decoding %s/%s: %w", bucketReleases, sha, err)
	}
	r.Stored = blobs.Get([]byte(sha)) != nil
	return r.ReleaseRecord, nil
}

// prune drops the cab bytes of releases beyond the newest opts.KeepReleases in commit order
// (the current one is always first) and the diffs beyond the newest opts.KeepDiffs.
func prune(btx *bolt.Tx, opts Options, log *slog.Logger) error {
	if opts.KeepReleases > 0 {
		order, blobs := btx.Bucket([]byte(bucketReleaseOrder)), btx.Bucket([]byte(bucketBlobs))
		if order == nil || blobs == nil {
			return errors.New("prune: release buckets missing")
		}
		var drop [][]byte
		i := 0
		c := order.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if i++; i > opts.KeepReleases && blobs.Get(v) != nil {
				drop = append(drop, bytes.Clone(v))
			}
		}
		for _, sha := range drop {
			if err := blobs.Delete(sha); err != nil {
				return fmt.Errorf("prune: delete %s/%s: %w", bucketBlobs, sha, err)
			}
			log.Debug("store: pruned release bytes", "sha256", string(sha))
		}
	}
	if opts.KeepDiffs > 0 {
		diffs := btx.Bucket([]byte(bucketDiffs))
		if diffs == nil {
			return errors.New("prune: diffs bucket missing")
		}
		var drop [][]byte
		i := 0
		c := diffs.Cursor()
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			if i++; i > opts.KeepDiffs {
				drop = append(drop, bytes.Clone(k))
			}
		}
		for _, k := range drop {
			if err := diffs.Delete(k); err != nil {
				return fmt.Errorf("prune: delete %s/%d: %w", bucketDiffs, binary.BigEndian.Uint64(k), err)
			}
		}
		if len(drop) > 0 {
			log.Debug("store: pruned diffs", "count", len(drop))
		}
	}
	return nil
}

// seqKey is the 8-byte big-endian key of the ordered buckets.
func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
