// Package daemon runs aikwatch's watch: on a schedule it refreshes the trust list (verified,
// indexed, diffed and committed to the store only when good), sweeps every AIK CA host,
// probes the EK certificate services and checks the EK CAs, and keeps an immutable
// [state.State] that the exporter, the API, the page and the alerts read.
//
// Data flows one way: scheduler → trustlist/probes → store → state readers. Every change is
// written to the store before the in-memory state is replaced, so a restart resumes from the
// last committed state.
package daemon

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/aikwatch/aikwatch/internal/authenticode"
	"github.com/aikwatch/aikwatch/internal/netx"
	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/store"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// cronParser accepts the standard five fields and descriptors such as "@every 15m".
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Options are what a caller wires in beyond the configuration.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Roots overrides the trust anchors built from the configuration (the demo trusts its
	// simulator's signing root as well as Microsoft's).
	Roots *authenticode.Roots
	// OnChange, when set, is called after every state change with the new state (the alerts
	// evaluate rules there). It runs on the goroutine that made the change.
	OnChange func(*state.State)
}

// Daemon watches the trust list and the services it names.
type Daemon struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	store *store.Store
	fleet state.Fleet

	roots     authenticode.Roots
	client    *http.Client // probes
	dlClient  *http.Client // trust-list downloads
	prober    *probes.AIKProber
	ekProber  *probes.EKProber
	ekSvcs    []probes.EKService
	onChange  func(*state.State)
	cur       atomic.Pointer[state.State]
	files     atomic.Pointer[[]trustlist.File] // members of the release in force
	writeMu   sync.Mutex                       // serialises state changes
	notifyMu  sync.Mutex                       // serialises OnChange calls
	refreshMu sync.Mutex                       // one refresh at a time
	sweepMu   sync.Mutex                       // one sweep at a time

	refreshReq chan struct{} // requested refreshes: one may wait while another runs

	cron *cron.Cron
	bg   sync.WaitGroup
	stop context.CancelFunc
}

// New opens the store in cfg.DataDir and restores the last committed state.
func New(cfg Config, o Options) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: o.Logger, now: o.Now, onChange: o.OnChange, refreshReq: make(chan struct{}, 1)}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	var err error
	if d.roots, err = buildRoots(cfg.TrustList, o.Roots); err != nil {
		return nil, err
	}
	nopt := netx.Options{Resolve: cfg.Network.Resolve, CAFiles: cfg.Network.CAFiles}
	if d.client, err = nopt.Client(); err != nil {
		return nil, fmt.Errorf("network options: %w", err)
	}
	nopt.Timeout = 2 * time.Minute
	if d.dlClient, err = nopt.Client(); err != nil {
		return nil, fmt.Errorf("network options: %w", err)
	}
	d.prober = &probes.AIKProber{Client: d.client, Timeout: cfg.Probes.Timeout}
	d.ekProber = &probes.EKProber{Client: d.client}
	if d.ekSvcs, err = ekServices(cfg.EK.Services); err != nil {
		return nil, err
	}
	if d.fleet, err = fleetOf(cfg.Fleet); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	d.store, err = store.Open(filepath.Join(cfg.DataDir, "aikwatch.db"),
		store.Options{KeepReleases: cfg.Retention.Releases, KeepDiffs: cfg.Retention.Diffs})
	if err != nil {
		return nil, err
	}
	if err := d.restore(); err != nil {
		d.store.Close()
		return nil, err
	}
	return d, nil
}

// Store returns the daemon's store (the alerts keep their state in it).
func (d *Daemon) Store() *store.Store { return d.store }

// Fleet returns the fleet the daemon was configured with, EK certificates resolved to hosts.
func (d *Daemon) Fleet() state.Fleet { return d.fleet }

// Config returns the configuration in force.
func (d *Daemon) Config() Config { return d.cfg }

// State returns the current state. It must not be modified.
func (d *Daemon) State() *state.State { return d.cur.Load() }

// restore rebuilds the in-memory state from the store.
func (d *Daemon) restore() error {
	st := &state.State{}
	rec, err := d.store.Current()
	if err != nil {
		return err
	}
	if rec != nil {
		cab, err := d.store.ReleaseBytes(rec.SHA256)
		if err != nil {
			return err
		}
		snap, files, err := d.index(context.Background(), cab, rec.Source)
		if err != nil {
			return fmt.Errorf("restoring release %s: %w", rec.SHA256, err)
		}
		st.Release, st.ReleaseSince = snap, rec.CommittedAt
		d.files.Store(&files)
	}
	if st.Refresh, err = d.store.Refresh(); err != nil {
		return err
	}
	if st.Hosts, err = d.store.Hosts(); err != nil {
		return err
	}
	if st.EKServices, err = d.store.EKServices(); err != nil {
		return err
	}
	if st.EKCAsAt, st.EKCAs, err = d.store.EKCAs(); err != nil {
		return err
	}
	if st.LastSweep, err = d.store.Sweep(); err != nil {
		return err
	}
	if st.Canaries, err = d.store.Canaries(); err != nil {
		return err
	}
	diffs, err := d.store.Diffs(maxChanges)
	if err != nil {
		return err
	}
	for _, df := range diffs {
		st.Changes = append(st.Changes, state.ReleaseChange{At: df.At, Diff: df.Diff})
	}
	st.Hosts = d.hostSet(st.Release, st.Hosts)
	d.cur.Store(st)
	return nil
}

// maxChanges bounds the release changes kept in memory.
const maxChanges = 20

// Start runs the first refresh, sweep and checks in the background and starts the schedule.
func (d *Daemon) Start(ctx context.Context) error {
	ctx, d.stop = context.WithCancel(ctx)
	d.cron = cron.New(cron.WithParser(cronParser), cron.WithLogger(cronLogger{d.log}),
		cron.WithChain(cron.Recover(cronLogger{d.log}), cron.SkipIfStillRunning(cronLogger{d.log})))
	jobs := []struct {
		name, spec string
		run        func(context.Context) error
	}{
		{"trustlist", d.cfg.Schedule.TrustList, d.Refresh},
		{"sweep", d.cfg.Schedule.Sweep, d.Sweep},
		{"ek_services", d.cfg.Schedule.EKServices, d.ProbeEKServices},
		{"ek_cas", d.cfg.Schedule.EKCAs, d.CheckEKCAs},
	}
	for _, j := range jobs {
		if _, err := d.cron.AddFunc(j.spec, d.job(ctx, j.name, j.run, true)); err != nil {
			return fmt.Errorf("schedule %s %q: %w", j.name, j.spec, err)
		}
	}
	d.cron.Start()
	d.bg.Go(func() { // requested refreshes, one at a time
		for {
			select {
			case <-ctx.Done():
				return
			case <-d.refreshReq:
				d.job(ctx, "trustlist (requested)", d.Refresh, false)()
			}
		}
	})
	d.bg.Go(func() {
		// The first full state: the trust list first (the sweep needs its hosts), then the rest.
		d.job(ctx, "trustlist", d.Refresh, false)()
		var wg sync.WaitGroup
		wg.Go(d.job(ctx, "sweep", d.Sweep, false))
		wg.Go(d.job(ctx, "ek_services", d.ProbeEKServices, false))
		wg.Go(d.job(ctx, "ek_cas", d.CheckEKCAs, false))
		wg.Wait()
	})
	return nil
}

// job wraps a run with logging, the daemon's lifetime and, for scheduled runs, jitter.
func (d *Daemon) job(ctx context.Context, name string, run func(context.Context) error, jitter bool) func() {
	return func() {
		if jitter && d.cfg.Schedule.Jitter > 0 {
			t := time.NewTimer(randDuration(d.cfg.Schedule.Jitter))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		start := time.Now()
		if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			d.log.Warn("job failed", "job", name, "err", err, "duration", time.Since(start).Round(time.Millisecond))
			return
		}
		d.log.Debug("job done", "job", name, "duration", time.Since(start).Round(time.Millisecond))
	}
}

// RunOnce refreshes the trust list, then sweeps, probes the EK services and checks the EK
// CAs, once, without the schedule (`aikwatch check` without a daemon).
func (d *Daemon) RunOnce(ctx context.Context) error {
	errs := []error{d.Refresh(ctx)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{d.Sweep, d.ProbeEKServices, d.CheckEKCAs} {
		wg.Go(func() {
			err := run(ctx)
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// TriggerRefresh asks for a trust-list refresh (followed by a sweep when the release changed)
// in the background, as `POST /api/v1/refresh` does. Requests made while one waits coalesce.
func (d *Daemon) TriggerRefresh(ctx context.Context) error {
	if d.stop == nil {
		return errors.New("daemon not started")
	}
	select {
	case d.refreshReq <- struct{}{}:
	default: // one is already waiting: it will download after the running one
	}
	return nil
}

// Close stops the schedule, waits for running jobs and closes the store.
func (d *Daemon) Close() error {
	if d.stop != nil {
		d.stop()
	}
	if d.cron != nil {
		<-d.cron.Stop().Done()
	}
	d.bg.Wait()
	d.client.CloseIdleConnections()
	d.dlClient.CloseIdleConnections()
	return d.store.Close()
}

// update applies fn to a copy of the current state and publishes it. fn persists what it
// changes before returning; an error leaves the state as it was.
func (d *Daemon) update(fn func(st *state.State) error) error {
	d.writeMu.Lock()
	next := *d.cur.Load()
	if err := fn(&next); err != nil {
		d.writeMu.Unlock()
		return err
	}
	d.cur.Store(&next)
	d.writeMu.Unlock()
	if d.onChange != nil {
		// Serialised, and always the newest state: two jobs finishing together cannot make a
		// reader see an older state after a newer one.
		d.notifyMu.Lock()
		d.onChange(d.cur.Load())
		d.notifyMu.Unlock()
	}
	return nil
}

// buildRoots returns the trust anchors for release signatures.
func buildRoots(c TrustListConfig, override *authenticode.Roots) (authenticode.Roots, error) {
	if override != nil {
		return *override, nil
	}
	r, err := authenticode.LoadRoots(c.CodeSigningRoots, c.TimestampRoots)
	if err != nil {
		return r, fmt.Errorf("trust-list roots: %w", err)
	}
	if !c.ExtraRoots {
		return r, nil
	}
	read := func(files []string) ([]*x509.Certificate, error) {
		var out []*x509.Certificate
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("trust-list roots: %w", err)
			}
			certs, err := authenticode.ParseCertificates(b)
			if err != nil {
				return nil, fmt.Errorf("trust-list roots: %s: %w", f, err)
			}
			out = append(out, certs...)
		}
		return out, nil
	}
	cs, err := read(c.CodeSigningRoots)
	if err != nil {
		return r, err
	}
	ts, err := read(c.TimestampRoots)
	if err != nil {
		return r, err
	}
	return authenticode.DefaultRoots().With(cs, ts), nil
}

// cronLogger adapts slog to robfig/cron's logger.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append([]any{"err", err}, kv...)...)
}
