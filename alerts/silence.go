package alerts

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/store"
	"github.com/aikwatch/aikwatch/trustlist"
)

// Silence mutes the alerts it matches until it expires: they still change state, but no
// notification is sent for them. A silence names a rule, a host, a vendor, or several of
// them (an alert must match every one given). When a silence ends while an alert it muted is
// still firing and was never announced, its firing notification goes out then.
type Silence struct {
	ID        string    `json:"id" yaml:"id"`                   // set by Silence; "config-N" for the configuration's unless given
	Rule      string    `json:"rule,omitempty" yaml:"rule"`     // a rule name (any case)
	Host      string    `json:"host,omitempty" yaml:"host"`     // an AIK host, with or without .microsoftaik.azure.net
	Vendor    string    `json:"vendor,omitempty" yaml:"vendor"` // a vendor code: IFX, INTC, AMD, ...
	Until     time.Time `json:"until" yaml:"until"`
	Comment   string    `json:"comment,omitempty" yaml:"comment"`
	CreatedAt time.Time `json:"created_at,omitzero" yaml:"-"`
}

// Silence errors, for errors.Is.
var (
	// ErrSilenceNotFound: no silence has that ID.
	ErrSilenceNotFound = errors.New("no such silence")
	// ErrSilenceFromConfig: the silence comes from the configuration and is removed there.
	ErrSilenceFromConfig = errors.New("silence comes from the configuration")
	// ErrInvalidSilence: the silence is malformed (nothing to match, unknown rule, past expiry).
	ErrInvalidSilence = errors.New("invalid silence")
)

// maxSilence bounds how long one silence may last.
const maxSilence = 366 * 24 * time.Hour

// Active reports whether the silence is in force at now.
func (s Silence) Active(now time.Time) bool { return now.Before(s.Until) }

// Matches reports whether the silence mutes a (regardless of its expiry).
func (s Silence) Matches(a *Alert) bool {
	if s.Rule == "" && s.Host == "" && s.Vendor == "" {
		return false
	}
	return (s.Rule == "" || s.Rule == a.Rule) &&
		(s.Host == "" || s.Host == a.Host) &&
		(s.Vendor == "" || strings.EqualFold(s.Vendor, a.Vendor))
}

// normalizeSilence checks s and puts its fields in canonical form. A new silence (fresh) must
// end in the future.
func normalizeSilence(s Silence, now time.Time, fresh bool) (Silence, error) {
	bad := func(format string, args ...any) (Silence, error) {
		return s, fmt.Errorf("%w: %s", ErrInvalidSilence, fmt.Sprintf(format, args...))
	}
	s.Rule, s.Host, s.Vendor = strings.TrimSpace(s.Rule), strings.TrimSpace(s.Host), strings.TrimSpace(s.Vendor)
	s.Comment = strings.TrimSpace(s.Comment)
	if s.Rule == "" && s.Host == "" && s.Vendor == "" {
		return bad("it names no rule, host or vendor")
	}
	if s.Rule != "" {
		name, ok := RuleName(s.Rule)
		if !ok {
			var names []string
			for _, r := range allRules {
				names = append(names, r.info.Name)
			}
			return bad("unknown rule %q (rules: %s)", s.Rule, strings.Join(names, ", "))
		}
		s.Rule = name
	}
	if s.Host != "" {
		h := state.NormalizeHost(s.Host)
		if _, err := trustlist.ParseAIKHost(h); err != nil {
			return bad("host %q is not an AIK CA host name: %v", s.Host, err)
		}
		s.Host = h
	}
	if s.Vendor != "" {
		s.Vendor = strings.ToUpper(s.Vendor)
		for _, r := range s.Vendor {
			if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return bad("vendor %q is not a vendor code (letters and digits, e.g. IFX, INTC, AMD)", s.Vendor)
			}
		}
	}
	switch {
	case s.Until.IsZero():
		return bad("no expiry (until)")
	case fresh && !s.Until.After(now):
		return bad("it expires in the past (%s)", s.Until.UTC().Format(time.RFC3339))
	case fresh && s.Until.Sub(now) > maxSilence:
		return bad("it lasts longer than %d days", int(maxSilence.Hours()/24))
	case len(s.Comment) > 1000:
		return bad("comment longer than 1000 bytes")
	}
	if len(s.ID) > 100 {
		return bad("id longer than 100 bytes")
	}
	return s, nil
}

// ParseDuration parses a silence duration: a Go duration ("90m", "24h") or a whole number of
// days ("7d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("duration %q: want a positive number of days such as 7d, or a Go duration such as 24h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("duration %q: want a positive Go duration such as 90m or 24h, or days such as 7d", s)
	}
	return d, nil
}

// activeSilences returns the silences in force at now: the configuration's and the stored.
func (e *Engine) activeSilences(tx *store.Tx, now time.Time) ([]Silence, error) {
	var out []Silence
	for _, s := range e.cfgSil {
		if s.Active(now) {
			out = append(out, s)
		}
	}
	err := tx.ForEach(bucketSilences, func(key string, raw []byte) error {
		var s Silence
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("silence %s: %w", key, err)
		}
		if s.Active(now) {
			out = append(out, s)
		}
		return nil
	})
	return out, err
}

// matchSilence returns the ID of the first silence muting a, "" if none.
func matchSilence(sil []Silence, a *Alert) string {
	for _, s := range sil {
		if s.Matches(a) {
			return s.ID
		}
	}
	return ""
}

// Silence adds a silence (its ID and CreatedAt are set here) and applies it to the current
// alerts at once.
func (e *Engine) Silence(s Silence) (Silence, error) {
	now := e.clock.Now()
	s.ID, s.CreatedAt = newSilenceID(), now
	n, err := normalizeSilence(s, now, true)
	if err != nil {
		return Silence{}, err
	}
	if err := e.store.Put(bucketSilences, n.ID, n); err != nil {
		return Silence{}, fmt.Errorf("alerts: storing silence: %w", err)
	}
	e.log.Info("alerts silenced", "silence", n.ID, "rule", n.Rule, "host", n.Host, "vendor", n.Vendor, "until", n.Until, "comment", n.Comment)
	if err := e.reevaluate(); err != nil {
		e.log.Warn("alerts: evaluation after a new silence failed", "err", err)
	}
	return n, nil
}

// Unsilence removes a silence made through Silence. Alerts it muted that are still firing and
// were never announced are notified at once.
func (e *Engine) Unsilence(id string) error {
	id = strings.TrimSpace(id)
	for _, s := range e.cfgSil {
		if s.ID == id {
			return fmt.Errorf("silence %s: %w; remove it there", id, ErrSilenceFromConfig)
		}
	}
	if id == "" || len(id) > 100 {
		return fmt.Errorf("silence %q: %w", id, ErrSilenceNotFound)
	}
	err := e.store.Update(func(tx *store.Tx) error {
		var s Silence
		ok, err := tx.Get(bucketSilences, id, &s)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("silence %s: %w", id, ErrSilenceNotFound)
		}
		return tx.Delete(bucketSilences, id)
	})
	if err != nil {
		return err
	}
	e.log.Info("alerts unsilenced", "silence", id)
	if err := e.reevaluate(); err != nil {
		e.log.Warn("alerts: evaluation after removing a silence failed", "err", err)
	}
	return nil
}

// Silences returns the silences in force, the configuration's first, then by expiry.
func (e *Engine) Silences() ([]Silence, error) {
	now := e.clock.Now()
	var out []Silence
	err := e.store.View(func(tx *store.Tx) error {
		var err error
		out, err = e.activeSilences(tx, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("alerts: reading silences: %w", err)
	}
	cfg := len(e.activeCfg(now))
	sort.SliceStable(out[cfg:], func(i, j int) bool { return out[cfg+i].Until.Before(out[cfg+j].Until) })
	if out == nil {
		out = []Silence{}
	}
	return out, nil
}

func (e *Engine) activeCfg(now time.Time) []Silence {
	return slices.DeleteFunc(slices.Clone(e.cfgSil), func(s Silence) bool { return !s.Active(now) })
}

func newSilenceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
