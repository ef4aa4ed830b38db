package store

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aikwatch/aikwatch/internal/state"
)

// rawVersion reads meta/schema_version straight from the file.
func rawVersion(t *testing.T, path string) string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	db.View(func(btx *bolt.Tx) error {
		if b := btx.Bucket([]byte(bucketMeta)); b != nil {
			v = string(b.Get([]byte(keySchemaVersion)))
		}
		return nil
	})
	return v
}

func TestSchemaFresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", FileName)
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Path() != path {
		t.Errorf("Path = %q; want %q", s.Path(), path)
	}
	s.Close()
	if v := rawVersion(t, path); v != "1" || SchemaVersion() != 1 {
		t.Errorf("fresh schema_version = %q, SchemaVersion() = %d; want 1", v, SchemaVersion())
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v, %v; want 0600", fi.Mode(), err)
	}
}

func TestSchemaNewerRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(btx *bolt.Tx) error {
		return btx.Bucket([]byte(bucketMeta)).Put([]byte(keySchemaVersion), []byte("999"))
	})
	db.Close()

	_, err = Open(path, Options{NoSync: true})
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("opening a schema-999 file: %v; want ErrNewerSchema", err)
	}
	for _, want := range []string{path, "schema version 999", "supports up to 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if v := rawVersion(t, path); v != "999" {
		t.Errorf("the refused file was changed: schema_version %q", v)
	}
}

func TestOpenRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte(strings.Repeat("not a bolt file\n", 1000)), 0o600)
	if _, err := Open(garbage, Options{NoSync: true}); err == nil || !strings.Contains(err.Error(), garbage) || !strings.Contains(err.Error(), "not a bbolt database") {
		t.Errorf("opening a non-bbolt file: %v; want an error naming it", err)
	}

	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(btx *bolt.Tx) error { _, err := btx.CreateBucket([]byte("widgets")); return err })
	db.Close()
	_, err = Open(foreign, Options{NoSync: true})
	if err == nil || !strings.Contains(err.Error(), "not an aikwatch store") || !strings.Contains(err.Error(), foreign) {
		t.Errorf("opening another program's bbolt file: %v", err)
	}

	bad := filepath.Join(dir, "bad-version.db")
	db, err = bolt.Open(bad, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(btx *bolt.Tx) error {
		b, _ := btx.CreateBucket([]byte(bucketMeta))
		return b.Put([]byte(keySchemaVersion), []byte("two"))
	})
	db.Close()
	if _, err := Open(bad, Options{NoSync: true}); err == nil || !strings.Contains(err.Error(), "meta/schema_version: not a schema version") {
		t.Errorf("opening a file with a bad version: %v", err)
	}
}

// withMigrations replaces the registered migrations for one test.
func withMigrations(t *testing.T, ms ...migration) {
	old := migrations
	migrations = ms
	t.Cleanup(func() { migrations = old })
}

func TestSchemaMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveHosts(fakeHosts(3, 7)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Version 2 (test only) moves every host's consecutive failures into a new bucket.
	runs := 0
	v1to2 := migration{From: 1, Name: "failures to their own bucket", Up: func(btx *bolt.Tx) error {
		runs++
		counts, err := btx.CreateBucket([]byte("host_failures"))
		if err != nil {
			return err
		}
		return btx.Bucket([]byte(bucketHosts)).ForEach(func(k, v []byte) error {
			var h struct {
				Failures int `json:"consecutive_failures"`
			}
			if err := json.Unmarshal(v, &h); err != nil {
				return err
			}
			return counts.Put(k, []byte(strings.Repeat("x", h.Failures)))
		})
	}}

	// A migration that fails leaves the file as it was.
	withMigrations(t, migration{From: 1, Name: "broken", Up: func(btx *bolt.Tx) error {
		btx.DeleteBucket([]byte(bucketHosts))
		return errors.New("disk says no")
	}})
	_, err = Open(path, Options{NoSync: true})
	if err == nil || !strings.Contains(err.Error(), "migrating schema 1→2 (broken): disk says no") || !strings.Contains(err.Error(), path) {
		t.Fatalf("a failing migration: %v", err)
	}
	if v := rawVersion(t, path); v != "1" {
		t.Fatalf("after a failed migration schema_version = %q; want 1", v)
	}

	withMigrations(t, v1to2)
	if SchemaVersion() != 2 {
		t.Fatalf("SchemaVersion with one migration = %d", SchemaVersion())
	}
	for range 2 {
		s, err := Open(path, Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		hosts, err := s.Hosts()
		if err != nil || len(hosts) != 3 {
			t.Fatalf("hosts after migrating: %d, %v", len(hosts), err)
		}
		n := 0
		s.ForEach("host_failures", func(k string, raw []byte) error {
			if string(raw) != "xxxxxxx" {
				t.Errorf("migrated %s = %q", k, raw)
			}
			n++
			return nil
		})
		if n != 3 {
			t.Errorf("migration wrote %d entries; want 3", n)
		}
		s.Close()
	}
	if runs != 1 {
		t.Errorf("the v1→v2 migration ran %d times over two opens; want once", runs)
	}
	if v := rawVersion(t, path); v != "2" {
		t.Errorf("schema_version after migrating = %q; want 2", v)
	}

	// A fresh file goes through the same migrations.
	runs = 0
	fresh := filepath.Join(t.TempDir(), FileName)
	s, err = Open(fresh, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if v := rawVersion(t, fresh); v != "2" || runs != 1 {
		t.Errorf("fresh file: schema_version %q after %d runs; want 2 after 1", v, runs)
	}

	// A gap in the registered migrations is an error, not a silent skip.
	withMigrations(t, migration{From: 3, Name: "gap", Up: func(*bolt.Tx) error { return nil }}, v1to2)
	if _, err := Open(filepath.Join(t.TempDir(), FileName), Options{NoSync: true}); err == nil || !strings.Contains(err.Error(), "no migration from schema version 1") {
		t.Errorf("a gap in migrations: %v", err)
	}
}

func TestLockedByAnotherProcess(t *testing.T) {
	s := openTest(t, Options{})
	_, err := Open(s.Path(), Options{Timeout: 50 * time.Millisecond, NoSync: true})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("opening a file already open: %v; want ErrLocked", err)
	}
	for _, want := range []string{s.Path(), "locked by another process", "50ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// The first Store is unaffected.
	if err := s.SaveSweep(state.SweepStatus{Probed: 1}); err != nil {
		t.Error(err)
	}
}
