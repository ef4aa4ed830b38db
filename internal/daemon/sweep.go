package daemon

import (
	"context"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// Sweep probes every AIK host of the release in force and of the fleet once, and records each
// host's result, when its status last changed and how many sweeps in a row it has failed.
func (d *Daemon) Sweep(ctx context.Context) error {
	d.sweepMu.Lock()
	defer d.sweepMu.Unlock()
	cur := d.State()
	targets := d.targets(cur)
	if len(targets) == 0 {
		return nil
	}
	started := d.now().UTC()
	results := probes.Sweep(ctx, d.prober, targets, probes.SweepOptions{Concurrency: d.cfg.Probes.Concurrency})
	if ctx.Err() != nil {
		return ctx.Err() // a cancelled sweep says nothing about the hosts
	}
	finished := d.now().UTC()
	byHost := make(map[string]probes.Result, len(results))
	for _, r := range results {
		byHost[r.Host] = r
	}
	return d.update(func(st *state.State) error {
		hosts := slices.Clone(st.Hosts)
		failing := 0
		for i, h := range hosts {
			r, ok := byHost[h.Host]
			if !ok || r.Status == probes.StatusCancelled {
				continue
			}
			hosts[i] = nextHostState(h, r, finished)
			if hosts[i].Failing() {
				failing++
			}
		}
		st.Hosts = hosts
		st.LastSweep = state.SweepStatus{Started: started, Finished: finished, Probed: len(results), Failing: failing}
		if err := d.store.SaveHosts(hosts); err != nil {
			return err
		}
		return d.store.SaveSweep(st.LastSweep)
	})
}

// nextHostState folds one probe result into a host's state.
func nextHostState(h state.HostState, r probes.Result, at time.Time) state.HostState {
	r.Fleet = h.Fleet
	if r.Status != h.Status {
		h.Since = at
	}
	h.Status = r.Status
	if r.OK() {
		h.Failures = 0
		h.LastOK = at
	} else {
		h.Failures++
	}
	h.Last = &r
	return h
}

// targets lists the hosts to probe, with the trust list's certificates for each so that the
// probe can say whether the service hands out the same AIK CA.
func (d *Daemon) targets(st *state.State) []probes.Target {
	var files []trustlist.File
	if f := d.files.Load(); f != nil {
		files = *f
	}
	var out []probes.Target
	for _, h := range st.Hosts {
		out = append(out, probes.Target{Host: h.Host, Vendor: h.Vendor, IDKind: h.IDKind, ID: h.ID, Fleet: h.Fleet})
	}
	return probes.WithExpectedCerts(out, files)
}

// hostSet is the set of hosts to watch for a release: every AIK host it names, plus the fleet's
// hosts (kept, marked as not in the trust list, when a release drops them). Known hosts keep
// their history; hosts the release no longer names leave, unless they are the fleet's.
func (d *Daemon) hostSet(rel *trustlist.Snapshot, prev []state.HostState) []state.HostState {
	old := make(map[string]state.HostState, len(prev))
	for _, h := range prev {
		old[h.Host] = h
	}
	seen := map[string]bool{}
	var out []state.HostState
	add := func(host, vendor, kind, id string, inTL bool) {
		if seen[host] {
			return
		}
		seen[host] = true
		h, ok := old[host]
		if !ok {
			h = state.HostState{Host: host, Vendor: vendor, IDKind: kind, ID: id}
		}
		h.InTrustList = inTL
		h.Fleet = d.fleet.HasHost(host, vendor)
		out = append(out, h)
	}
	if rel != nil {
		for _, a := range rel.AIKHosts {
			add(a.Host, a.Vendor, a.IDKind, a.ID, true)
		}
	}
	for _, fh := range d.fleet.Hosts {
		host := state.NormalizeHost(fh)
		n, err := trustlist.ParseAIKHost(host)
		if err != nil {
			continue // validated with the configuration
		}
		add(host, n.Vendor, n.IDKind, n.ID, false)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}

// randDuration returns a random duration in [0, max].
func randDuration(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max + 1)
}
