package store

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestCommitRelease(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s := openTest(t, Options{})

	if cur, err := s.Current(); err != nil || cur != nil {
		t.Fatalf("Current of an empty store = %v, %v; want nil, nil", cur, err)
	}
	rel1, cab1 := fakeRelease(r, 1)
	rel2, cab2 := fakeRelease(r, 2)

	// The first release: no diff.
	changed, err := s.CommitRelease(rel1, cab1, nil)
	if err != nil || !changed {
		t.Fatalf("first commit = %v, %v; want true, nil", changed, err)
	}
	cur, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	want1 := rel1
	want1.Stored = true
	mustEqual(t, "current after the first commit", *cur, want1)
	if got, err := s.ReleaseBytes(rel1.SHA256); err != nil || !bytes.Equal(got, cab1) {
		t.Fatalf("ReleaseBytes = %d bytes, %v; want the cab", len(got), err)
	}
	if d, err := s.Diffs(0); err != nil || len(d) != 0 {
		t.Fatalf("Diffs after the first commit = %v, %v; want none", d, err)
	}

	// The second: with its diff.
	d12 := fakeDiff(rel1.SHA256, rel2.SHA256, 2)
	if changed, err := s.CommitRelease(rel2, cab2, d12); err != nil || !changed {
		t.Fatalf("second commit = %v, %v; want true, nil", changed, err)
	}
	diffs, err := s.Diffs(0)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "diffs after the second commit", diffs, []DiffRecord{{At: rel2.CommittedAt, From: rel1.SHA256, To: rel2.SHA256, Diff: d12}})

	// The current one again: a no-op, even with other details.
	again := rel2
	again.ETag = `"other"`
	if changed, err := s.CommitRelease(again, cab2, fakeDiff(rel2.SHA256, rel2.SHA256, 9)); err != nil || changed {
		t.Fatalf("committing the current release again = %v, %v; want false, nil", changed, err)
	}
	rels, err := s.Releases()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "history", shas(rels), []string{rel2.SHA256, rel1.SHA256})
	if rels[0].ETag != rel2.ETag {
		t.Errorf("the no-op commit changed the record: ETag %s", rels[0].ETag)
	}
	if d, _ := s.Diffs(0); len(d) != 1 {
		t.Errorf("the no-op commit added a diff: %d diffs", len(d))
	}

	// The older one again, after the newer: it moves to the top, once, with its new record;
	// its bytes are already stored, so none need be given.
	back := rel1
	back.CommittedAt = rel2.CommittedAt.Add(time.Hour)
	back.ETag = `"back"`
	d21 := fakeDiff(rel2.SHA256, rel1.SHA256, 3)
	if changed, err := s.CommitRelease(back, nil, d21); err != nil || !changed {
		t.Fatalf("re-committing the older release = %v, %v; want true, nil", changed, err)
	}
	rels, err = s.Releases()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "history after the re-commit", shas(rels), []string{rel1.SHA256, rel2.SHA256})
	if rels[0].ETag != `"back"` || !rels[0].CommittedAt.Equal(back.CommittedAt) {
		t.Errorf("re-committed record = %+v; want the new details", rels[0])
	}
	if cur, _ := s.Current(); cur == nil || cur.SHA256 != rel1.SHA256 {
		t.Errorf("current = %v; want %s", cur, rel1.SHA256)
	}
	diffs, err = s.Diffs(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 2 || diffs[0].From != rel2.SHA256 || diffs[0].To != rel1.SHA256 || diffs[1].To != rel2.SHA256 {
		t.Errorf("diffs = %+v; want 2→1 then 1→2, newest first", diffs)
	}
	if d, _ := s.Diffs(1); len(d) != 1 || d[0].To != rel1.SHA256 {
		t.Errorf("Diffs(1) = %+v; want only the newest", d)
	}
	if rec, err := s.Release(rel2.SHA256); err != nil || rec.ETag != rel2.ETag || !rec.Stored {
		t.Errorf("Release(rel2) = %+v, %v", rec, err)
	}
	if _, err := s.Release(strings.Repeat("0", 64)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Release(unknown) error = %v; want ErrNotFound", err)
	}

	// Everything survives a reopen.
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	rels2, err := s2.Releases()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "history after reopening", rels2, rels)
	st, err := s2.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Releases != 2 || st.BlobsStored != 2 || st.BlobBytes != int64(len(cab1)+len(cab2)) || st.Diffs != 2 || st.SchemaVersion != SchemaVersion() {
		t.Errorf("stats = %+v", st)
	}
}

func TestCommitReleaseDefaultsCommittedAt(t *testing.T) {
	s := openTest(t, Options{})
	rel, cab := fakeRelease(rand.New(rand.NewPCG(3, 4)), 1)
	rel.CommittedAt = time.Time{}
	rel.SHA256 = strings.ToUpper(rel.SHA256)
	before := time.Now()
	if _, err := s.CommitRelease(rel, cab, nil); err != nil {
		t.Fatal(err)
	}
	cur, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	if cur.CommittedAt.Before(before.Add(-time.Second)) || cur.SHA256 != strings.ToLower(rel.SHA256) {
		t.Errorf("current = %+v; want CommittedAt set and the sha in lower case", cur)
	}
	if _, err := s.ReleaseBytes(rel.SHA256); err != nil {
		t.Errorf("ReleaseBytes with an upper-case sha: %v", err)
	}
}

func TestCommitReleaseRefuses(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	s := openTest(t, Options{})
	rel1, cab1 := fakeRelease(r, 1)
	rel2, cab2 := fakeRelease(r, 2)
	check := func(name string, rel ReleaseRecord, cab []byte, d bool, want string) {
		t.Helper()
		before, _ := s.Releases()
		var diff = fakeDiff("", "", 1)
		if !d {
			diff = nil
		} else {
			cur, _ := s.Current()
			if cur != nil {
				diff.From.SHA256 = cur.SHA256
			}
			diff.To.SHA256 = rel.SHA256
		}
		if strings.HasPrefix(want, "from:") {
			diff.From.SHA256, want = strings.Repeat("e", 64), strings.TrimPrefix(want, "from:")
		}
		if strings.HasPrefix(want, "to:") {
			diff.To.SHA256, want = strings.Repeat("e", 64), strings.TrimPrefix(want, "to:")
		}
		changed, err := s.CommitRelease(rel, cab, diff)
		if err == nil || changed || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: CommitRelease = %v, %v; want an error with %q", name, changed, err, want)
		}
		after, _ := s.Releases()
		mustEqual(t, name+": history after a refused commit", after, before)
	}
	bad := rel1
	bad.SHA256 = "not-a-sha"
	check("bad sha", bad, cab1, false, `"not-a-sha" is not a SHA-256`)
	check("wrong bytes", rel1, cab2, false, "the bytes given hash to")
	check("no bytes", rel1, nil, false, "no bytes given and none stored")
	check("diff for the first release", rel1, cab1, true, "no release is current")
	if _, err := s.CommitRelease(rel1, cab1, nil); err != nil {
		t.Fatal(err)
	}
	check("diff from another release", rel2, cab2, true, "from:the diff is from")
	check("diff to another release", rel2, cab2, true, "to:the diff is to")
	if _, err := s.CommitRelease(rel2, cab2, nil); err != nil {
		t.Errorf("a later release without a diff: %v", err)
	}
	if d, _ := s.Diffs(0); len(d) != 0 {
		t.Errorf("a commit without a diff recorded %d diffs", len(d))
	}
	if _, err := s.ReleaseBytes(strings.Repeat("a", 64)); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "blobs/") {
		t.Errorf("ReleaseBytes(unknown) error = %v; want ErrNotFound naming blobs/", err)
	}
}

func TestRetention(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	s := openTest(t, Options{KeepReleases: 3, KeepDiffs: 4})
	var rels []ReleaseRecord
	var cabs [][]byte
	for i := range 7 {
		rel, cab := fakeRelease(r, i)
		var err error
		if i == 0 {
			_, err = s.CommitRelease(rel, cab, nil)
		} else {
			_, err = s.CommitRelease(rel, cab, fakeDiff(rels[i-1].SHA256, rel.SHA256, i))
		}
		if err != nil {
			t.Fatal(err)
		}
		rels, cabs = append(rels, rel), append(cabs, cab)
	}
	hist, err := s.Releases()
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 7 {
		t.Fatalf("history has %d records; want all 7 (records are never pruned)", len(hist))
	}
	for i, h := range hist {
		if want := i < 3; h.Stored != want {
			t.Errorf("release %d (newest first): Stored = %v; want %v", i, h.Stored, want)
		}
		_, err := s.ReleaseBytes(h.SHA256)
		if i < 3 && err != nil || i >= 3 && !errors.Is(err, ErrNotFound) {
			t.Errorf("release %d: ReleaseBytes error = %v", i, err)
		}
	}
	diffs, err := s.Diffs(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 4 || diffs[0].To != rels[6].SHA256 || diffs[3].To != rels[3].SHA256 {
		t.Errorf("diffs = %d, newest to %s; want the 4 newest", len(diffs), diffs[0].To)
	}

	// A pruned release committed again needs its bytes, and gets them back.
	if _, err := s.CommitRelease(rels[0], nil, nil); err == nil || !strings.Contains(err.Error(), "no bytes") {
		t.Errorf("re-committing a pruned release without bytes: %v", err)
	}
	if _, err := s.CommitRelease(rels[0], cabs[0], fakeDiff(rels[6].SHA256, rels[0].SHA256, 0)); err != nil {
		t.Fatal(err)
	}
	hist, _ = s.Releases()
	if hist[0].SHA256 != rels[0].SHA256 || !hist[0].Stored || hist[3].Stored {
		t.Errorf("after re-committing release 0: %v stored %v, 4th stored %v", shas(hist), hist[0].Stored, hist[3].Stored)
	}

	// Lower settings take effect when the store is opened; the current release keeps its bytes.
	path := s.Path()
	s.Close()
	s1, err := Open(path, Options{KeepReleases: 1, KeepDiffs: 1, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	st, err := s1.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.BlobsStored != 1 || st.Diffs != 1 || st.Releases != 7 {
		t.Errorf("after reopening with KeepReleases 1, KeepDiffs 1: %+v", st)
	}
	if _, err := s1.ReleaseBytes(rels[0].SHA256); err != nil {
		t.Errorf("the current release's bytes were pruned: %v", err)
	}
}

func TestRetentionUnlimited(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	s := openTest(t, Options{KeepReleases: -1, KeepDiffs: -1})
	prev := ""
	for i := range DefaultKeepDiffs + 5 {
		rel, cab := fakeRelease(r, i)
		var err error
		if prev == "" {
			_, err = s.CommitRelease(rel, cab, nil)
		} else {
			_, err = s.CommitRelease(rel, cab, fakeDiff(prev, rel.SHA256, i))
		}
		if err != nil {
			t.Fatal(err)
		}
		prev = rel.SHA256
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.BlobsStored != DefaultKeepDiffs+5 || st.Diffs != DefaultKeepDiffs+4 {
		t.Errorf("negative retention pruned: %+v", st)
	}
}
