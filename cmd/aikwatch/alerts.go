package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aikwatch/aikwatch/alerts"
)

// alertsTimeout bounds one request to the daemon.
const alertsTimeout = 30 * time.Second

// registerAlerts adds `aikwatch alerts list|silence|unsilence`, which talk to a running
// daemon's alerts API.
func (c *cli) registerAlerts(actions map[string]func(context.Context) error) {
	cmd := c.app.Command("alerts", "List a running daemon's alerts, and silence them (through its API).")
	server := cmd.Flag("server", "Base URL of the aikwatch daemon (user:password@ in it for basic auth).").
		Default("http://127.0.0.1" + defaultListen).String()
	nf := addNetFlags(cmd)

	list := cmd.Command("list", "List firing, pending and recently resolved alerts, and the silences in force.")
	listOut := outputFlag(list)
	listState := list.Flag("state", "Only alerts in these states (comma-separated: firing, pending, resolved).").String()
	actions[list.FullCommand()] = func(ctx context.Context) error {
		api, err := c.alertsAPI(*server, nf)
		if err != nil {
			return err
		}
		q := url.Values{}
		if *listState != "" {
			q.Set("state", *listState)
		}
		var ar alerts.AlertsResponse
		if err := api.do(ctx, http.MethodGet, alerts.PathAlerts, q, nil, &ar); err != nil {
			return err
		}
		var sr alerts.SilencesResponse
		if err := api.do(ctx, http.MethodGet, alerts.PathSilences, nil, nil, &sr); err != nil {
			return err
		}
		if *listOut == "json" {
			return writeJSON(c.stdout, struct {
				Alerts   []alerts.Alert   `json:"alerts"`
				Silences []alerts.Silence `json:"silences"`
			}{ar.Alerts, sr.Silences})
		}
		return renderAlerts(c.stdout, ar.Alerts, sr.Silences, time.Now())
	}

	sil := cmd.Command("silence", "Silence the alerts of a host, a vendor or a rule (or a combination: all must match) for a while.")
	silOut := outputFlag(sil)
	host := sil.Flag("host", "AIK host, with or without .microsoftaik.azure.net.").String()
	vendor := sil.Flag("vendor", "Vendor code as in AIK host names: IFX, INTC, AMD, NTC, STM, ...").String()
	rule := sil.Flag("rule", "Rule name, e.g. AIKEndpointSlow (see the README for the list).").String()
	dur := sil.Flag("for", "How long: a Go duration (90m, 24h) or days (7d).").Default("24h").String()
	comment := sil.Flag("comment", "Why, for the others (a ticket, a maintenance window).").String()
	actions[sil.FullCommand()] = func(ctx context.Context) error {
		if *host == "" && *vendor == "" && *rule == "" {
			return exitCode(2, errors.New("alerts silence: give --host, --vendor or --rule"))
		}
		if *rule != "" {
			if _, ok := alerts.RuleName(*rule); !ok {
				return exitCode(2, fmt.Errorf("alerts silence: unknown rule %q", *rule))
			}
		}
		if _, err := alerts.ParseDuration(*dur); err != nil {
			return exitCode(2, fmt.Errorf("alerts silence: --for: %w", err))
		}
		api, err := c.alertsAPI(*server, nf)
		if err != nil {
			return err
		}
		req := alerts.SilenceRequest{Host: *host, Vendor: *vendor, Rule: *rule, Duration: *dur, Comment: *comment}
		var s alerts.Silence
		if err := api.do(ctx, http.MethodPost, alerts.PathSilences, nil, req, &s); err != nil {
			return err
		}
		if *silOut == "json" {
			return writeJSON(c.stdout, s)
		}
		fmt.Fprintf(c.stdout, "silence %s: %s until %s\n", s.ID, silenceMatch(s), s.Until.Local().Format(time.RFC3339))
		return nil
	}

	unsil := cmd.Command("unsilence", "Remove a silence made with `alerts silence` (those of the configuration are removed there).")
	id := unsil.Arg("ID", "The silence's ID, as `alerts list` shows it.").Required().String()
	actions[unsil.FullCommand()] = func(ctx context.Context) error {
		api, err := c.alertsAPI(*server, nf)
		if err != nil {
			return err
		}
		if err := api.do(ctx, http.MethodDelete, alerts.PathSilences+"/"+url.PathEscape(*id), nil, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "silence %s removed\n", *id)
		return nil
	}
}

// alertsClient calls one daemon's alerts API.
type alertsClient struct {
	base   *url.URL
	client *http.Client
}

func (c *cli) alertsAPI(server string, nf *netFlags) (*alertsClient, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, exitCode(2, fmt.Errorf("--server %q: want a base URL such as http://127.0.0.1%s", server, defaultListen))
	}
	client, err := nf.options(alertsTimeout).Client()
	if err != nil {
		return nil, exitCode(2, err)
	}
	return &alertsClient{base: u, client: client}, nil
}

// do sends a request with body (JSON) and decodes the answer into out; an API error becomes
// an error quoting the daemon's message.
func (a *alertsClient) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	u := *a.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = q.Encode()
	shown := u.Redacted()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return exitCode(2, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return exitCode(2, fmt.Errorf("%s %s: %w", method, shown, err))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return exitCode(2, fmt.Errorf("asking the daemon at %s: %w", a.base.Redacted(), err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return exitCode(2, fmt.Errorf("%s %s: reading the answer: %w", method, shown, err))
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		code := 2
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusConflict {
			code = 1
		}
		return exitCode(code, fmt.Errorf("%s %s: HTTP %d: %s", method, shown, resp.StatusCode, msg))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return exitCode(2, fmt.Errorf("%s %s: not an aikwatch answer: %w", method, shown, err))
	}
	return nil
}

// renderAlerts prints alerts and silences as two tables.
func renderAlerts(w io.Writer, as []alerts.Alert, ss []alerts.Silence, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(as) == 0 {
		fmt.Fprintln(tw, "No alerts.")
	} else {
		fmt.Fprintln(tw, "STATE\tSEVERITY\tRULE\tSUBJECT\tSINCE\tSUMMARY")
		for _, a := range as {
			st := string(a.State)
			if a.SilencedBy != "" {
				st += " (silenced " + a.SilencedBy + ")"
			}
			sev := string(a.Severity)
			if a.Fleet {
				sev += " (fleet)"
			}
			since := a.Since
			if a.State == alerts.StateResolved {
				since = a.Resolved
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st, sev, a.Rule, oneLine(a.Subject, 100), ago(now, since), oneLine(a.Summary, 120))
		}
	}
	fmt.Fprintln(tw)
	if len(ss) == 0 {
		fmt.Fprintln(tw, "No silences.")
	} else {
		fmt.Fprintln(tw, "SILENCE\tMATCHES\tUNTIL\tCOMMENT")
		for _, s := range ss {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, silenceMatch(s), s.Until.Local().Format("2006-01-02 15:04 MST"), oneLine(s.Comment, 80))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the table: %w", err)
	}
	return nil
}

// silenceMatch says what a silence matches.
func silenceMatch(s alerts.Silence) string {
	var parts []string
	if s.Rule != "" {
		parts = append(parts, "rule="+s.Rule)
	}
	if s.Vendor != "" {
		parts = append(parts, "vendor="+s.Vendor)
	}
	if s.Host != "" {
		parts = append(parts, "host="+s.Host)
	}
	return strings.Join(parts, " ")
}

// ago says how long before now t was, roughly.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// oneLine makes s fit one table cell.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
