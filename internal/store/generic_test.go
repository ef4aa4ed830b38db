package store

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// alert stands for what the alerts feature will keep.
type alert struct {
	Rule  string    `json:"rule"`
	Since time.Time `json:"since"`
	Seq   uint64    `json:"seq,omitempty"`
}

func TestGenericPrimitives(t *testing.T) {
	s := openTest(t, Options{})
	var a alert
	if found, err := s.Get("alerts", "x", &a); err != nil || found {
		t.Fatalf("Get from a missing bucket = %v, %v; want false, nil", found, err)
	}
	if err := s.ForEach("alerts", func(string, []byte) error { return errors.New("called") }); err != nil {
		t.Fatalf("ForEach over a missing bucket: %v", err)
	}
	if err := s.Delete("alerts", "x"); err != nil {
		t.Fatalf("Delete from a missing bucket: %v", err)
	}
	for _, k := range []string{"withdrawn/b", "withdrawn/a", "stale"} {
		if err := s.Put("alerts", k, alert{Rule: k, Since: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if found, err := s.Get("alerts", "withdrawn/a", &a); err != nil || !found || a != (alert{Rule: "withdrawn/a", Since: t0}) {
		t.Fatalf("Get = %v, %+v, %v", found, a, err)
	}
	var keys []string
	err := s.ForEach("alerts", func(k string, raw []byte) error {
		if !strings.Contains(string(raw), `"rule":"`+k+`"`) {
			t.Errorf("raw value of %s = %s; want its JSON", k, raw)
		}
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "keys in order", keys, []string{"stale", "withdrawn/a", "withdrawn/b"})
	stop := errors.New("stop")
	n := 0
	if err := s.ForEach("alerts", func(string, []byte) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("ForEach stopping = %v after %d calls; want fn's error after 1", err, n)
	}
	if err := s.Delete("alerts", "stale"); err != nil {
		t.Fatal(err)
	}
	if found, _ := s.Get("alerts", "stale", &a); found {
		t.Error("deleted key still found")
	}

	// Bad names, undecodable values and the store's own buckets are refused.
	if err := s.Put("", "k", 1); err == nil || !strings.Contains(err.Error(), "empty bucket name") {
		t.Errorf("Put with an empty bucket: %v", err)
	}
	if err := s.Put("alerts", "", 1); err == nil || !strings.Contains(err.Error(), "put alerts/: empty key") {
		t.Errorf("Put with an empty key: %v", err)
	}
	if err := s.Put("alerts", "f", func() {}); err == nil || !strings.Contains(err.Error(), "put alerts/f: encoding") {
		t.Errorf("Put of a func: %v", err)
	}
	var i int
	if _, err := s.Get("alerts", "withdrawn/a", &i); err == nil || !strings.Contains(err.Error(), "get alerts/withdrawn/a: decoding") {
		t.Errorf("Get into the wrong type: %v", err)
	}
	for _, b := range []string{"hosts", "releases", "blobs", "meta", "state"} {
		if err := s.Put(b, "k", 1); !errors.Is(err, ErrReserved) {
			t.Errorf("Put into %s: %v; want ErrReserved", b, err)
		}
		if err := s.Delete(b, "k"); !errors.Is(err, ErrReserved) {
			t.Errorf("Delete from %s: %v; want ErrReserved", b, err)
		}
	}
	// ... but can be read.
	if err := s.SaveHosts(fakeHosts(2, 0)); err != nil {
		t.Fatal(err)
	}
	n = 0
	if err := s.ForEach("hosts", func(string, []byte) error { n++; return nil }); err != nil || n != 2 {
		t.Errorf("ForEach over hosts = %d, %v", n, err)
	}
}

func TestUpdateAtomicAndSequences(t *testing.T) {
	s := openTest(t, Options{})
	// An outbox: each notification under the next sequence number, and the alert that caused
	// it, written together.
	enqueue := func(rule string, fail bool) error {
		return s.Update(func(tx *Tx) error {
			n, err := tx.NextSequence("outbox")
			if err != nil {
				return err
			}
			if err := tx.Put("outbox", SeqKey(n), alert{Rule: rule, Seq: n}); err != nil {
				return err
			}
			if err := tx.Put("alerts", rule, alert{Rule: rule, Seq: n}); err != nil {
				return err
			}
			if fail {
				return errors.New("receiver config broken")
			}
			return nil
		})
	}
	for i, rule := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"} {
		if err := enqueue(rule, i == 4); (err != nil) != (i == 4) {
			t.Fatalf("enqueue %s: %v", rule, err)
		}
	}
	var found bool
	var a alert
	if found, _ = s.Get("alerts", "e", &a); found {
		t.Error("the failed Update left its alert")
	}
	var keys []string
	var seqs []uint64
	s.ForEach("outbox", func(k string, raw []byte) error {
		keys = append(keys, k)
		return nil
	})
	err := s.View(func(tx *Tx) error {
		return tx.ForEach("outbox", func(k string, _ []byte) error {
			var a alert
			if _, err := tx.Get("outbox", k, &a); err != nil {
				return err
			}
			seqs = append(seqs, a.Seq)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	// The failed Update's sequence number was rolled back with it.
	if len(keys) != 10 || !slices.IsSorted(seqs) || seqs[9] != 10 {
		t.Errorf("outbox keys %v, sequences %v; want 10 entries in sequence order up to 10", keys, seqs)
	}
	if SeqKey(9) >= SeqKey(10) || len(SeqKey(1)) != 20 {
		t.Errorf("SeqKey does not sort numerically: %q %q", SeqKey(9), SeqKey(10))
	}
	// A View cannot write.
	err = s.View(func(tx *Tx) error { return tx.Put("alerts", "z", 1) })
	if err == nil || !strings.Contains(err.Error(), "put alerts/z") {
		t.Errorf("Put in a View: %v", err)
	}
	err = s.Update(func(tx *Tx) error { _, err := tx.NextSequence("releases"); return err })
	if !errors.Is(err, ErrReserved) {
		t.Errorf("NextSequence of a reserved bucket: %v", err)
	}
}
