package store

import (
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The generic primitives keep JSON values under string keys in buckets named by the caller
// (alert instances, the notification outbox, silences, ...). Buckets are created on the first
// write; reading a bucket that does not exist finds nothing. The store's own buckets (see the
// package documentation) can be read but not written through them.

// SeqKey formats n as a key that sorts in numeric order (20 zero-padded digits), for buckets
// used as queues with [Tx.NextSequence].
func SeqKey(n uint64) string { return fmt.Sprintf("%020d", n) }

// Put stores v as JSON under bucket/key.
func (s *Store) Put(bucket, key string, v any) error {
	return s.Update(func(tx *Tx) error { return tx.Put(bucket, key, v) })
}

// Get decodes the JSON under bucket/key into v and reports whether it was there.
func (s *Store) Get(bucket, key string, v any) (bool, error) {
	var found bool
	err := s.View(func(tx *Tx) (err error) {
		found, err = tx.Get(bucket, key, v)
		return err
	})
	return found, err
}

// Delete removes bucket/key; removing what is not there is not an error.
func (s *Store) Delete(bucket, key string) error {
	return s.Update(func(tx *Tx) error { return tx.Delete(bucket, key) })
}

// ForEach calls fn for every key of bucket in key order, in one read transaction, and stops
// at fn's first error. raw is only valid during the call.
func (s *Store) ForEach(bucket string, fn func(key string, raw []byte) error) error {
	return s.View(func(tx *Tx) error { return tx.ForEach(bucket, fn) })
}

// Put stores v as JSON under bucket/key, creating the bucket if needed.
func (tx *Tx) Put(bucket, key string, v any) error {
	if err := checkName(bucket, key); err != nil {
		return fmt.Errorf("store: put %s/%s: %w", bucket, key, err)
	}
	if reserved[bucket] {
		return fmt.Errorf("store: put %s/%s: %w", bucket, key, ErrReserved)
	}
	return tx.putJSON(bucket, key, v)
}

// Get decodes the JSON under bucket/key into v and reports whether it was there.
func (tx *Tx) Get(bucket, key string, v any) (bool, error) {
	if err := checkName(bucket, key); err != nil {
		return false, fmt.Errorf("store: get %s/%s: %w", bucket, key, err)
	}
	return tx.getJSON(bucket, key, v)
}

// Delete removes bucket/key; removing what is not there is not an error.
func (tx *Tx) Delete(bucket, key string) error {
	if err := checkName(bucket, key); err != nil {
		return fmt.Errorf("store: delete %s/%s: %w", bucket, key, err)
	}
	if reserved[bucket] {
		return fmt.Errorf("store: delete %s/%s: %w", bucket, key, ErrReserved)
	}
	b := tx.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	if err := b.Delete([]byte(key)); err != nil {
		return fmt.Errorf("store: delete %s/%s: %w", bucket, key, err)
	}
	return nil
}

// ForEach calls fn for every key of bucket in key order and stops at fn's first error, which
// it returns unwrapped. raw is only valid during the call, and fn must not write to bucket.
func (tx *Tx) ForEach(bucket string, fn func(key string, raw []byte) error) error {
	if bucket == "" {
		return errors.New("store: for each: empty bucket name")
	}
	b := tx.tx.Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		if v == nil { // a nested bucket: not ours
			return nil
		}
		return fn(string(k), v)
	})
}

// NextSequence returns the next value of bucket's persistent counter (1, 2, ...), creating
// the bucket if needed. A value handed out in a committed transaction is never handed out
// again, even after its key is deleted; one from a rolled-back transaction is.
func (tx *Tx) NextSequence(bucket string) (uint64, error) {
	if bucket == "" {
		return 0, errors.New("store: next sequence: empty bucket name")
	}
	if reserved[bucket] {
		return 0, fmt.Errorf("store: next sequence %s: %w", bucket, ErrReserved)
	}
	b, err := tx.tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return 0, fmt.Errorf("store: next sequence %s: %w", bucket, err)
	}
	n, err := b.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("store: next sequence %s: %w", bucket, err)
	}
	return n, nil
}

func checkName(bucket, key string) error {
	switch {
	case bucket == "":
		return errors.New("empty bucket name")
	case key == "":
		return errors.New("empty key")
	case len(key) > bolt.MaxKeySize:
		return fmt.Errorf("key longer than %d bytes", bolt.MaxKeySize)
	}
	return nil
}

// putJSON stores v as JSON under bucket/key, creating the bucket if needed.
func (tx *Tx) putJSON(bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: put %s/%s: encoding: %w", bucket, key, err)
	}
	return tx.putRaw(bucket, key, raw)
}

func (tx *Tx) putRaw(bucket, key string, raw []byte) error {
	b, err := tx.tx.CreateBucketIfNotExists([]byte(bucket))
	if err != nil {
		return fmt.Errorf("store: put %s/%s: %w", bucket, key, err)
	}
	if err := b.Put([]byte(key), raw); err != nil {
		return fmt.Errorf("store: put %s/%s: %w", bucket, key, err)
	}
	return nil
}

// getJSON decodes bucket/key into v and reports whether it was there.
func (tx *Tx) getJSON(bucket, key string, v any) (bool, error) {
	b := tx.tx.Bucket([]byte(bucket))
	if b == nil {
		return false, nil
	}
	raw := b.Get([]byte(key))
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("store: get %s/%s: decoding: %w", bucket, key, err)
	}
	return true, nil
}
