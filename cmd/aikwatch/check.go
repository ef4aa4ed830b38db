package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aikwatch/aikwatch/internal/daemon"
	"github.com/aikwatch/aikwatch/internal/state"
)

// Exit codes of `aikwatch check`.
const (
	checkGo       = 0
	checkNoGo     = 1
	checkUnknown  = 2
	checkDegraded = 3
)

// verdictExit maps a verdict to check's exit code.
func verdictExit(v state.Verdict) int {
	switch v {
	case state.Go:
		return checkGo
	case state.NoGo:
		return checkNoGo
	case state.Degraded:
		return checkDegraded
	}
	return checkUnknown
}

// registerCheck adds `aikwatch check`: the deployment-day go/no-go.
func (c *cli) registerCheck(actions map[string]func(context.Context) error) {
	cmd := c.app.Command("check", "Can we deploy today? Prints a verdict with reasons. Exit 0 go, 1 no-go, 2 could not decide, 3 degraded.")
	server := cmd.Flag("server", "Ask a running aikwatch daemon (its base URL, e.g. http://127.0.0.1:10944) instead of checking now.").String()
	vendors := cmd.Flag("vendor", "Narrow the question to this TPM vendor (IFX, INTC, AMD, NTC, STM, ...). Repeatable.").Strings()
	hosts := cmd.Flag("host", "Narrow the question to this AIK host. Repeatable.").Strings()
	ekcerts := cmd.Flag("ekcert", "Narrow the question to the AIK host serving this device EK certificate (PEM or DER). Repeatable.").ExistingFiles()
	config := cmd.Flag("config", "Configuration file (YAML), as for serve, when checking without --server.").ExistingFile()
	timeout := cmd.Flag("timeout", "Give up after this long.").Default("2m").Duration()
	out := outputFlag(cmd)
	nf := addNetFlags(cmd)
	rf := addRootsFlags(cmd)

	actions[cmd.FullCommand()] = func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		scopeHosts := append([]string(nil), *hosts...)
		for _, f := range *ekcerts {
			h, err := daemon.EKCertHost(f)
			if err != nil {
				return exitCode(checkUnknown, err)
			}
			scopeHosts = append(scopeHosts, h)
		}
		var a state.Assessment
		var err error
		if *server != "" {
			a, err = remoteAssessment(ctx, *server, *vendors, scopeHosts, nf)
		} else {
			a, err = c.localAssessment(ctx, *config, *vendors, scopeHosts, nf, rf)
		}
		if err != nil {
			return exitCode(checkUnknown, err)
		}
		if *out == "json" {
			if err := writeJSON(c.stdout, a); err != nil {
				return err
			}
		} else {
			renderAssessment(c.stdout, a)
		}
		if code := verdictExit(a.Verdict); code != 0 {
			return exitCode(code, nil)
		}
		return nil
	}
}

// remoteAssessment asks a daemon's /api/v1/status.
func remoteAssessment(ctx context.Context, base string, vendors, hosts []string, nf *netFlags) (state.Assessment, error) {
	var a state.Assessment
	u, err := url.Parse(strings.TrimRight(base, "/") + "/api/v1/status")
	if err != nil {
		return a, fmt.Errorf("--server %q: %w", base, err)
	}
	q := u.Query()
	for _, v := range vendors {
		q.Add("vendor", v)
	}
	for _, h := range hosts {
		q.Add("host", h)
	}
	u.RawQuery = q.Encode()
	client, err := nf.options(30 * time.Second).Client()
	if err != nil {
		return a, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return a, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return a, fmt.Errorf("asking %s: %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return a, fmt.Errorf("asking %s: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		return a, fmt.Errorf("asking %s: HTTP %d: %.200s", u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return a, fmt.Errorf("asking %s: not an aikwatch status: %w", base, err)
	}
	return a, nil
}

// localAssessment runs one refresh, sweep and set of checks in a throwaway data directory.
func (c *cli) localAssessment(ctx context.Context, configPath string, vendors, hosts []string, nf *netFlags, rf *rootsFlags) (state.Assessment, error) {
	cfg, err := daemon.LoadConfig(configPath)
	if err != nil {
		return state.Assessment{}, err
	}
	if err := cfg.ApplyEnv(os.Getenv); err != nil {
		return state.Assessment{}, err
	}
	cfg.Network.Resolve = append(cfg.Network.Resolve, nf.resolve...)
	cfg.Network.CAFiles = append(cfg.Network.CAFiles, nf.caFiles...)
	rf.apply(&cfg)
	dir, err := os.MkdirTemp("", "aikwatch-check-")
	if err != nil {
		return state.Assessment{}, err
	}
	defer os.RemoveAll(dir)
	cfg.DataDir = dir
	cfg.Fleet.Hosts = append(cfg.Fleet.Hosts, hosts...)
	d, err := daemon.New(cfg, daemon.Options{Logger: c.logger})
	if err != nil {
		return state.Assessment{}, err
	}
	defer d.Close()
	if err := d.RunOnce(ctx); err != nil {
		c.logger.Warn("check: not everything could be checked", "err", err)
	}
	return state.Assess(d.State(), state.AssessOptions{Fleet: d.Fleet(), Vendors: vendors, Hosts: hosts,
		StaleAfter: cfg.Verdict.StaleAfter, ExpiryWindow: cfg.EK.ExpiryWindow}), nil
}

// renderAssessment prints the verdict for people.
func renderAssessment(w io.Writer, a state.Assessment) {
	fmt.Fprintf(w, "%s\n", strings.ToUpper(string(a.Verdict)))
	fmt.Fprintf(w, "%s\n", a.Summary)
	if a.ReleaseDate != "" {
		fmt.Fprintf(w, "Trust list %s (%s), %d AIK hosts probed, %d failing\n", a.ReleaseDate, short(a.ReleaseSHA256), a.HostsProbed, a.HostsFailing)
	}
	if len(a.Reasons) > 0 {
		fmt.Fprintln(w, "\nReasons")
		for _, r := range a.Reasons {
			where := r.Host
			if where == "" {
				where = r.Vendor
			}
			fleet := ""
			if r.Fleet {
				fleet = " [fleet]"
			}
			fmt.Fprintf(w, "  %-8s %s%s: %s\n", r.Verdict, orDash(where), fleet, r.Message)
			if r.Evidence != "" {
				fmt.Fprintf(w, "           evidence: %s\n", r.Evidence)
			}
			if r.Action != "" {
				fmt.Fprintf(w, "           do: %s\n", r.Action)
			}
		}
	}
	if len(a.Vendors) > 0 {
		fmt.Fprintln(w, "\nVendors")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, v := range a.Vendors {
			fleet := ""
			if v.Fleet {
				fleet = "fleet"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d hosts\t%d failing\t%s\n", v.Name, v.Verdict, v.Hosts, v.Failing, fleet)
		}
		tw.Flush()
	}
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
