package probes

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aikwatch/aikwatch/internal/netx"
	"github.com/aikwatch/aikwatch/internal/sim"
	"github.com/aikwatch/aikwatch/internal/simtest"
	"github.com/aikwatch/aikwatch/internal/testutil"
	"github.com/aikwatch/aikwatch/trustlist"
)

// novRelease is the Nov-2024 release (cab bytes, members and index), read once per test binary.
var novRelease = sync.OnceValues(func() (*release, error) {
	cab, err := os.ReadFile(testutil.NovCab)
	if err != nil {
		return nil, err
	}
	files, _, err := trustlist.ReadFiles(context.Background(), cab, "nov.cab", trustlist.Options{})
	if err != nil {
		return nil, err
	}
	s, err := trustlist.Index(files)
	if err != nil {
		return nil, err
	}
	return &release{cab: cab, files: files, snap: s}, nil
})

type release struct {
	cab   []byte
	files []trustlist.File
	snap  *trustlist.Snapshot
}

func nov(t testing.TB) *release {
	t.Helper()
	r, err := novRelease()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// startSim runs the simulator on release (cab bytes; the simulator caches the parsed release,
// so only the first start in a test binary pays for indexing it) and returns it with a prober that
// reaches it the production way: a netx client with a "*=ADDR" resolve rule and the
// simulator's CA as an extra CA file.
func startSim(t testing.TB, release []byte, timeout time.Duration) (*sim.Sim, *AIKProber) {
	t.Helper()
	s, caFile := simtest.Start(t, release)
	c, err := netx.Options{Resolve: []string{"*=" + s.Addr()}, CAFiles: []string{caFile}}.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return s, &AIKProber{Client: c, Timeout: timeout}
}

// novTargets returns the Nov-2024 release's targets with their expected certificates.
func novTargets(t testing.TB) []Target {
	t.Helper()
	r := nov(t)
	return WithExpectedCerts(TargetsFromSnapshot(r.snap), r.files)
}

func TestProbeSimModes(t *testing.T) {
	s, p := startSim(t, nov(t).cab, time.Second)
	hosts := s.AIKHosts()
	if len(hosts) < 300 {
		t.Fatalf("simulator serves %d AIK hosts", len(hosts))
	}
	for i, tc := range []struct {
		mode    sim.Mode
		latency time.Duration
		status  Status
		http    int
	}{
		{sim.ModeOK, 0, StatusOK, 200},
		{sim.ModeWithdrawn, 0, StatusWithdrawn, 404},
		{sim.ModeBadRequest, 0, StatusHTTPError, 400},
		{sim.ModeError500, 0, StatusHTTPError, 500},
		{sim.ModeThrottled, 0, StatusThrottled, 429},
		{sim.ModeSlow, 300 * time.Millisecond, StatusOK, 200},
		{sim.ModeHang, 0, StatusTimeout, 0},
		{sim.ModeReset, 0, StatusConnectError, 0},
		{sim.ModeTLSError, 0, StatusTLSError, 0},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			host := hosts[i*7]
			if err := s.SetMode(host, tc.mode, tc.latency); err != nil {
				t.Fatal(err)
			}
			tg, err := TargetFromHost(host)
			if err != nil {
				t.Fatal(err)
			}
			r := p.Probe(context.Background(), tg)
			if r.Status != tc.status || r.HTTPStatus != tc.http {
				t.Fatalf("mode %s: got %s HTTP %d (%s), want %s HTTP %d", tc.mode, r.Status, r.HTTPStatus, r.Error, tc.status, tc.http)
			}
			switch tc.mode {
			case sim.ModeOK, sim.ModeSlow:
				if r.AIKCA == nil || len(r.Chain) < 2 || len(r.Capabilities) == 0 || r.ServerCertNotAfter.IsZero() {
					t.Errorf("ok answer incomplete: %+v", r)
				}
			case sim.ModeWithdrawn:
				if r.Message != `The authority "`+host+`" does not exist.` {
					t.Errorf("message %q", r.Message)
				}
			case sim.ModeBadRequest:
				if r.Message != "Failed to parse SCEP request." {
					t.Errorf("message %q", r.Message)
				}
			case sim.ModeThrottled:
				if r.RetryAfterSeconds == nil || *r.RetryAfterSeconds != 30 {
					t.Errorf("retry-after %v", r.RetryAfterSeconds)
				}
			case sim.ModeHang:
				// Cut at the probe timeout: the outcome, not the clock, is asserted.
				if r.Error == "" || r.Phases == nil {
					t.Errorf("hang: %+v", r)
				}
			}
		})
	}
	t.Run("unknown host", func(t *testing.T) {
		tg, _ := TargetFromHost("IFX-KeyId-00000000000000000000000000000000deadbeef")
		if r := p.Probe(context.Background(), tg); r.Status != StatusWithdrawn {
			t.Errorf("unknown host: %s %q", r.Status, r.Error)
		}
	})
}

func TestSweepNovSim(t *testing.T) {
	s, p := startSim(t, nov(t).cab, 5*time.Second)
	targets := novTargets(t)
	failing := map[string]Status{}
	for i, m := range []struct {
		mode   sim.Mode
		status Status
	}{
		{sim.ModeWithdrawn, StatusWithdrawn},
		{sim.ModeBadRequest, StatusHTTPError},
		{sim.ModeError500, StatusHTTPError},
		{sim.ModeThrottled, StatusThrottled},
		{sim.ModeTLSError, StatusTLSError},
	} {
		host := targets[(i+1)*53].Host
		if err := s.SetMode(host, m.mode, 0); err != nil {
			t.Fatal(err)
		}
		failing[host] = m.status
	}
	res := Sweep(context.Background(), p, targets, SweepOptions{})
	var got []string
	matched := 0
	for i, r := range res {
		if r.Host != targets[i].Host {
			t.Fatalf("result %d is %s, want %s", i, r.Host, targets[i].Host)
		}
		if want, ok := failing[r.Host]; ok {
			if r.Status != want {
				t.Errorf("%s: %s, want %s", r.Host, r.Status, want)
			}
		}
		if r.Status.Failing() {
			got = append(got, r.Host)
			continue
		}
		if r.AIKCA != nil && r.AIKCA.MatchesTrustList != nil && *r.AIKCA.MatchesTrustList {
			matched++
		}
	}
	if len(got) != 5 {
		t.Errorf("%d failing hosts, want the 5 set: %v", len(got), got)
	}
	for h := range failing {
		if !slices.Contains(got, h) {
			t.Errorf("%s not reported failing", h)
		}
	}
	// The simulator serves the release's own AIK CA certificates.
	if matched < len(targets)-5-10 {
		t.Errorf("%d of %d ok hosts returned the trust list's certificate", matched, len(targets)-5)
	}
}

func TestSweepNoLeaks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, p := startSim(t, nov(t).cab, 5*time.Second)
	hosts := s.AIKHosts()
	targets := make([]Target, 3)
	for i := range targets {
		var err error
		if targets[i], err = TargetFromHost(hosts[i*100]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetMode(hosts[100], sim.ModeWithdrawn, 0); err != nil { // a failing probe keeps its connection idle
		t.Fatal(err)
	}
	sweeps := 1000
	if testing.Short() {
		sweeps = 100
	}
	for i := range sweeps {
		res := Sweep(context.Background(), p, targets, SweepOptions{})
		if res[0].Status != StatusOK || res[1].Status != StatusWithdrawn || res[2].Status != StatusOK {
			t.Fatalf("sweep %d: %s %s %s (%s)", i, res[0].Status, res[1].Status, res[2].Status, res[0].Error)
		}
	}
	p.Client.CloseIdleConnections()
	s.Close()
}

// BenchmarkSweepNov sweeps every AIK host of the Nov-2024 release against the simulator, each
// sweep on fresh connections (TLS handshakes included).
func BenchmarkSweepNov(b *testing.B) {
	_, p := startSim(b, nov(b).cab, 10*time.Second)
	targets := novTargets(b)
	b.ResetTimer()
	for b.Loop() {
		p.Client.CloseIdleConnections() // a cold sweep, as the CLI and a daemon with a long interval see it
		res := Sweep(context.Background(), p, targets, SweepOptions{})
		for _, r := range res {
			if !r.OK() {
				b.Fatalf("%s: %s %s", r.Host, r.Status, r.Error)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(targets)), "ns/host")
}
