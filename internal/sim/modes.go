package sim

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how a simulated host answers.
type Mode string

// The modes. Every mode but [ModeHang] and [ModeTLSError] first waits the host's latency.
const (
	ModeOK         Mode = "ok"          // the real behaviour
	ModeWithdrawn  Mode = "withdrawn"   // 404; on AIK hosts Microsoft's "The authority ... does not exist." JSON
	ModeBadRequest Mode = "bad_request" // 400 {"Message":"Failed to parse SCEP request."}
	ModeError500   Mode = "error_500"   // 500 {"Message":"An error has occurred."}
	ModeThrottled  Mode = "throttled"   // 429 with Retry-After: 30
	ModeSlow       Mode = "slow"        // answers as ok after latency_ms (default 2000 ms) more
	ModeHang       Mode = "hang"        // never answers, until the client gives up or the simulator closes
	ModeReset      Mode = "reset"       // closes the TCP connection abruptly (RST) instead of answering
	ModeTLSError   Mode = "tls_error"   // TLS handshake with a certificate for "wrong.example"
)

// Modes lists every mode.
var Modes = []Mode{ModeOK, ModeWithdrawn, ModeBadRequest, ModeError500, ModeThrottled, ModeSlow, ModeHang, ModeReset, ModeTLSError}

// DefaultSlowLatency is the latency [ModeSlow] adds when none is given.
const DefaultSlowLatency = 2 * time.Second

// Valid reports whether m is one of [Modes].
func (m Mode) Valid() bool { return slices.Contains(Modes, m) }

// ParseMode checks a mode name.
func ParseMode(s string) (Mode, error) {
	m := Mode(s)
	if !m.Valid() {
		return "", fmt.Errorf("unknown mode %q (want one of %v)", s, Modes)
	}
	return m, nil
}

// HostState is what the simulator knows of one host.
type HostState struct {
	Host      string `json:"host"`
	Mode      Mode   `json:"mode"`       // the mode in effect (the host's own, else the default)
	LatencyMS int64  `json:"latency_ms"` // total added latency in effect: default + the host's own
	Override  bool   `json:"override"`   // the host has its own mode, set by SetMode
	Known     bool   `json:"known"`      // named by the current trust list, a simulator EK CA host, or a service host
	Kind      string `json:"kind"`       // "aik", "aik-sim" (the simulator's own EK CAs), "aik-unknown", "service"
	Requests  int64  `json:"requests"`   // requests since start, answered or not (in tls_error: handshakes)
}

// hostOverride is a host's own mode and latency.
type hostOverride struct {
	mode    Mode
	latency time.Duration
}

// modeTable holds the default mode and latency, the per-host overrides and request counts.
type modeTable struct {
	mu         sync.RWMutex
	defMode    Mode
	defLatency time.Duration
	overrides  map[string]hostOverride
	counts     sync.Map // host -> *atomic.Int64
}

func newModeTable() *modeTable {
	return &modeTable{defMode: ModeOK, overrides: map[string]hostOverride{}}
}

// effective returns the mode and total latency for host (normalized).
func (t *modeTable) effective(host string) (Mode, time.Duration) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	mode, extra := t.defMode, time.Duration(0)
	if o, ok := t.overrides[host]; ok {
		mode, extra = o.mode, o.latency
	}
	if mode == ModeSlow && extra == 0 {
		extra = DefaultSlowLatency
	}
	return mode, t.defLatency + extra
}

func (t *modeTable) set(host string, m Mode, latency time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.overrides[host] = hostOverride{mode: m, latency: latency}
}

func (t *modeTable) clear(host string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.overrides[host]
	delete(t.overrides, host)
	return ok
}

// setDefaults changes the default mode (when m is not "") and latency (when latency is not nil);
// all clears every host's own mode.
func (t *modeTable) setDefaults(m Mode, latency *time.Duration, all bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m != "" {
		t.defMode = m
	}
	if latency != nil {
		t.defLatency = *latency
	}
	if all {
		clear(t.overrides)
	}
}

func (t *modeTable) defaults() (Mode, time.Duration) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.defMode, t.defLatency
}

func (t *modeTable) count(host string) {
	c, ok := t.counts.Load(host)
	if !ok {
		c, _ = t.counts.LoadOrStore(host, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(1)
}

func (t *modeTable) requests(host string) int64 {
	if c, ok := t.counts.Load(host); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

// names returns every host with an override or a request count.
func (t *modeTable) names() []string {
	t.mu.RLock()
	set := map[string]bool{}
	for h := range t.overrides {
		set[h] = true
	}
	t.mu.RUnlock()
	t.counts.Range(func(k, _ any) bool { set[k.(string)] = true; return true })
	out := make([]string, 0, len(set))
	for h := range set {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

func (t *modeTable) hasOverride(host string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, ok := t.overrides[host]
	return ok
}
