package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aikwatch/aikwatch/internal/store"
)

// OutboxStatus is where an outbox entry stands.
type OutboxStatus string

// Outbox statuses.
const (
	OutboxPending   OutboxStatus = "pending"   // not delivered yet (maybe being retried)
	OutboxDelivered OutboxStatus = "delivered" // the destination accepted it
	OutboxFailed    OutboxStatus = "failed"    // given up: the destination refused it for good (ErrPermanent)
)

// OutboxEntry is one notification for one destination. Entries are written in the same
// transaction as the alert changes they follow from, before any attempt to send them, and are
// sent in order of Seq, one destination at a time.
type OutboxEntry struct {
	Seq          uint64       `json:"seq"`
	Destination  string       `json:"destination"` // the Notifier's Name
	Status       OutboxStatus `json:"status"`
	Notification Notification `json:"notification"`
	EnqueuedAt   time.Time    `json:"enqueued_at"`
	Attempts     int          `json:"attempts"`
	// Begun counts the attempts started. It is stored before each attempt, so that after a
	// crash during one (the destination may have posted the message) the next attempt knows
	// to look for it before posting again.
	Begun       int       `json:"begun,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"` // not before; zero: at once
	DoneAt      time.Time `json:"done_at,omitzero"`      // delivered or given up
	Ref         string    `json:"ref,omitempty"`         // the destination's reference of the posted message
}

// queuedEntry names an entry just written, for the delivery loop's in-memory queue.
type queuedEntry struct {
	dest string
	seq  uint64
}

// enqueue writes n to the outbox once per destination.
func (e *Engine) enqueue(tx *store.Tx, n Notification, now time.Time) ([]queuedEntry, error) {
	var out []queuedEntry
	for _, nt := range e.notifiers {
		seq, err := tx.NextSequence(bucketOutbox)
		if err != nil {
			return nil, err
		}
		entry := OutboxEntry{Seq: seq, Destination: nt.Name(), Status: OutboxPending, Notification: n, EnqueuedAt: now}
		if err := tx.Put(bucketOutbox, store.SeqKey(seq), entry); err != nil {
			return nil, err
		}
		out = append(out, queuedEntry{dest: nt.Name(), seq: seq})
	}
	return out, nil
}

// push hands committed entries to the delivery loops.
func (e *Engine) push(q []queuedEntry) {
	if len(q) == 0 {
		return
	}
	dests := map[string]bool{}
	e.mu.Lock()
	for _, x := range q {
		e.queues[x.dest] = append(e.queues[x.dest], x.seq)
		dests[x.dest] = true
	}
	e.mu.Unlock()
	for d := range dests {
		select {
		case e.wake[d] <- struct{}{}:
		default:
		}
	}
}

// loadQueues rebuilds the in-memory queues from the outbox's pending entries (a restart
// resumes where the last run stopped).
func (e *Engine) loadQueues() error {
	orphans := map[string]int{}
	err := e.store.ForEach(bucketOutbox, func(key string, raw []byte) error {
		var o struct {
			Seq         uint64       `json:"seq"`
			Destination string       `json:"destination"`
			Status      OutboxStatus `json:"status"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return fmt.Errorf("outbox %s: %w", key, err)
		}
		if o.Status != OutboxPending {
			return nil
		}
		if _, ok := e.wake[o.Destination]; !ok {
			orphans[o.Destination]++
			return nil
		}
		e.queues[o.Destination] = append(e.queues[o.Destination], o.Seq)
		return nil
	})
	if err != nil {
		return fmt.Errorf("alerts: reading the outbox: %w", err)
	}
	for dest, n := range orphans {
		e.log.Warn("alerts: notifications wait in the outbox for a destination that is not configured", "destination", dest, "pending", n)
	}
	return nil
}

func (e *Engine) head(dest string) (uint64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.queues[dest]
	if len(q) == 0 {
		return 0, false
	}
	return q[0], true
}

func (e *Engine) pop(dest string, seq uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if q := e.queues[dest]; len(q) > 0 && q[0] == seq {
		e.queues[dest] = q[1:]
	}
}

// deliverLoop sends one destination's entries in order: each is retried with jittered
// exponential backoff (or after the destination's Retry-After) until it is delivered or
// refused for good; at most RatePerSecond attempts a second.
func (e *Engine) deliverLoop(ctx context.Context, n Notifier) {
	dest := n.Name()
	interval := time.Duration(float64(time.Second) / e.cfg.RatePerSecond)
	var lastSend time.Time
	wait := func(d time.Duration) bool {
		if d <= 0 {
			return ctx.Err() == nil
		}
		select {
		case <-ctx.Done():
			return false
		case <-e.clock.After(d):
			return true
		}
	}
	for ctx.Err() == nil {
		seq, ok := e.head(dest)
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-e.wake[dest]:
			}
			continue
		}
		var entry OutboxEntry
		found, err := e.store.Get(bucketOutbox, store.SeqKey(seq), &entry)
		if err != nil {
			e.log.Error("alerts: reading the outbox", "destination", dest, "seq", seq, "err", err)
			if !wait(backoffMin) {
				return
			}
			continue
		}
		if !found || entry.Status != OutboxPending {
			e.pop(dest, seq) // never send an entry already marked
			continue
		}
		at := entry.NextAttempt
		if !lastSend.IsZero() && lastSend.Add(interval).After(at) {
			at = lastSend.Add(interval)
		}
		if !wait(at.Sub(e.clock.Now())) {
			return
		}
		threadRef := ""
		if entry.Notification.Kind != KindFiring {
			threadRef = e.threadRef(entry.Notification.ThreadKey, dest)
		}
		// Record the attempt before making it: a crash while the destination holds the message
		// must leave a trace, or the restarted daemon would post it again unchecked.
		nt := entry.Notification
		nt.PriorAttempts = max(entry.Begun, entry.Attempts)
		entry.Begun = nt.PriorAttempts + 1
		if err := e.store.Put(bucketOutbox, store.SeqKey(seq), entry); err != nil {
			e.log.Error("alerts: recording a delivery attempt", "destination", dest, "notification", nt.ID, "err", err)
			if !wait(backoffMin) {
				return
			}
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, e.cfg.DeliverTimeout)
		d, derr := n.Deliver(dctx, nt, threadRef)
		cancel()
		lastSend = e.clock.Now()
		if derr != nil && ctx.Err() != nil {
			return // shutting down: not an answer from the destination; retried after the next Start
		}
		if err := e.settle(&entry, d, derr, lastSend); err != nil {
			e.log.Error("alerts: recording a delivery attempt", "destination", dest, "notification", entry.Notification.ID, "err", err)
			if !wait(backoffMin) {
				return
			}
		}
	}
}

// threadRef returns the first delivered Ref of a thread at dest, "" if none.
func (e *Engine) threadRef(thread, dest string) string {
	if thread == "" {
		return ""
	}
	var th threadRecord
	if ok, err := e.store.Get(bucketThreads, prefixThread+thread, &th); err != nil || !ok {
		if err != nil {
			e.log.Warn("alerts: reading a thread", "thread", thread, "err", err)
		}
		return ""
	}
	return th.Refs[dest]
}

// settle records the outcome of one attempt.
func (e *Engine) settle(entry *OutboxEntry, d Delivery, derr error, now time.Time) error {
	entry.Attempts++
	dest, n := entry.Destination, entry.Notification
	var ra *RetryAfterError
	switch {
	case derr == nil:
		entry.Status, entry.DoneAt, entry.Ref, entry.LastError, entry.NextAttempt = OutboxDelivered, now, d.Ref, "", time.Time{}
	case errors.Is(derr, ErrPermanent):
		entry.Status, entry.DoneAt, entry.LastError, entry.NextAttempt = OutboxFailed, now, derr.Error(), time.Time{}
	default:
		delay := backoff(entry.Attempts)
		if errors.As(derr, &ra) && ra.After > 0 {
			delay = min(ra.After, time.Hour)
		}
		entry.NextAttempt, entry.LastError = now.Add(delay), derr.Error()
	}
	err := e.store.Update(func(tx *store.Tx) error {
		if err := tx.Put(bucketOutbox, store.SeqKey(entry.Seq), entry); err != nil {
			return err
		}
		if derr != nil || d.Ref == "" || n.ThreadKey == "" {
			return nil
		}
		var th threadRecord
		if _, err := tx.Get(bucketThreads, prefixThread+n.ThreadKey, &th); err != nil {
			return err
		}
		if th.Refs[dest] != "" {
			return nil
		}
		if th.Refs == nil {
			th.Refs = map[string]string{}
		}
		th.Refs[dest] = d.Ref
		if th.Group == "" {
			th.Group = n.Group
		}
		return tx.Put(bucketThreads, prefixThread+n.ThreadKey, th)
	})
	if err != nil {
		return err
	}
	switch entry.Status {
	case OutboxDelivered:
		e.pop(dest, entry.Seq)
		e.log.Info("alert notification delivered", "destination", dest, "notification", n.ID, "rule", n.Rule,
			"kind", string(n.Kind), "alerts", len(n.Alerts), "attempts", entry.Attempts, "latency", now.Sub(n.CreatedAt).Round(time.Millisecond))
	case OutboxFailed:
		e.pop(dest, entry.Seq)
		e.log.Error("alert notification failed permanently; giving up (it stays in the outbox as failed)", "destination", dest,
			"notification", n.ID, "rule", n.Rule, "kind", string(n.Kind), "attempts", entry.Attempts, "err", derr)
	default:
		e.log.Warn("alert notification not delivered; will retry", "destination", dest, "notification", n.ID, "rule", n.Rule,
			"attempts", entry.Attempts, "retry_in", entry.NextAttempt.Sub(now).Round(time.Millisecond), "retry_after", ra != nil, "err", derr)
	}
	return nil
}

// backoff is the wait before attempt n+1 after n failures: 1 s doubling to 5 min, with
// jitter in its upper half.
func backoff(attempts int) time.Duration {
	d := backoffMin
	for i := 1; i < attempts && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	return d/2 + rand.N(d/2+1)
}

// Outbox returns every outbox entry kept (pending, and delivered or failed within
// KeepHistory), in order.
func (e *Engine) Outbox() ([]OutboxEntry, error) {
	var out []OutboxEntry
	err := e.store.ForEach(bucketOutbox, func(key string, raw []byte) error {
		var o OutboxEntry
		if err := json.Unmarshal(raw, &o); err != nil {
			return fmt.Errorf("outbox %s: %w", key, err)
		}
		out = append(out, o)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("alerts: reading the outbox: %w", err)
	}
	return out, nil
}
