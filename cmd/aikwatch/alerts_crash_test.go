package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/alerts"
	"github.com/aikwatch/aikwatch/internal/sim"
	"github.com/aikwatch/aikwatch/internal/slacktest"
)

// TestSlackSIGKILLBetweenSentAndMarked kills a real `aikwatch serve` process with SIGKILL
// while Slack holds its message: Slack has posted it, the daemon has not heard back and so
// has not marked it delivered. After a restart the daemon finds the message in the channel
// (by its notification ID in the message metadata) instead of posting it again: every
// notification is visible exactly once, and the resolved message replies in the original's
// thread.
func TestSlackSIGKILLBetweenSentAndMarked(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real daemon")
	}
	s, simCA := e2eSim(t)
	slack := slacktest.New(slacktest.Options{})
	defer slack.Close()
	dir := t.TempDir()
	slackCA := filepath.Join(dir, "slack-ca.pem")
	if err := os.WriteFile(slackCA, slack.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "aikwatch")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	cfgFile := filepath.Join(dir, "aikwatch.yml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`data_dir: %s
schedule: {trustlist: "@every 1h", sweep: "@every 1s", ek_services: "@every 1h", ek_cas: "@every 1h", jitter: 0s}
network: {resolve: ["%s=%s", "*=%s"], ca_files: [%s, %s]}
fleet: {hosts: [%s]}
alerts: {consecutive_sweeps: 1, deliver_timeout: 1m}
`, filepath.Join(dir, "data"), slacktest.APIHost, slack.Addr(), s.Addr(), simCA, slackCA, e2eHost)), 0o600)

	start := func() (*exec.Cmd, string, *bytes.Buffer) {
		t.Helper()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		cmd := exec.Command(bin, "serve", "--config", cfgFile, "--web.listen-address", addr, "--log.level", "info")
		cmd.Env = append(os.Environ(), "AIKWATCH_SLACK_TOKEN="+slack.Token(), "AIKWATCH_SLACK_CHANNEL="+slack.Channel(),
			"AIKWATCH_SLACK_API_URL="+slack.APIURL())
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		base := "http://" + addr
		waitFor(t, "the daemon to answer", 60*time.Second, func() bool {
			resp, err := httpGetQuiet(base + "/-/healthy")
			return err == nil && resp == 200
		})
		return cmd, base, &logs
	}

	// Slack will post the first message and never answer.
	slack.FailOn(slacktest.EndpointPostMessage, 1, slacktest.AcceptThenHang())
	if err := s.SetMode(e2eHost, sim.ModeWithdrawn, 0); err != nil {
		t.Fatal(err)
	}
	cmd, _, logs := start()
	waitFor(t, "Slack to hold the first message", 90*time.Second, func() bool { return len(slack.Messages()) == 1 })
	time.Sleep(200 * time.Millisecond) // the daemon is now waiting for Slack's answer
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	held := slack.Messages()[0]
	if held.MetadataID == "" {
		t.Fatalf("the message carries no notification ID: %+v", held)
	}

	cmd, base, logs2 := start()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("first run:\n%s\nsecond run:\n%s", logs, logs2)
		}
	}()
	var ob alerts.OutboxResponse
	hostMessage := func() (slacktest.Message, bool) {
		for _, m := range slack.Messages() {
			if strings.Contains(m.Text+string(m.Blocks), e2eHost) && m.ThreadTS == "" {
				return m, true
			}
		}
		return slacktest.Message{}, false
	}
	waitFor(t, "the withdrawn host's message and a settled outbox", 90*time.Second, func() bool {
		if _, ok := hostMessage(); !ok {
			return false
		}
		_, body := get(t, base+alerts.PathOutbox)
		ob = alerts.OutboxResponse{}
		if json.Unmarshal([]byte(body), &ob) != nil || len(ob.Entries) == 0 {
			return false
		}
		for _, e := range ob.Entries {
			if e.Status == alerts.OutboxPending {
				return false
			}
		}
		return true
	})
	seen := map[string]int{}
	for _, m := range slack.Messages() {
		seen[m.MetadataID]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("notification %s visible %d times", id, n)
		}
	}
	if t.Failed() {
		for _, m := range slack.Messages() {
			t.Logf("message ts %s thread %q id %s payload %v", m.TS, m.ThreadTS, m.MetadataID, m.MetadataPayload)
		}
		for _, e := range ob.Entries {
			t.Logf("outbox %d %s attempts %d ref %s id %s err %s", e.Seq, e.Status, e.Attempts, e.Ref, e.Notification.ID, e.LastError)
		}
	}
	if seen[held.MetadataID] != 1 {
		t.Errorf("the held message is visible %d times", seen[held.MetadataID])
	}
	if slack.Calls(slacktest.EndpointConversationsHistory) == 0 {
		t.Error("the restarted daemon did not look for its message in the channel")
	}

	// The host recovers: the resolved message replies in the thread of the first message of
	// its alert (found again after the restart, never posted twice).
	firing, _ := hostMessage()
	if err := s.SetMode(e2eHost, sim.ModeOK, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resolved message in the thread", 90*time.Second, func() bool {
		for _, m := range slack.Messages() {
			if m.ThreadTS == firing.TS && fmt.Sprint(m.MetadataPayload["kind"]) == string(alerts.KindResolved) {
				return true
			}
		}
		return false
	})
}

// httpGetQuiet returns the status of a GET, without failing the test on a connection error.
func httpGetQuiet(url string) (int, error) {
	resp, err := httpClientQuiet.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

var httpClientQuiet = &http.Client{Timeout: 2 * time.Second}
