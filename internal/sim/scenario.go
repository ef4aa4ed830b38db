package sim

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/aikwatch/aikwatch/trustlist"
)

// Scenario is a timed list of changes to the simulated world, run by [Sim.RunScenario].
//
// In YAML, either a list of steps or a mapping with one key, steps:
//
//	steps:
//	  - at: 30s                       # since the scenario started
//	    host: ifx-keyid-....microsoftaik.azure.net   # or "*" for every host
//	    mode: withdrawn
//	    latency_ms: 100               # optional
//	  - at: 1m
//	    defaults: {latency_ms: 50}    # default mode and/or latency for every host
//	  - at: 2m
//	    publish: releases/next.cab    # relative to the scenario file
//	  - at: 3m                        # publish the current release minus these hosts' AIK CAs,
//	    withdraw_release: [ifx-keyid-....microsoftaik.azure.net]   # signed by the simulator
//	    date: 2026-11-23              # optional: the version.txt entry's date (default: that day)
type Scenario struct {
	Steps []Step
}

// Step is one change of a [Scenario]. Exactly one of Host, Publish/PublishBytes, Defaults and
// WithdrawRelease is set.
type Step struct {
	At           time.Duration // when, since the scenario started
	Host         string        // a simulated host, or "*" for every host (clearing their own modes)
	Mode         Mode          // with Host: the mode (required); with Defaults: optional
	LatencyMS    *int64        // with Host or Defaults: added latency in milliseconds
	Defaults     bool          // set the default mode (when Mode is set) and latency (when LatencyMS is set)
	Publish      string        // path of a trust list to publish
	PublishBytes []byte        // or its bytes (from Go, or read from Publish by ParseScenarioFile)
	// WithdrawRelease lists AIK hosts: the step publishes [Sim.WithdrawRelease] of the release
	// being served (and sets the simulator's own EK CA hosts among them to [ModeWithdrawn]).
	WithdrawRelease []string
	Date            time.Time // with WithdrawRelease: the new version.txt entry's date; zero: the day the step runs
	Line            int       // line of the step in the YAML source, 0 if none
}

// stepName identifies the step in errors: its 1-based index and, when known, its line.
func stepName(i int, line int) string {
	if line > 0 {
		return fmt.Sprintf("step %d (line %d)", i+1, line)
	}
	return fmt.Sprintf("step %d", i+1)
}

// Validate checks every step and names the first bad one (1-based).
func (sc *Scenario) Validate() error {
	if sc == nil || len(sc.Steps) == 0 {
		return errors.New("scenario: no steps")
	}
	for i, st := range sc.Steps {
		if err := st.validate(); err != nil {
			return fmt.Errorf("scenario %s: %w", stepName(i, st.Line), err)
		}
	}
	return nil
}

func (st Step) validate() error {
	if st.At < 0 {
		return fmt.Errorf("at: negative time %v", st.At)
	}
	kinds := 0
	if st.Host != "" {
		kinds++
	}
	if st.Publish != "" || st.PublishBytes != nil {
		kinds++
	}
	if st.Defaults {
		kinds++
	}
	if len(st.WithdrawRelease) > 0 {
		kinds++
	}
	if kinds != 1 {
		return errors.New("want exactly one of host, publish, defaults, withdraw_release")
	}
	if !st.Date.IsZero() && len(st.WithdrawRelease) == 0 {
		return errors.New("date: belongs to withdraw_release steps")
	}
	if st.LatencyMS != nil && *st.LatencyMS < 0 {
		return fmt.Errorf("latency_ms: negative (%d)", *st.LatencyMS)
	}
	switch {
	case st.Host != "":
		if st.Host != "*" && !Served(st.Host) {
			return fmt.Errorf("host %q: not a simulated host (want a name under %s, one of %v, or \"*\")", st.Host, AIKSuffix, ServiceHosts)
		}
		if st.Mode == "" {
			return errors.New("mode: missing (a host step needs one)")
		}
	case st.Defaults:
		if st.Mode == "" && st.LatencyMS == nil {
			return errors.New("defaults: give mode and/or latency_ms")
		}
	case len(st.WithdrawRelease) > 0:
		if st.Mode != "" || st.LatencyMS != nil {
			return errors.New("withdraw_release: mode and latency_ms belong to host or defaults steps")
		}
		for _, h := range st.WithdrawRelease {
			n, err := trustlist.ParseAIKHost(h)
			if err != nil {
				return fmt.Errorf("withdraw_release: %w", err)
			}
			if !n.Valid() {
				return fmt.Errorf("withdraw_release: aik host %q: id has %d hex digits, want 40", h, len(n.ID))
			}
		}
	default:
		if st.Mode != "" || st.LatencyMS != nil {
			return errors.New("publish: mode and latency_ms belong to host or defaults steps")
		}
	}
	if st.Mode != "" && !st.Mode.Valid() {
		return fmt.Errorf("mode: unknown %q (want one of %v)", st.Mode, Modes)
	}
	return nil
}

var stepKeys = []string{"at", "host", "mode", "latency_ms", "publish", "defaults", "withdraw_release", "date"}

// ParseScenario parses and validates a YAML scenario. Errors name the step (1-based) and its
// line. Publish paths are kept as written (see [ParseScenarioFile] to read them).
func ParseScenario(data []byte) (*Scenario, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("scenario: empty document")
		}
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if len(doc.Content) != 1 {
		return nil, errors.New("scenario: empty document")
	}
	root := doc.Content[0]
	list := root
	if root.Kind == yaml.MappingNode {
		list = nil
		for i := 0; i+1 < len(root.Content); i += 2 {
			if k := root.Content[i].Value; k != "steps" {
				return nil, fmt.Errorf("scenario line %d: unknown key %q (want steps)", root.Content[i].Line, k)
			}
			list = root.Content[i+1]
		}
		if list == nil {
			return nil, errors.New("scenario: no steps key")
		}
	}
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("scenario line %d: want a list of steps", list.Line)
	}
	sc := &Scenario{}
	for i, n := range list.Content {
		st, err := parseStep(n)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", stepName(i, n.Line), err)
		}
		sc.Steps = append(sc.Steps, st)
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return sc, nil
}

func parseStep(n *yaml.Node) (Step, error) {
	st := Step{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return st, errors.New("want a mapping (at:, host:, mode:, ...)")
	}
	seen := map[string]bool{}
	hasAt := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		if !slices.Contains(stepKeys, k) {
			return st, fmt.Errorf("unknown key %q (want one of %v)", k, stepKeys)
		}
		if seen[k] {
			return st, fmt.Errorf("key %q given twice", k)
		}
		seen[k] = true
		switch k {
		case "at":
			d, err := parseAt(v)
			if err != nil {
				return st, err
			}
			st.At, hasAt = d, true
		case "host":
			if err := scalar(k, v, &st.Host); err != nil {
				return st, err
			}
		case "mode":
			var m string
			if err := scalar(k, v, &m); err != nil {
				return st, err
			}
			st.Mode = Mode(m)
		case "latency_ms":
			var s string
			if err := scalar(k, v, &s); err != nil {
				return st, err
			}
			ms, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return st, fmt.Errorf("latency_ms: %q is not a whole number of milliseconds", s)
			}
			st.LatencyMS = &ms
		case "publish":
			if err := scalar(k, v, &st.Publish); err != nil {
				return st, err
			}
			if st.Publish == "" {
				return st, errors.New("publish: empty path")
			}
		case "withdraw_release":
			hosts, err := hostList(v)
			if err != nil {
				return st, err
			}
			st.WithdrawRelease = hosts
		case "date":
			var s string
			if err := scalar(k, v, &s); err != nil {
				return st, err
			}
			d, err := time.Parse(time.DateOnly, s)
			if err != nil {
				return st, fmt.Errorf("date: %q is not a date like 2026-11-23", s)
			}
			st.Date = d
		case "defaults":
			if v.Kind != yaml.MappingNode {
				return st, errors.New("defaults: want a mapping like {mode: ok, latency_ms: 50}")
			}
			st.Defaults = true
			for j := 0; j+1 < len(v.Content); j += 2 {
				dk, dv := v.Content[j].Value, v.Content[j+1]
				var s string
				if err := scalar("defaults."+dk, dv, &s); err != nil {
					return st, err
				}
				switch dk {
				case "mode":
					st.Mode = Mode(s)
				case "latency_ms":
					ms, err := strconv.ParseInt(s, 10, 64)
					if err != nil {
						return st, fmt.Errorf("defaults.latency_ms: %q is not a whole number of milliseconds", s)
					}
					st.LatencyMS = &ms
				default:
					return st, fmt.Errorf("defaults: unknown key %q (want mode, latency_ms)", dk)
				}
			}
		}
	}
	if seen["defaults"] && (seen["mode"] || seen["latency_ms"]) {
		return st, errors.New("defaults: put mode and latency_ms inside defaults: {...}")
	}
	if !hasAt {
		return st, errors.New("at: missing (e.g. at: 30s)")
	}
	return st, nil
}

// hostList reads withdraw_release: a list of host names, or a single one.
func hostList(v *yaml.Node) ([]string, error) {
	var nodes []*yaml.Node
	switch v.Kind {
	case yaml.ScalarNode:
		nodes = []*yaml.Node{v}
	case yaml.SequenceNode:
		nodes = v.Content
	default:
		return nil, errors.New("withdraw_release: want a list of AIK host names")
	}
	var hosts []string
	for _, n := range nodes {
		var h string
		if err := scalar("withdraw_release", n, &h); err != nil {
			return nil, err
		}
		if h == "" {
			return nil, errors.New("withdraw_release: empty host name")
		}
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 {
		return nil, errors.New("withdraw_release: no hosts")
	}
	return hosts, nil
}

func scalar(key string, v *yaml.Node, out *string) error {
	if v.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s: want a single value", key)
	}
	*out = v.Value
	return nil
}

// parseAt reads a step time: a Go duration ("30s", "2m", "1h30m", "50ms"), or 0.
func parseAt(v *yaml.Node) (time.Duration, error) {
	if v.Kind != yaml.ScalarNode {
		return 0, errors.New("at: want a duration like 30s")
	}
	if v.Value == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v.Value)
	if err != nil {
		return 0, fmt.Errorf("at: %q is not a duration like 30s, 2m or 500ms", v.Value)
	}
	if d < 0 {
		return 0, fmt.Errorf("at: negative time %q", v.Value)
	}
	return d, nil
}

// ParseScenarioFile reads, parses and validates a scenario file, reading every trust list
// it publishes (paths relative to the file's directory) and checking that each parses, so
// that a bad scenario fails at start rather than halfway.
func ParseScenarioFile(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	sc, err := ParseScenario(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for i := range sc.Steps {
		st := &sc.Steps[i]
		if st.Publish == "" || st.PublishBytes != nil {
			continue
		}
		p := st.Publish
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%s: scenario %s: publish: %w", path, stepName(i, st.Line), err)
		}
		if _, err := parseRelease(context.Background(), b); err != nil {
			return nil, fmt.Errorf("%s: scenario %s: publish %s: %w", path, stepName(i, st.Line), st.Publish, err)
		}
		st.PublishBytes = b
	}
	return sc, nil
}

// RunScenario applies the scenario's steps at their times (counted from the call), in time
// order, and returns when all are applied, when ctx ends (with ctx's error) or when the
// simulator closes. A step that fails is logged and reported in the returned error; the
// others still run.
func (s *Sim) RunScenario(ctx context.Context, sc *Scenario) error {
	if err := sc.Validate(); err != nil {
		return err
	}
	order := make([]int, len(sc.Steps))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(sc.Steps[a].At, sc.Steps[b].At) })
	start := time.Now()
	var errs []error
	for _, i := range order {
		st := sc.Steps[i]
		if d := time.Until(start.Add(st.At)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-s.closing:
				t.Stop()
				return errors.New("scenario: simulator closed")
			}
		}
		if err := s.applyStep(ctx, st); err != nil {
			err = fmt.Errorf("scenario %s: %w", stepName(i, st.Line), err)
			s.log.Error("scenario step failed", "err", err)
			errs = append(errs, err)
			continue
		}
		s.log.Info("scenario step applied", "step", i+1, "at", st.At, "what", st.describe())
	}
	return errors.Join(errs...)
}

func (st Step) describe() string {
	lat := ""
	if st.LatencyMS != nil {
		lat = fmt.Sprintf(" latency_ms=%d", *st.LatencyMS)
	}
	switch {
	case st.Host != "":
		return fmt.Sprintf("host %s mode=%s%s", st.Host, st.Mode, lat)
	case st.Defaults:
		return strings.TrimSpace(fmt.Sprintf("defaults mode=%s%s", st.Mode, lat))
	case len(st.WithdrawRelease) > 0:
		return "withdraw_release " + strings.Join(st.WithdrawRelease, ", ")
	case st.Publish != "":
		return "publish " + st.Publish
	}
	return fmt.Sprintf("publish %d bytes", len(st.PublishBytes))
}

func (s *Sim) applyStep(ctx context.Context, st Step) error {
	var lat time.Duration
	if st.LatencyMS != nil {
		lat = time.Duration(*st.LatencyMS) * time.Millisecond
	}
	switch {
	case st.Host == "*":
		return s.SetAll(st.Mode, lat)
	case st.Host != "":
		return s.SetMode(st.Host, st.Mode, lat)
	case st.Defaults:
		var lp *time.Duration
		if st.LatencyMS != nil {
			lp = &lat
		}
		s.modes.setDefaults(st.Mode, lp, false)
		return nil
	case len(st.WithdrawRelease) > 0:
		return s.applyWithdraw(ctx, st.Date, st.WithdrawRelease)
	}
	b := st.PublishBytes
	if b == nil {
		var err error
		if b, err = os.ReadFile(st.Publish); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	return s.Publish(b)
}

// applyWithdraw publishes the current release minus the hosts' AIK CAs. The simulator's own
// EK CA hosts, which it serves whatever the trust list says, are set to [ModeWithdrawn] so
// that every withdrawn host answers 404.
func (s *Sim) applyWithdraw(ctx context.Context, date time.Time, hosts []string) error {
	b, err := s.WithdrawRelease(ctx, date, hosts...)
	if err != nil {
		return err
	}
	if err := s.Publish(b); err != nil {
		return err
	}
	for _, h := range hosts {
		n, err := trustlist.ParseAIKHost(h)
		if err != nil {
			return err // not reached: WithdrawRelease parsed it
		}
		if _, own := s.simBundles[n.Host()]; own {
			if err := s.SetMode(n.Host(), ModeWithdrawn, 0); err != nil {
				return err
			}
		}
	}
	return nil
}
