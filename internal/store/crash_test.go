package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aikwatch/aikwatch/internal/state"
)

// The crash test's child process: TestHelperProcess, run by TestCrashSafety with
// helperEnv naming the store file, writes to the store as fast as it can until it is killed.
const (
	helperEnv          = "AIKWATCH_STORE_CRASH_HELPER"
	crashKeepReleases  = 4
	crashKeepDiffs     = 6
	crashMaxHosts      = 332 // hosts saved at most, a random number each time
	crashKills         = 20
	crashChildDeadline = 20 * time.Second
)

// TestHelperProcess is not a test: it is the child process of TestCrashSafety.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("the child process of TestCrashSafety")
	}
	if err := crashChild(path); err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	os.Exit(4) // crashChild only returns on error
}

// crashChild commits releases (new ones, and sometimes an older one again), saves host sets
// with the sweep status, and queues outbox entries, in random order, each in its own
// transaction, forever.
func crashChild(path string) error {
	s, err := Open(path, Options{KeepReleases: crashKeepReleases, KeepDiffs: crashKeepDiffs, Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	sweep, err := s.Sweep()
	if err != nil {
		return err
	}
	gen := sweep.Probed
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	fmt.Println("ready")
	for n := 0; ; n++ {
		var err error
		switch r.IntN(4) {
		case 0, 1:
			err = crashCommit(s, r, n)
		case 2:
			// A host set of random size (all 332 take ~80 ms under the race detector, longer
			// than most runs last), with the sweep status in the same transaction.
			gen++
			count := 1 + r.IntN(crashMaxHosts)
			err = s.Update(func(tx *Tx) error {
				if err := tx.SaveHosts(fakeHosts(count, gen)); err != nil {
					return err
				}
				return tx.SaveSweep(state.SweepStatus{Started: t0, Finished: t0, Probed: gen, Failing: count})
			})
		case 3:
			err = s.Update(func(tx *Tx) error {
				seq, err := tx.NextSequence("outbox")
				if err != nil {
					return err
				}
				if err := tx.Put("outbox", SeqKey(seq), alert{Rule: "r", Seq: seq}); err != nil {
					return err
				}
				return tx.Put("alerts", "last", alert{Rule: "r", Seq: seq})
			})
			if err == nil {
				err = s.SaveRefresh(state.RefreshStatus{LastAttempt: time.Now().UTC(), OK: true, ETag: fmt.Sprint(n)})
			}
		}
		if err != nil {
			return err
		}
	}
}

// crashCommit commits a new release of up to 68 KiB or, one time in four, an older one again
// with the bytes already stored, with the diff from the current one.
func crashCommit(s *Store, r *rand.Rand, n int) error {
	cur, err := s.Current()
	if err != nil {
		return err
	}
	rel, cab := fakeRelease(r, n)
	cab = append(cab, make([]byte, r.IntN(64<<10))...)
	sum := sha256.Sum256(cab)
	rel.SHA256, rel.Size = hex.EncodeToString(sum[:]), int64(len(cab))
	if r.IntN(4) == 0 {
		if rels, err := s.Releases(); err == nil && len(rels) > 1 {
			if old := rels[1+r.IntN(len(rels)-1)]; old.Stored {
				rel, cab = old, nil
			}
		}
	}
	rel.CommittedAt = time.Now().UTC()
	var diff = fakeDiff("", rel.SHA256, n)
	if cur == nil {
		diff = nil
	} else {
		diff.From.SHA256 = cur.SHA256
	}
	_, err = s.CommitRelease(rel, cab, diff)
	return err
}

// TestCrashSafety kills a writing child process with SIGKILL at random moments and checks,
// after each kill, that the store opens and is consistent.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 processes")
	}
	path := filepath.Join(t.TempDir(), FileName)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 42))
	var commits, gens []int
	for i := range crashKills {
		delay := time.Duration(5+r.IntN(96)) * time.Millisecond
		crashRun(t, path, delay)
		s, err := Open(path, Options{KeepReleases: crashKeepReleases, KeepDiffs: crashKeepDiffs, Timeout: 5 * time.Second, NoSync: true})
		if err != nil {
			t.Fatalf("kill %d (after %v): reopening: %v", i+1, delay, err)
		}
		n, gen := checkInvariants(t, s, fmt.Sprintf("kill %d (after %v)", i+1, delay))
		s.Close()
		commits, gens = append(commits, n), append(gens, gen)
	}
	t.Logf("%d kills; releases in history after each: %v; host generations: %v", crashKills, commits, gens)
	if commits[len(commits)-1] == 0 {
		t.Fatal("the child never committed a release before being killed: the test proves nothing")
	}
}

// crashRun starts the child, waits until it has opened the store, lets it write for delay
// and kills it.
func crashRun(t *testing.T, path string, delay time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child said %q, not ready; stderr: %s", line, stderr.String())
		}
	case <-time.After(crashChildDeadline):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child not ready after %v; stderr: %s", crashChildDeadline, stderr.String())
	}
	time.Sleep(delay) // the moment of the crash, not a wait for anything
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended by itself (%v) instead of being killed; stderr: %s", err, stderr.String())
	}
}

// checkInvariants checks what must hold after any crash, and returns the number of releases
// in the history and the host generation saved last.
func checkInvariants(t *testing.T, s *Store, when string) (int, int) {
	t.Helper()
	fail := func(format string, a ...any) {
		t.Helper()
		t.Fatalf("%s: %s", when, fmt.Sprintf(format, a...))
	}
	err := s.db.View(func(btx *bolt.Tx) error {
		for err := range btx.Check() {
			fail("bbolt check: %v", err)
		}
		order, blobs, recs := btx.Bucket([]byte(bucketReleaseOrder)), btx.Bucket([]byte(bucketBlobs)), btx.Bucket([]byte(bucketReleases))
		// release_order: each sha once, its record pointing back; newest KeepReleases with bytes.
		seen := map[string]bool{}
		i := 0
		c := order.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			sha := string(v)
			if seen[sha] {
				fail("release %s twice in the history", sha)
			}
			seen[sha] = true
			var rec storedRelease
			if err := json.Unmarshal(recs.Get(v), &rec); err != nil {
				fail("record of %s: %v", sha, err)
			}
			if rec.Order != binary.BigEndian.Uint64(k) || rec.SHA256 != sha {
				fail("record of %s says order %d, sha %s; the order says %d", sha, rec.Order, rec.SHA256, binary.BigEndian.Uint64(k))
			}
			if blob := blobs.Get(v); (blob != nil) != (i < crashKeepReleases) {
				fail("release %d of the history (%s): bytes stored %v", i, sha, blob != nil)
			}
			i++
		}
		if n := recs.Stats().KeyN; n != len(seen) {
			fail("%d records, %d in the history", n, len(seen))
		}
		// Every blob belongs to a release and is whole.
		return blobs.ForEach(func(k, v []byte) error {
			if !seen[string(k)] {
				fail("bytes of %s, which is not in the history", k)
			}
			if sum := sha256.Sum256(v); hex.EncodeToString(sum[:]) != string(k) {
				fail("bytes of %s hash to %x", k, sum)
			}
			return nil
		})
	})
	if err != nil {
		fail("%v", err)
	}

	rels, err := s.Releases()
	if err != nil {
		fail("Releases: %v", err)
	}
	cur, err := s.Current()
	if err != nil {
		fail("Current: %v", err)
	}
	if len(rels) > 0 && (cur == nil || cur.SHA256 != rels[0].SHA256 || !cur.Stored) {
		fail("current %v is not the newest of the history %v", cur, shas(rels))
	}
	known := map[string]bool{}
	for _, r := range rels {
		known[r.SHA256] = true
	}
	// Diffs: each between known releases, chained newest to oldest, the newest ending at the
	// current release.
	diffs, err := s.Diffs(0)
	if err != nil {
		fail("Diffs: %v", err)
	}
	if len(diffs) > crashKeepDiffs {
		fail("%d diffs kept; want at most %d", len(diffs), crashKeepDiffs)
	}
	for j, d := range diffs {
		if !known[d.From] || !known[d.To] || d.Diff == nil || d.Diff.To.SHA256 != d.To || d.Diff.From.SHA256 != d.From {
			fail("diff %d (%s → %s) does not refer to known releases consistently", j, d.From, d.To)
		}
		if j == 0 && d.To != cur.SHA256 {
			fail("the newest diff ends at %s, not at the current release %s", d.To, cur.SHA256)
		}
		if j > 0 && diffs[j-1].From != d.To {
			fail("diff %d starts at %s, but the one before it ended at %s", j-1, diffs[j-1].From, d.To)
		}
	}
	// Hosts and sweep, saved together: the whole set of the last generation.
	sweep, err := s.Sweep()
	if err != nil {
		fail("Sweep: %v", err)
	}
	hosts, err := s.Hosts()
	if err != nil {
		fail("Hosts: %v", err)
	}
	if len(hosts) != sweep.Failing {
		fail("%d hosts after generation %d; want the %d saved with it", len(hosts), sweep.Probed, sweep.Failing)
	}
	for _, h := range hosts {
		if h.Failures != sweep.Probed {
			fail("host %s is from generation %d, the sweep from %d", h.Host, h.Failures, sweep.Probed)
		}
	}
	// The generic outbox and its alert, written together.
	var last alert
	found, err := s.Get("alerts", "last", &last)
	if err != nil {
		fail("alerts/last: %v", err)
	}
	var lastKey string
	s.ForEach("outbox", func(k string, _ []byte) error { lastKey = k; return nil })
	if found && lastKey != SeqKey(last.Seq) || !found && lastKey != "" {
		fail("alerts/last says outbox %d, the outbox ends at %q", last.Seq, lastKey)
	}
	if lastKey != "" {
		if n, _ := strconv.ParseUint(lastKey, 10, 64); n == 0 {
			fail("outbox key %q", lastKey)
		}
	}
	return len(rels), sweep.Probed
}
