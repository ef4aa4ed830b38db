package daemon

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aikwatch/aikwatch/canary"
	"github.com/aikwatch/aikwatch/internal/state"
)

// Errors of [Daemon.ReportCanary], for the API to answer with the right status.
var (
	// ErrCanariesDisabled: the configuration refuses canary reports.
	ErrCanariesDisabled = fmt.Errorf("%w: canary reports are disabled (canaries.disabled)", canary.ErrRefused)
	// ErrCanaryLimit: the report names a new canary and canaries.max are already known.
	ErrCanaryLimit = fmt.Errorf("%w: too many canaries (canaries.max)", canary.ErrRefused)
)

// ReportCanary records a Windows canary's report: it is validated, stored, and becomes part of
// the state (the verdict, the metrics and the alerts see it).
func (d *Daemon) ReportCanary(r canary.Report) (state.CanaryState, error) {
	if d.cfg.Canaries.Disabled {
		return state.CanaryState{}, ErrCanariesDisabled
	}
	if err := r.Validate(); err != nil {
		return state.CanaryState{}, fmt.Errorf("%w: %w", canary.ErrInvalidReport, err)
	}
	now := d.now().UTC()
	var saved state.CanaryState
	err := d.update(func(st *state.State) error {
		i, found := slices.BinarySearchFunc(st.Canaries, r.Canary, func(c state.CanaryState, name string) int {
			return strings.Compare(c.Name, name)
		})
		var c state.CanaryState
		if found {
			c = st.Canaries[i]
		} else if len(st.Canaries) >= d.cfg.Canaries.Max {
			return fmt.Errorf("%w: %d known; forget one with DELETE /api/v1/canaries/{name}", ErrCanaryLimit, len(st.Canaries))
		}
		ok := true
		for _, ch := range r.Checks {
			if state.CanaryCheckFailed(ch) {
				ok = false
			}
		}
		if !found || c.OK != ok {
			c.Since = now
		}
		c.Name, c.Report, c.Received, c.OK = r.Canary, r, now, ok
		c.StaleAt = state.CanaryStaleAt(now, r, d.cfg.Canaries.StaleAfter)
		if ok {
			c.Failures, c.LastOK = 0, now
		} else {
			c.Failures++
		}
		if err := d.store.SaveCanary(c); err != nil {
			return err
		}
		next := slices.Clone(st.Canaries)
		if found {
			next[i] = c
		} else {
			next = slices.Insert(next, i, c)
		}
		st.Canaries, saved = next, c
		return nil
	})
	if err != nil {
		return state.CanaryState{}, err
	}
	failing := len(saved.FailedChecks())
	lvl := d.log.Info
	if failing > 0 {
		lvl = d.log.Warn
	}
	lvl("canary report", "canary", saved.Name, "ok", saved.OK, "failing_checks", failing, "vendor", saved.Vendor())
	return saved, nil
}

// ForgetCanary removes a canary and its last report; it reports whether it was known.
func (d *Daemon) ForgetCanary(name string) (bool, error) {
	var found bool
	err := d.update(func(st *state.State) error {
		i := slices.IndexFunc(st.Canaries, func(c state.CanaryState) bool { return c.Name == name })
		if i < 0 {
			return nil
		}
		found = true
		if err := d.store.DeleteCanary(name); err != nil {
			return err
		}
		st.Canaries = slices.Delete(slices.Clone(st.Canaries), i, i+1)
		return nil
	})
	if err == nil && found {
		d.log.Info("canary forgotten", "canary", name)
	}
	return found, err
}
