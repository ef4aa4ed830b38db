package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/store"
)

// The engine's buckets in the daemon's store.
//
//	alerts/<key>                 alertRecord: an Alert plus its grouping and announcement state
//	outbox/<seq>                 OutboxEntry, one per notification and destination, FIFO by seq
//	silences/<id>                Silence made through the API or the CLI
//	alert_threads/episode/<grp>  the open episode of a notification group
//	alert_threads/thread/<id>    a thread (episode): the first delivered Ref per destination
//	alert_counters/host/<host>   consecutive sweeps per category and slow sweeps of one host
const (
	bucketAlerts   = "alerts"
	bucketOutbox   = "outbox"
	bucketSilences = "silences"
	bucketThreads  = "alert_threads"
	bucketCounters = "alert_counters"
)

// Defaults of [Config].
const (
	DefaultConsecutiveSweeps = 2
	DefaultSlowThreshold     = 5 * time.Second
	DefaultExpiryWarn        = 30 * 24 * time.Hour
	DefaultExpiryCrit        = 7 * 24 * time.Hour
	DefaultStaleAfter        = 24 * time.Hour
	DefaultRepeatInterval    = 24 * time.Hour
	DefaultRatePerSecond     = 1.0
	DefaultEvalInterval      = time.Minute
	DefaultKeepHistory       = 7 * 24 * time.Hour
	DefaultDeliverTimeout    = 30 * time.Second
)

// Backoff bounds of the delivery loop.
const (
	backoffMin = time.Second
	backoffMax = 5 * time.Minute
)

// stormGroups is how many groups of one rule may start at once before they are merged into
// the rule's all-vendors group ("<rule>/*"): 500 hosts of 11 vendors failing together make one
// message per rule, not one per vendor.
const stormGroups = 3

// Config tunes the engine. Zero values mean the defaults.
type Config struct {
	// ConsecutiveSweeps is how many sweeps (EK checks for EKServiceDown) in a row a host must
	// fail the same way before its alert fires; pending before. Default 2.
	ConsecutiveSweeps int `yaml:"consecutive_sweeps" json:"consecutive_sweeps,omitempty"`
	// SlowThreshold: a probe slower than this is slow. Default 5 s.
	SlowThreshold time.Duration `yaml:"slow_threshold" json:"slow_threshold,omitempty"`
	// ExpiryWarn and ExpiryCrit: certificates expiring within them warn, resp. are critical.
	// Defaults 30 and 7 days.
	ExpiryWarn time.Duration `yaml:"expiry_warn" json:"expiry_warn,omitempty"`
	ExpiryCrit time.Duration `yaml:"expiry_crit" json:"expiry_crit,omitempty"`
	// StaleAfter: no successful refresh for this long makes the trust list stale. Default 24 h.
	StaleAfter time.Duration `yaml:"stale_after" json:"stale_after,omitempty"`
	// RepeatInterval: a group still firing is notified again after this long. Default 24 h;
	// negative: never.
	RepeatInterval time.Duration `yaml:"repeat_interval" json:"repeat_interval,omitempty"`
	// RatePerSecond is the most messages per second sent to one destination. Default 1.
	RatePerSecond float64 `yaml:"rate_per_second" json:"rate_per_second,omitempty"`
	// StatusURL (the status page) and RunbookURL (docs/runbook.md; "#<rule in lower case>"
	// is appended) are linked from every message when set.
	StatusURL  string `yaml:"status_url" json:"status_url,omitempty"`
	RunbookURL string `yaml:"runbook_url" json:"runbook_url,omitempty"`
	// Fleet names the organisation's hosts and vendors: their alerts are one step more severe.
	Fleet state.Fleet `yaml:"-" json:"-"`
	// Silences from the configuration; they cannot be removed through the API.
	Silences []Silence `yaml:"silences" json:"silences,omitempty"`

	// EvalInterval: the last state is evaluated again this often, so that repeats, staleness
	// and silence expiry happen without a state change. Default 1 min; negative: never.
	EvalInterval time.Duration `yaml:"eval_interval" json:"eval_interval,omitempty"`
	// KeepHistory is how long resolved alerts, delivered or failed outbox entries, closed
	// threads and expired silences are kept. Default 7 days.
	KeepHistory time.Duration `yaml:"keep_history" json:"keep_history,omitempty"`
	// DeliverTimeout bounds one delivery attempt. Default 30 s.
	DeliverTimeout time.Duration `yaml:"deliver_timeout" json:"deliver_timeout,omitempty"`
	// State, when set, returns the daemon's newest state: Evaluate and the periodic
	// re-evaluation then evaluate it (under the engine's lock) instead of their argument, so
	// that OnChange calls running out of order never evaluate an older state after a newer
	// one.
	State func() *state.State `yaml:"-" json:"-"`
}

// withDefaults fills in the defaults and checks the values.
func (c Config) withDefaults() (Config, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.ConsecutiveSweeps == 0 {
		c.ConsecutiveSweeps = DefaultConsecutiveSweeps
	}
	def(&c.SlowThreshold, DefaultSlowThreshold)
	def(&c.ExpiryWarn, DefaultExpiryWarn)
	def(&c.ExpiryCrit, DefaultExpiryCrit)
	def(&c.StaleAfter, DefaultStaleAfter)
	def(&c.RepeatInterval, DefaultRepeatInterval)
	def(&c.EvalInterval, DefaultEvalInterval)
	def(&c.KeepHistory, DefaultKeepHistory)
	def(&c.DeliverTimeout, DefaultDeliverTimeout)
	if c.RatePerSecond == 0 {
		c.RatePerSecond = DefaultRatePerSecond
	}
	switch {
	case c.ConsecutiveSweeps < 1:
		return c, fmt.Errorf("alerts: consecutive_sweeps %d: must be at least 1", c.ConsecutiveSweeps)
	case c.SlowThreshold < 0, c.ExpiryWarn < 0, c.ExpiryCrit < 0, c.StaleAfter < 0, c.KeepHistory < 0, c.DeliverTimeout < 0:
		return c, errors.New("alerts: slow_threshold, expiry_warn, expiry_crit, stale_after, keep_history and deliver_timeout must not be negative")
	case c.ExpiryCrit > c.ExpiryWarn:
		return c, fmt.Errorf("alerts: expiry_crit %s is longer than expiry_warn %s", c.ExpiryCrit, c.ExpiryWarn)
	case c.RatePerSecond < 0:
		return c, fmt.Errorf("alerts: rate_per_second %g: must be positive", c.RatePerSecond)
	}
	return c, nil
}

// Engine evaluates the rules on every state change, keeps the alerts' state machine
// (pending → firing → resolved) in the store, and delivers their notifications through the
// outbox. Evaluate, the read methods and the silence methods are safe for concurrent use.
type Engine struct {
	store     *store.Store
	cfg       Config
	notifiers []Notifier
	log       *slog.Logger
	clock     Clock
	cfgSil    []Silence // from the configuration, normalised

	evalMu    sync.Mutex // serialises evaluations
	last      *state.State
	lastPrune time.Time

	mu      sync.Mutex
	queues  map[string][]uint64 // destination → pending outbox sequence numbers, in order
	wake    map[string]chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool
}

// NewEngine returns an engine keeping its state in st and delivering to notifiers (none: the
// alerts are kept but nothing is sent, for an instance whose peer sends). logger nil discards;
// clock nil is the real clock. Notifications left in the outbox by an earlier run are
// delivered once Start is called.
func NewEngine(st *store.Store, cfg Config, notifiers []Notifier, logger *slog.Logger, clock Clock) (*Engine, error) {
	if st == nil {
		return nil, errors.New("alerts: no store")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if clock == nil {
		clock = realClock{}
	}
	e := &Engine{store: st, cfg: cfg, log: logger, clock: clock,
		queues: map[string][]uint64{}, wake: map[string]chan struct{}{}}
	seen := map[string]bool{}
	for _, n := range notifiers {
		if n == nil {
			continue
		}
		name := n.Name()
		if name == "" || seen[name] {
			return nil, fmt.Errorf("alerts: notifier names must be unique and not empty (got %q twice or empty)", name)
		}
		seen[name] = true
		e.notifiers = append(e.notifiers, n)
		e.wake[name] = make(chan struct{}, 1)
	}
	now := clock.Now()
	for i, s := range cfg.Silences {
		if s.ID == "" {
			s.ID = fmt.Sprintf("config-%d", i+1)
		}
		n, err := normalizeSilence(s, now, false)
		if err != nil {
			return nil, fmt.Errorf("alerts: silence %d of the configuration: %w", i+1, err)
		}
		if !n.Until.After(now) {
			logger.Warn("silence in the configuration has expired", "silence", n.ID, "until", n.Until)
		}
		e.cfgSil = append(e.cfgSil, n)
	}
	if err := e.loadQueues(); err != nil {
		return nil, err
	}
	return e, nil
}

// Evaluate applies the rules to s (or to Config.State's newest state), moves the alerts
// through their states and enqueues the notifications that follow, all in one store
// transaction. It never waits for a destination; the delivery loop started by Start sends.
func (e *Engine) Evaluate(s *state.State) error {
	e.evalMu.Lock()
	defer e.evalMu.Unlock()
	if e.cfg.State != nil {
		if cur := e.cfg.State(); cur != nil {
			s = cur
		}
	}
	if s == nil {
		return nil
	}
	e.last = s
	return e.evaluateLocked(s)
}

// reevaluate evaluates the last state again (after a silence change, on the periodic tick).
func (e *Engine) reevaluate() error {
	e.evalMu.Lock()
	defer e.evalMu.Unlock()
	s := e.last
	if e.cfg.State != nil {
		if cur := e.cfg.State(); cur != nil {
			s = cur
		}
	}
	if s == nil {
		return nil
	}
	e.last = s
	return e.evaluateLocked(s)
}

func (e *Engine) evaluateLocked(s *state.State) error {
	now := e.clock.Now()
	prune := now.Sub(e.lastPrune) >= time.Hour || now.Before(e.lastPrune)
	var queued []queuedEntry
	err := e.store.Update(func(tx *store.Tx) error {
		var err error
		queued, err = e.evaluateTx(tx, s, now)
		if err != nil {
			return err
		}
		if prune {
			return e.prune(tx, now)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("alerts: evaluate: %w", err)
	}
	if prune {
		e.lastPrune = now
	}
	e.push(queued)
	return nil
}

// Start starts the delivery loop (one per destination) and the periodic re-evaluation; they
// run until ctx ends or Close is called. Calling it again does nothing.
func (e *Engine) Start(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return
	}
	e.started = true
	ctx, e.cancel = context.WithCancel(ctx)
	for _, n := range e.notifiers {
		e.wg.Go(func() { e.deliverLoop(ctx, n) })
	}
	if e.cfg.EvalInterval > 0 {
		e.wg.Go(func() { e.tickLoop(ctx) })
	}
}

// tickLoop re-evaluates the last state every EvalInterval.
func (e *Engine) tickLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.clock.After(e.cfg.EvalInterval):
		}
		if err := e.reevaluate(); err != nil {
			e.log.Warn("alerts: periodic evaluation failed", "err", err)
		}
	}
}

// Close stops the delivery loop and the periodic re-evaluation and waits for them; an
// attempt in flight is abandoned and retried after the next Start. Evaluate keeps recording
// alerts and notifications after Close (while the store is open); they are delivered after
// the next Start, by this engine or a new one on the same store.
func (e *Engine) Close() error {
	e.mu.Lock()
	cancel := e.cancel
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	e.wg.Wait()
	return nil
}

// Alerts returns the pending and firing alerts and those resolved within KeepHistory: firing
// first, then pending, then resolved; the most severe first within each.
func (e *Engine) Alerts() ([]Alert, error) {
	var out []Alert
	err := e.store.View(func(tx *store.Tx) error {
		recs, _, err := loadAlerts(tx)
		if err != nil {
			return err
		}
		for _, r := range recs {
			out = append(out, r.Alert)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("alerts: reading alerts: %w", err)
	}
	stateRank := map[State]int{StateFiring: 0, StatePending: 1, StateResolved: 2}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if stateRank[a.State] != stateRank[b.State] {
			return stateRank[a.State] < stateRank[b.State]
		}
		if a.Severity.rank() != b.Severity.rank() {
			return a.Severity.rank() > b.Severity.rank()
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Key < b.Key
	})
	return out, nil
}
