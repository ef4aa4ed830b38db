package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/alerts"
	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/store"
	"github.com/aikwatch/aikwatch/probes"
)

// runAlertsCLI runs the CLI (the alerts commands are registered by run).
func runAlertsCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, args...)
}

// alertsServer runs an alerts engine with one firing alert behind basic auth on loopback, and
// returns the URL to reach it (credentials included).
func alertsServer(t *testing.T) (string, *alerts.Engine) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "aikwatch.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, err := alerts.NewEngine(st, alerts.Config{ConsecutiveSweeps: 1, EvalInterval: -1,
		Silences: []alerts.Silence{{ID: "from-config", Rule: "TrustListStale", Until: time.Now().Add(time.Hour), Comment: "lab"}}}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	host := "ifx-keyid-" + strings.Repeat("ab", 20) + ".microsoftaik.azure.net"
	now := time.Now()
	err = e.Evaluate(&state.State{Hosts: []state.HostState{{Host: host, Vendor: "IFX", Status: probes.StatusTimeout, Since: now, Failures: 1,
		Last: &probes.Result{Host: host, Vendor: "IFX", Status: probes.StatusTimeout, Error: "deadline exceeded", StartedAt: now}}}})
	if err != nil {
		t.Fatal(err)
	}
	h := e.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.Replace(srv.URL, "http://", "http://admin:s3cret@", 1), e
}

func TestAlertsCLI(t *testing.T) {
	server, _ := alertsServer(t)

	code, out, errs := runAlertsCLI(t, "alerts", "list", "--server", server)
	if code != 0 || !regexp.MustCompile(`firing\s+critical\s+AIKEndpointDown\s+ifx-keyid-abab`).MatchString(out) ||
		!strings.Contains(out, "from-config  rule=TrustListStale") {
		t.Fatalf("list: exit %d\n%s\n%s", code, out, errs)
	}

	code, out, errs = runAlertsCLI(t, "alerts", "silence", "--server", server, "--vendor", "ifx", "--for", "2h", "--comment", "vendor ticket 42")
	m := regexp.MustCompile(`^silence ([0-9a-f]{16}): vendor=IFX until `).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("silence: exit %d\n%s\n%s", code, out, errs)
	}
	id := m[1]

	code, out, errs = runAlertsCLI(t, "alerts", "list", "--server", server, "-o", "json", "--state", "firing")
	var got struct {
		Alerts   []alerts.Alert   `json:"alerts"`
		Silences []alerts.Silence `json:"silences"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
		t.Fatalf("list json: exit %d %v\n%s", code, err, errs)
	}
	if len(got.Alerts) != 1 || got.Alerts[0].SilencedBy != id || len(got.Silences) != 2 || got.Silences[1].Comment != "vendor ticket 42" {
		t.Fatalf("list json: %+v", got)
	}

	if code, out, errs := runAlertsCLI(t, "alerts", "unsilence", "--server", server, id); code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("unsilence: exit %d %s %s", code, out, errs)
	}
	if code, _, errs := runAlertsCLI(t, "alerts", "unsilence", "--server", server, id); code != 1 || !strings.Contains(errs, "no such silence") {
		t.Errorf("unsilence again: exit %d %s", code, errs)
	}
	if code, _, errs := runAlertsCLI(t, "alerts", "unsilence", "--server", server, "from-config"); code != 1 || !strings.Contains(errs, "configuration") {
		t.Errorf("unsilence a configured one: exit %d %s", code, errs)
	}
	if code, out, _ := runAlertsCLI(t, "alerts", "silence", "--server", server, "--rule", "aikendpointdown", "--host", "IFX-KEYID-"+strings.Repeat("AB", 20), "-o", "json"); code != 0 ||
		!strings.Contains(out, `"rule": "AIKEndpointDown"`) || !strings.Contains(out, `"host": "ifx-keyid-abab`) {
		t.Errorf("silence a rule on a host: exit %d %s", code, out)
	}
}

func TestAlertsCLIErrors(t *testing.T) {
	server, _ := alertsServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://admin:s3cret@" + l.Addr().String()
	l.Close()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"alerts", "silence", "--server", server}, 2, "give --host, --vendor or --rule"},
		{[]string{"alerts", "silence", "--server", server, "--rule", "Nope"}, 2, `unknown rule "Nope"`},
		{[]string{"alerts", "silence", "--server", server, "--vendor", "IFX", "--for", "soon"}, 2, "--for"},
		{[]string{"alerts", "silence", "--server", server, "--host", "example.com"}, 2, "not an AIK CA host name"},
		{[]string{"alerts", "list", "--server", "ftp://x"}, 2, "want a base URL"},
		{[]string{"alerts", "list", "--server", closed}, 2, "asking the daemon"},
		{[]string{"alerts", "list", "--server", strings.Replace(server, "s3cret", "wrong", 1)}, 2, "HTTP 401"},
		{[]string{"alerts", "unsilence", "--server", server}, 2, "required argument 'ID'"},
	} {
		code, _, errs := runAlertsCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.want, errs)
		}
		if strings.Contains(errs, "s3cret") || strings.Contains(errs, ":wrong@") {
			t.Errorf("%v: the password is in the error: %s", tc.args, errs)
		}
	}
}
