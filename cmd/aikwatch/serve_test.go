package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/daemon"
	"github.com/aikwatch/aikwatch/internal/sim"
	"github.com/aikwatch/aikwatch/internal/simtest"
	"github.com/aikwatch/aikwatch/internal/store"
	"github.com/aikwatch/aikwatch/internal/testutil"
)

const e2eHost = "amd-keyid-12fb8b78860586207cb1433c9253cdaf9ecaace5.microsoftaik.azure.net"

// e2eSim starts the simulator with the real Nov-2024 release and writes its CA to a file.
func e2eSim(t *testing.T) (*sim.Sim, string) {
	t.Helper()
	return simtest.Start(t, testutil.ReadTestdata(t, "trustedtpm", "TrustedTpm-2024-11-21.cab"))
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls cond every 50 ms until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeEndToEnd runs `serve` in-process against the simulator: first full state, a fleet
// host withdrawn at the service (metrics, API, page, check), a new release picked up and
// diffed, a tampered release refused.
func TestServeEndToEnd(t *testing.T) {
	s, ca := e2eSim(t)
	cfg := daemon.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Network = daemon.NetworkConfig{Resolve: []string{"*=" + s.Addr()}, CAFiles: []string{ca}}
	cfg.Schedule = daemon.ScheduleConfig{TrustList: "@every 1h", Sweep: "@every 1s", EKServices: "@every 1h", EKCAs: "@every 1h"}
	cfg.Probes.Timeout = 5 * time.Second
	cfg.Fleet.Hosts = []string{e2eHost}

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	c := newCLI(&out, &errb)
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- c.serve(ctx, cfg, daemon.Options{Logger: c.logger}, &webFlags{listen: []string{"127.0.0.1:0"}}, func(a []string) { addrc <- a[0] })
	}()
	base := "http://" + <-addrc
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	waitFor(t, "the first full state (/-/ready)", 60*time.Second, func() bool { code, _ := get(t, base+"/-/ready"); return code == 200 })
	t.Logf("first full state after %s", time.Since(start).Round(time.Millisecond))

	if err := s.SetMode(e2eHost, sim.ModeWithdrawn, 0); err != nil {
		t.Fatal(err)
	}
	switched := time.Now()
	waitFor(t, "the withdrawn host in /metrics", 60*time.Second, func() bool {
		_, m := get(t, base+"/metrics")
		return strings.Contains(m, `host="`+e2eHost+`"`) && strings.Contains(m, `status="withdrawn"`)
	})
	t.Logf("withdrawn host visible after %s", time.Since(switched).Round(time.Millisecond))
	if _, body := get(t, base+"/api/v1/hosts?status=withdrawn"); !strings.Contains(body, e2eHost) {
		t.Errorf("/api/v1/hosts?status=withdrawn lacks the host: %.300s", body)
	}
	if _, page := get(t, base+"/"); !strings.Contains(page, e2eHost) {
		t.Error("the status page does not show the withdrawn host")
	}
	code, stdout, stderr := runCLI(t, "check", "--server", base)
	if code != 1 || !strings.Contains(stdout, "NO-GO") || !strings.Contains(stdout, e2eHost) {
		t.Errorf("check --server: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, _ := runCLI(t, "check", "--server", base, "--vendor", "IFX"); code == 1 {
		t.Error("check narrowed to another vendor says no-go")
	}
	if err := s.SetMode(e2eHost, sim.ModeOK, 0); err != nil {
		t.Fatal(err)
	}

	// A new release in the simulator, picked up on request, verified, stored and diffed.
	if err := s.Publish(testutil.ReadTestdata(t, "trustedtpm", "TrustedTpm-2024-06-11.cab")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/api/v1/refresh", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, "the new release in /api/v1/trustlist/history", 60*time.Second, func() bool {
		_, body := get(t, base+"/api/v1/trustlist/history")
		var h struct {
			Releases []map[string]any `json:"releases"`
			Diffs    []map[string]any `json:"diffs"`
		}
		json.Unmarshal([]byte(body), &h)
		return len(h.Releases) == 2 && len(h.Diffs) == 1
	})

	// A tampered release is refused and the refusal is visible; the previous one stays.
	// The first member's date changed: still a readable cab, no longer what Microsoft signed.
	tampered := bytes.Clone(s.TrustList())
	coffFiles := binary.LittleEndian.Uint32(tampered[16:20])
	tampered[coffFiles+10] ^= 0x01
	if err := s.Publish(tampered); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Post(base+"/api/v1/refresh", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, "the refusal in /api/v1/trustlist", 60*time.Second, func() bool {
		_, body := get(t, base+"/api/v1/trustlist")
		return strings.Contains(body, "refused") && strings.Contains(body, "2024-06-11")
	})
	if _, m := get(t, base+"/metrics"); !strings.Contains(m, "aikwatch_trustlist_release_refused 1") {
		t.Error("the refusal is not in /metrics")
	}
}

// TestServeCrashSafety SIGKILLs a real `aikwatch serve` process at random moments while it
// refreshes (the simulator alternates two releases) and sweeps, 20 times, and checks the store
// after each kill.
func TestServeCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real daemon 20 times")
	}
	s, ca := e2eSim(t)
	bin := filepath.Join(t.TempDir(), "aikwatch")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	dataDir := t.TempDir()
	cfgFile := filepath.Join(t.TempDir(), "aikwatch.yml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`data_dir: %s
schedule: {trustlist: "@every 1s", sweep: "@every 1s", ek_services: "@every 1h", ek_cas: "@every 1h", jitter: 0s}
network: {resolve: ["*=%s"], ca_files: [%s]}
`, dataDir, s.Addr(), ca)), 0o600)

	releases := [][]byte{
		testutil.ReadTestdata(t, "trustedtpm", "TrustedTpm-2024-06-11.cab"),
		testutil.ReadTestdata(t, "trustedtpm", "TrustedTpm-2024-11-21.cab"),
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // a new release every 300 ms, so that refreshes commit
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
				s.Publish(releases[i%2])
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()

	for round := range 20 {
		cmd := exec.Command(bin, "serve", "--config", cfgFile, "--web.listen-address", "127.0.0.1:0", "--log.level", "warn")
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(300+rand.IntN(1500)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		st, err := store.Open(filepath.Join(dataDir, "aikwatch.db"), store.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("round %d: the store does not open after SIGKILL: %v\n%s", round, err, logs.String())
		}
		recs, err := st.Releases()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		seen := map[string]bool{}
		for _, r := range recs {
			if seen[r.SHA256] {
				t.Errorf("round %d: release %s twice in the history", round, r.SHA256)
			}
			seen[r.SHA256] = true
			if b, err := st.ReleaseBytes(r.SHA256); err != nil || len(b) != int(r.Size) {
				t.Errorf("round %d: release %s: %d bytes of %d (%v)", round, r.SHA256, len(b), r.Size, err)
			}
		}
		if cur, err := st.Current(); err != nil || (len(recs) > 0 && (cur == nil || cur.SHA256 != recs[0].SHA256)) {
			t.Errorf("round %d: current %+v, history head %v (%v)", round, cur, recs[0].SHA256, err)
		}
		st.Close()
	}
}
