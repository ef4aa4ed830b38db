package alerts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/store"
)

// alertRecord is an alert as kept in the alerts bucket, with what the engine needs to group
// and announce it.
type alertRecord struct {
	Alert
	Base      Severity `json:"base_severity"`           // before fleet escalation
	Natural   string   `json:"natural_group"`           // grouping label within the rule (vendor, release)
	Group     string   `json:"group,omitempty"`         // notification group it was announced in
	Thread    string   `json:"thread,omitempty"`        // that group's episode
	Announced Severity `json:"announced,omitempty"`     // severity it was last announced at; "" if not yet
	Gone      bool     `json:"host_gone,omitempty"`     // resolved because the host is no longer watched
	Episode   int      `json:"episode_count,omitempty"` // times it has fired (for people)
}

// episode is the open episode of one notification group: from its first firing notification
// until its last alert resolves.
type episode struct {
	Group    string    `json:"group"`
	Rule     string    `json:"rule"`
	Thread   string    `json:"thread"` // ID of the episode's first notification (ThreadKey)
	Opened   time.Time `json:"opened"`
	Seq      uint64    `json:"seq"`  // unique among episodes: IDs differ even for episodes opened at the same instant
	Sent     int       `json:"sent"` // notifications made in the episode
	LastSent time.Time `json:"last_sent"`
	Resolved []Alert   `json:"resolved,omitempty"` // announced alerts resolved so far, for the resolved message
}

// threadRecord keeps, per destination, the first delivered Ref of an episode, so that its
// repeats and resolved message reply in that thread.
type threadRecord struct {
	Group  string            `json:"group"`
	Opened time.Time         `json:"opened"`
	Closed time.Time         `json:"closed,omitzero"`
	Refs   map[string]string `json:"refs,omitempty"`
}

const (
	prefixEpisode = "episode/"
	prefixThread  = "thread/"
	prefixHost    = "host/"
)

// loadAlerts reads every alert record, with its stored bytes.
func loadAlerts(tx *store.Tx) (map[string]*alertRecord, map[string][]byte, error) {
	recs := map[string]*alertRecord{}
	raws := map[string][]byte{}
	err := tx.ForEach(bucketAlerts, func(key string, raw []byte) error {
		var r alertRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("alert %s: %w", key, err)
		}
		recs[key] = &r
		raws[key] = bytes.Clone(raw)
		return nil
	})
	return recs, raws, err
}

// loadPrefixed decodes the records of bucket whose keys start with prefix, by key without it.
func loadPrefixed[T any](tx *store.Tx, bucket, prefix string) (map[string]*T, error) {
	out := map[string]*T{}
	err := tx.ForEach(bucket, func(key string, raw []byte) error {
		name, ok := strings.CutPrefix(key, prefix)
		if !ok {
			return nil
		}
		v := new(T)
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("%s/%s: %w", bucket, key, err)
		}
		out[name] = v
		return nil
	})
	return out, err
}

// updateCounters folds the state's sweeps into the per-host counters and stores the changes.
// Only counters that matter are stored (a host failing, or slow): a healthy host's counter
// starts again from the daemon's own failure count, which is what it would hold.
func (e *Engine) updateCounters(tx *store.Tx, st *state.State, now time.Time) (map[string]*hostCounter, error) {
	stored, err := loadPrefixed[hostCounter](tx, bucketCounters, prefixHost)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*hostCounter, len(st.Hosts))
	for i := range st.Hosts {
		h := &st.Hosts[i]
		prev := stored[h.Host]
		n, changed := countSweep(prev, h, st, e.cfg.SlowThreshold, now)
		if n == nil {
			continue
		}
		out[h.Host] = n
		keep := n.Category != catOK || n.Slow > 0
		switch {
		case keep && changed:
			if err := tx.Put(bucketCounters, prefixHost+h.Host, n); err != nil {
				return nil, err
			}
		case !keep && prev != nil:
			if err := tx.Delete(bucketCounters, prefixHost+h.Host); err != nil {
				return nil, err
			}
		}
	}
	for host := range stored {
		if _, ok := out[host]; !ok {
			if err := tx.Delete(bucketCounters, prefixHost+host); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// evaluateTx is one evaluation inside the store transaction: rules, state machine,
// notifications, outbox.
func (e *Engine) evaluateTx(tx *store.Tx, st *state.State, now time.Time) ([]queuedEntry, error) {
	recs, raws, err := loadAlerts(tx)
	if err != nil {
		return nil, err
	}
	active := map[string]*alertRecord{}
	for k, r := range recs {
		if r.State != StateResolved {
			active[k] = r
		}
	}
	counters, err := e.updateCounters(tx, st, now)
	if err != nil {
		return nil, err
	}
	sil, err := e.activeSilences(tx, now)
	if err != nil {
		return nil, err
	}
	c := newEvalCtx(st, now, &e.cfg, active, counters)
	var conds []condition
	for _, r := range allRules {
		conds = append(conds, r.eval(c)...)
	}
	conds = sortConditions(conds)

	seen := map[string]bool{}
	for _, cd := range conds {
		seen[cd.key] = true
		r := active[cd.key]
		if r == nil {
			r = &alertRecord{Alert: Alert{Rule: cd.rule, Key: cd.key, State: StatePending, Since: now}}
			if old := recs[cd.key]; old != nil {
				r.Episode = old.Episode
			}
			recs[cd.key] = r
		}
		r.Base, r.Natural = cd.severity, cd.group
		r.Severity, r.Fleet = cd.severity, cd.fleet
		if cd.fleet {
			r.Severity = escalate(cd.severity)
		}
		r.Vendor, r.Host, r.Subject, r.Summary = cd.vendor, cd.host, cd.subject, cd.summary
		r.Evidence, r.Labels = cd.evidence, cd.labels
		if !cd.since.IsZero() {
			r.Since = cd.since
		}
		if cd.count > 0 {
			r.Count = cd.count
		} else {
			r.Count++
		}
		if r.State == StatePending && cd.firing {
			r.State, r.FiredAt = StateFiring, now
			r.Episode++
		}
		r.SilencedBy = matchSilence(sil, &r.Alert)
	}
	var resolved []*alertRecord
	for key, r := range active {
		if seen[key] {
			continue
		}
		if r.State == StatePending { // never fired: it did not happen
			delete(recs, key)
			if err := tx.Delete(bucketAlerts, key); err != nil {
				return nil, err
			}
			continue
		}
		r.State, r.Resolved = StateResolved, now
		r.SilencedBy = matchSilence(sil, &r.Alert)
		if rl := rulesByName[r.Rule]; rl != nil && rl.probe && r.Host != "" {
			if _, watched := c.hosts[r.Host]; !watched {
				r.Gone = true
				r.Summary = "no longer watched (the release in force does not name this host); was: " + r.Summary
			}
		}
		resolved = append(resolved, r)
	}
	sort.Slice(resolved, func(i, j int) bool { return resolved[i].Key < resolved[j].Key })

	notes, err := e.plan(tx, recs, resolved, now)
	if err != nil {
		return nil, err
	}
	for key, r := range recs {
		raw, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("alert %s: %w", key, err)
		}
		if bytes.Equal(raw, raws[key]) {
			continue
		}
		if err := tx.Put(bucketAlerts, key, json.RawMessage(raw)); err != nil {
			return nil, err
		}
	}
	var queued []queuedEntry
	for _, n := range notes {
		q, err := e.enqueue(tx, n, now)
		if err != nil {
			return nil, err
		}
		queued = append(queued, q...)
	}
	return queued, nil
}

// plan decides the notifications that follow from the alerts' new states, and keeps the
// groups' episodes.
//
// Grouping: an alert is announced in its rule's group for its grouping label (a vendor for
// host, EK CA and EK service rules, a release for release events): "<rule>/<label>". When
// more than stormGroups groups of one rule would start in one evaluation they are announced
// together in "<rule>/*" instead. An alert whose group has an open episode joins it (a new
// firing message, or a re-announcement when its severity rose). A group's episode ends when
// its last announced alert resolves: one resolved message then lists every announced alert
// that resolved in the episode, in the thread of the episode's first message. A group firing
// for RepeatInterval since its last message gets a repeat listing its firing alerts.
func (e *Engine) plan(tx *store.Tx, recs map[string]*alertRecord, resolved []*alertRecord, now time.Time) ([]Notification, error) {
	eps, err := loadPrefixed[episode](tx, bucketThreads, prefixEpisode)
	if err != nil {
		return nil, err
	}
	dirty := map[string]bool{}
	var out []Notification

	for _, r := range resolved {
		ep := eps[r.Group]
		rl := rulesByName[r.Rule]
		if r.Announced == "" || ep == nil || rl == nil || rl.event || r.SilencedBy != "" {
			continue
		}
		ep.Resolved = append(ep.Resolved, r.Alert)
		dirty[r.Group] = true
	}

	keys := slices.Sorted(mapKeys(recs))
	toGroup := map[string][]*alertRecord{}
	fresh := map[string]map[string][]*alertRecord{} // rule → group → alerts starting a group
	for _, k := range keys {
		r := recs[k]
		if r.State != StateFiring || r.SilencedBy != "" || r.Severity.rank() <= r.Announced.rank() {
			continue
		}
		if r.Group != "" && eps[r.Group] != nil {
			toGroup[r.Group] = append(toGroup[r.Group], r)
			continue
		}
		g := r.Rule + "/" + r.Natural
		if eps[g] != nil {
			toGroup[g] = append(toGroup[g], r)
			continue
		}
		if fresh[r.Rule] == nil {
			fresh[r.Rule] = map[string][]*alertRecord{}
		}
		fresh[r.Rule][g] = append(fresh[r.Rule][g], r)
	}
	for rule, groups := range fresh {
		if len(groups) > stormGroups {
			all := rule + "/*"
			for _, g := range slices.Sorted(mapKeys(groups)) {
				toGroup[all] = append(toGroup[all], groups[g]...)
			}
			continue
		}
		for g, rs := range groups {
			toGroup[g] = append(toGroup[g], rs...)
		}
	}
	for _, g := range slices.Sorted(mapKeys(toGroup)) {
		rs := toGroup[g]
		ep := eps[g]
		if ep == nil {
			seq, err := tx.NextSequence(bucketThreads)
			if err != nil {
				return nil, err
			}
			ep = &episode{Group: g, Rule: rs[0].Rule, Opened: now, Seq: seq}
			eps[g] = ep
		}
		n := e.notification(ep, KindFiring, alertsOf(rs), now)
		if ep.Thread == "" {
			ep.Thread = n.ID
			n.ThreadKey = n.ID
			if err := tx.Put(bucketThreads, prefixThread+ep.Thread, threadRecord{Group: g, Opened: now}); err != nil {
				return nil, err
			}
		}
		for _, r := range rs {
			r.Group, r.Thread, r.Announced, r.Notified = g, ep.Thread, r.Severity, now
		}
		ep.LastSent = now
		dirty[g] = true
		out = append(out, n)
	}

	members := map[string][]*alertRecord{}
	for _, k := range keys {
		r := recs[k]
		if r.State == StateFiring && r.Announced != "" && r.Group != "" {
			members[r.Group] = append(members[r.Group], r)
		}
	}
	for _, g := range slices.Sorted(mapKeys(eps)) {
		ep := eps[g]
		if len(members[g]) == 0 {
			if len(ep.Resolved) > 0 {
				out = append(out, e.notification(ep, KindResolved, ep.Resolved, now))
			}
			if err := tx.Delete(bucketThreads, prefixEpisode+g); err != nil {
				return nil, err
			}
			var th threadRecord
			if ok, err := tx.Get(bucketThreads, prefixThread+ep.Thread, &th); err != nil {
				return nil, err
			} else if ok {
				th.Closed = now
				if err := tx.Put(bucketThreads, prefixThread+ep.Thread, th); err != nil {
					return nil, err
				}
			}
			delete(dirty, g)
			continue
		}
		if e.cfg.RepeatInterval > 0 && now.Sub(ep.LastSent) >= e.cfg.RepeatInterval {
			var rep []*alertRecord
			for _, r := range members[g] {
				if rl := rulesByName[r.Rule]; r.SilencedBy == "" && rl != nil && rl.repeat {
					rep = append(rep, r)
				}
			}
			if len(rep) > 0 {
				for _, r := range rep {
					r.Notified = now
				}
				out = append(out, e.notification(ep, KindRepeat, alertsOf(rep), now))
				ep.LastSent = now
				dirty[g] = true
			}
		}
	}
	for g := range dirty {
		if err := tx.Put(bucketThreads, prefixEpisode+g, eps[g]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// notification makes the next notification of an episode. Its ID is a hash of the group, the
// kind, the episode's start (time and sequence number) and the notification's number in the
// episode: stable across retries and restarts, since it is stored in the outbox before any
// attempt.
func (e *Engine) notification(ep *episode, kind Kind, alerts []Alert, now time.Time) Notification {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%d", ep.Group, kind, ep.Opened.UTC().Format(time.RFC3339Nano), ep.Seq, ep.Sent)
	ep.Sent++
	id := hex.EncodeToString(h.Sum(nil))[:32]
	alerts = slices.Clone(alerts)
	sort.Slice(alerts, func(i, j int) bool {
		a, b := alerts[i], alerts[j]
		if a.Severity.rank() != b.Severity.rank() {
			return a.Severity.rank() > b.Severity.rank()
		}
		if a.Fleet != b.Fleet {
			return a.Fleet
		}
		return a.Key < b.Key
	})
	sev := SeverityInfo
	for _, a := range alerts {
		if a.Severity.rank() > sev.rank() {
			sev = a.Severity
		}
	}
	rl := rulesByName[ep.Rule]
	n := Notification{ID: id, Kind: kind, Rule: ep.Rule, Group: ep.Group, Severity: sev,
		Title: notificationTitle(rl, ep.Rule, kind, alerts), Alerts: alerts, CreatedAt: now,
		ThreadKey: ep.Thread, StatusURL: e.cfg.StatusURL}
	if e.cfg.RunbookURL != "" {
		n.RunbookURL = e.cfg.RunbookURL + "#" + strings.ToLower(ep.Rule)
	}
	return n
}

// notificationTitle is one line for people: what happened, to what.
func notificationTitle(rl *rule, name string, kind Kind, alerts []Alert) string {
	title, noun := name, "alerts"
	if rl != nil {
		title, noun = rl.title, rl.noun
	}
	var what string
	if len(alerts) == 1 {
		what = alerts[0].Subject
	} else {
		vendors := map[string]bool{}
		for _, a := range alerts {
			if a.Vendor != "" {
				vendors[a.Vendor] = true
			}
		}
		vs := slices.Sorted(mapKeys(vendors))
		what = strconv.Itoa(len(alerts)) + " " + noun
		switch {
		case len(vs) > 4:
			what += fmt.Sprintf(" of %d vendors", len(vs))
		case len(vs) > 0:
			what += " of " + strings.Join(vs, ", ")
		}
	}
	t := title + ": " + what
	switch kind {
	case KindRepeat:
		t = "Still firing: " + t
	case KindResolved:
		t = "Resolved: " + t
	}
	return t
}

func alertsOf(rs []*alertRecord) []Alert {
	out := make([]Alert, len(rs))
	for i, r := range rs {
		out[i] = r.Alert
	}
	return out
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// prune drops what is older than KeepHistory: resolved alerts,
// delivered and failed outbox entries, closed threads and expired silences.
func (e *Engine) prune(tx *store.Tx, now time.Time) error {
	cutoff := now.Add(-e.cfg.KeepHistory)
	var drop []string
	err := tx.ForEach(bucketAlerts, func(key string, raw []byte) error {
		var r alertRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("alert %s: %w", key, err)
		}
		if r.State == StateResolved && r.Resolved.Before(cutoff) {
			drop = append(drop, key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range drop {
		if err := tx.Delete(bucketAlerts, k); err != nil {
			return err
		}
	}
	drop = drop[:0]
	err = tx.ForEach(bucketOutbox, func(key string, raw []byte) error {
		var o struct {
			Status OutboxStatus `json:"status"`
			DoneAt time.Time    `json:"done_at"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return fmt.Errorf("outbox %s: %w", key, err)
		}
		if o.Status != OutboxPending && o.DoneAt.Before(cutoff) {
			drop = append(drop, key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range drop {
		if err := tx.Delete(bucketOutbox, k); err != nil {
			return err
		}
	}
	threads, err := loadPrefixed[threadRecord](tx, bucketThreads, prefixThread)
	if err != nil {
		return err
	}
	for id, th := range threads {
		if !th.Closed.IsZero() && th.Closed.Before(cutoff) {
			if err := tx.Delete(bucketThreads, prefixThread+id); err != nil {
				return err
			}
		}
	}
	drop = drop[:0]
	err = tx.ForEach(bucketSilences, func(key string, raw []byte) error {
		var s Silence
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("silence %s: %w", key, err)
		}
		if s.Until.Before(cutoff) {
			drop = append(drop, key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range drop {
		if err := tx.Delete(bucketSilences, k); err != nil {
			return err
		}
	}
	return nil
}
