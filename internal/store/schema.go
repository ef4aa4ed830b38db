package store

import (
	"encoding/json"
	"fmt"
	"log/slog"

	bolt "go.etcd.io/bbolt"
)

// keySchemaVersion holds the schema version in the meta bucket.
const keySchemaVersion = "schema_version"

// baseVersion is the version of the layout [createBase] makes.
const baseVersion = 1

// migration moves the layout from version From to From+1. It runs inside Open's transaction
// and must only use btx.
type migration struct {
	From int
	Name string
	Up   func(btx *bolt.Tx) error
}

// migrations are applied in order; migrations[i] has From == baseVersion+i. Append new ones
// at the end, never change or remove old ones.
var migrations = []migration{}

// SchemaVersion returns the schema version this build writes.
func SchemaVersion() int { return baseVersion + len(migrations) }

// baseBuckets are the buckets of the version-1 layout.
var baseBuckets = []string{
	bucketMeta, bucketState, bucketBlobs, bucketReleases, bucketReleaseOrder, bucketDiffs,
	bucketHosts, bucketEKServices,
}

// migrate brings the file to [SchemaVersion]: a new file gets the base layout and then every
// migration, so new and upgraded files go through the same steps.
func migrate(btx *bolt.Tx, log *slog.Logger) error {
	v, err := schemaVersion(btx)
	if err != nil {
		return err
	}
	if v == 0 {
		empty := true
		btx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			empty = false
			return nil
		})
		if !empty {
			return fmt.Errorf("not an aikwatch store: buckets but no %s/%s", bucketMeta, keySchemaVersion)
		}
		for _, name := range baseBuckets {
			if _, err := btx.CreateBucket([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		v = baseVersion
		if err := putSchemaVersion(btx, v); err != nil {
			return err
		}
	}
	want := SchemaVersion()
	if v > want {
		return fmt.Errorf("%w: the file is at schema version %d, this build supports up to %d; use the aikwatch that wrote it or another data directory", ErrNewerSchema, v, want)
	}
	for _, m := range migrations {
		if m.From < v {
			continue
		}
		if m.From != v {
			return fmt.Errorf("no migration from schema version %d (next registered is from %d)", v, m.From)
		}
		if err := m.Up(btx); err != nil {
			return fmt.Errorf("migrating schema %d→%d (%s): %w", m.From, m.From+1, m.Name, err)
		}
		v = m.From + 1
		if err := putSchemaVersion(btx, v); err != nil {
			return err
		}
		log.Info("store schema migrated", "to", v, "migration", m.Name)
	}
	// Buckets the layout needs may have been deleted by hand; recreate rather than fail later.
	for _, name := range baseBuckets {
		if _, err := btx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// schemaVersion returns the file's schema version, 0 when it has none.
func schemaVersion(btx *bolt.Tx) (int, error) {
	b := btx.Bucket([]byte(bucketMeta))
	if b == nil {
		return 0, nil
	}
	raw := b.Get([]byte(keySchemaVersion))
	if raw == nil {
		return 0, nil
	}
	var v int
	if err := json.Unmarshal(raw, &v); err != nil || v < 1 {
		return 0, fmt.Errorf("%s/%s: not a schema version: %q", bucketMeta, keySchemaVersion, raw)
	}
	return v, nil
}

func putSchemaVersion(btx *bolt.Tx, v int) error {
	b, err := btx.CreateBucketIfNotExists([]byte(bucketMeta))
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketMeta, err)
	}
	if err := b.Put([]byte(keySchemaVersion), fmt.Appendf(nil, "%d", v)); err != nil {
		return fmt.Errorf("put %s/%s: %w", bucketMeta, keySchemaVersion, err)
	}
	return nil
}
