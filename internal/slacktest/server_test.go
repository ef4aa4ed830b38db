package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T) *Server {
	t.Helper()
	s := New(Options{})
	t.Cleanup(s.Close)
	return s
}

// do sends a request and returns the status, the Retry-After header and the body.
func do(t *testing.T, s *Server, req *http.Request) (int, string, string) {
	t.Helper()
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

func webhook(t *testing.T, s *Server, u, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return do(t, s, req)
}

// api calls a Web API method with a form (token as a parameter) and decodes the answer.
func api(t *testing.T, s *Server, method string, form url.Values) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.APIURL()+method, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	code, _, body := do(t, s, req)
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("%s: HTTP %d, body %q: %v", method, code, body, err)
	}
	return out
}

func wantError(t *testing.T, resp map[string]any, code string) {
	t.Helper()
	if resp["ok"] != false || resp["error"] != code {
		t.Errorf("answer %v, want error %s", resp, code)
	}
}

const twoBlocks = `[{"type":"header","text":{"type":"plain_text","text":"🔴 Firing"}},{"type":"section","text":{"type":"mrkdwn","text":"*host* ` + "`a.example`" + `"}}]`

func TestWebhook(t *testing.T) {
	s := start(t)
	code, _, body := webhook(t, s, s.WebhookURL(), `{"text":"hello","blocks":`+twoBlocks+`,"username":"aikwatch"}`)
	if code != 200 || body != "ok" {
		t.Fatalf("HTTP %d %q", code, body)
	}
	// Slack also takes a form with the JSON in "payload".
	req, _ := http.NewRequest(http.MethodPost, s.WebhookURL(), strings.NewReader(url.Values{"payload": {`{"text":"form"}`}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if code, _, body := do(t, s, req); code != 200 || body != "ok" {
		t.Fatalf("form: HTTP %d %q", code, body)
	}
	for _, tc := range []struct {
		url, body string
		code      int
		reason    string
	}{
		{strings.TrimSuffix(s.WebhookURL(), "webhook") + "x", `{"text":"x"}`, 404, "no_service"},
		{s.WebhookURL(), `{"text":`, 400, "invalid_payload"},
		{s.WebhookURL(), `{"text":""}`, 400, "no_text"},
		{s.WebhookURL(), `{"blocks":[{"type":"header","text":{"type":"plain_text","text":"` + strings.Repeat("x", 151) + `"}}]}`, 400, "invalid_blocks"},
		{s.WebhookURL(), `{"blocks":[` + strings.Repeat(`{"type":"divider"},`, 50) + `{"type":"divider"}]}`, 400, "invalid_blocks"},
		{s.WebhookURL(), `{"blocks":[{"type":"section","text":{"type":"mrkdwn","text":"` + strings.Repeat("é", 3001) + `"}}]}`, 400, "invalid_blocks"},
	} {
		if code, _, body := webhook(t, s, tc.url, tc.body); code != tc.code || body != tc.reason {
			t.Errorf("%.60s: HTTP %d %q, want %d %q", tc.body, code, body, tc.code, tc.reason)
		}
	}
	msgs := s.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	m := msgs[0]
	if m.API != EndpointWebhook || m.Text != "hello" || m.Username != "aikwatch" || m.ServerName != WebhookHost || m.Channel != DefaultChannel || m.BlockCount() != 2 {
		t.Errorf("message %+v", m)
	}
	if got := strings.Join(m.BlockTexts(), "|"); got != "🔴 Firing|*host* `a.example`" {
		t.Errorf("BlockTexts = %q", got)
	}
	if s.Calls(EndpointWebhook) != 8 {
		t.Errorf("Calls = %d, want 8", s.Calls(EndpointWebhook))
	}
}

func TestPostMessageAuthAndChannels(t *testing.T) {
	s := start(t)
	post := func(form url.Values) map[string]any { return api(t, s, EndpointPostMessage, form) }
	wantError(t, post(url.Values{"channel": {"C123"}, "text": {"x"}}), "not_authed")
	wantError(t, post(url.Values{"token": {"xoxb-wrong"}, "channel": {"C123"}, "text": {"x"}}), "invalid_auth")
	wantError(t, post(url.Values{"token": {s.Token()}, "channel": {"C999"}, "text": {"x"}}), "channel_not_found")
	wantError(t, post(url.Values{"token": {s.Token()}, "channel": {"C123"}}), "no_text")
	wantError(t, post(url.Values{"token": {s.Token()}, "channel": {"C123"}, "blocks": {`[{"type":"section"}]`}}), "invalid_blocks")
	wantError(t, post(url.Values{"token": {s.Token()}, "channel": {"C123"}, "text": {"x"}, "metadata": {`{"event_payload":{}}`}}), "invalid_metadata_format")
	wantError(t, post(url.Values{"token": {s.Token()}, "channel": {"C123"}, "text": {strings.Repeat("x", 40001)}}), "msg_too_long")

	ok := post(url.Values{"token": {s.Token()}, "channel": {"#alerts"}, "text": {"by name"}, "blocks": {twoBlocks},
		"metadata": {`{"event_type":"aikwatch_notification","event_payload":{"id":"n-1"}}`}})
	if ok["ok"] != true || ok["channel"] != "C123" || ok["ts"] == "" {
		t.Fatalf("answer %v", ok)
	}
	// JSON with a bearer token, as Slack's newer clients send.
	req, _ := http.NewRequest(http.MethodPost, s.APIURL()+EndpointPostMessage,
		strings.NewReader(`{"channel":"C123","text":"reply","thread_ts":"`+ok["ts"].(string)+`","blocks":`+twoBlocks+`,"metadata":{"event_type":"e","event_payload":{"id":"n-2"}}}`))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+s.Token())
	code, _, body := do(t, s, req)
	if code != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("JSON post: HTTP %d %s", code, body)
	}
	// A JSON body's token field does not authenticate: Slack wants the header.
	req, _ = http.NewRequest(http.MethodPost, s.APIURL()+EndpointPostMessage, strings.NewReader(`{"token":"`+s.Token()+`","channel":"C123","text":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	if _, _, body := do(t, s, req); !strings.Contains(body, "not_authed") {
		t.Errorf("token in a JSON body accepted: %s", body)
	}
	// A reply to a thread that does not exist is posted at the top level, as Slack does.
	post(url.Values{"token": {s.Token()}, "channel": {"C123"}, "text": {"orphan"}, "thread_ts": {"1.000001"}})

	msgs := s.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3", len(msgs))
	}
	if msgs[0].MetadataEventType != "aikwatch_notification" || msgs[0].MetadataID != "n-1" || msgs[0].ServerName != APIHost {
		t.Errorf("first message %+v", msgs[0])
	}
	if msgs[1].ThreadTS != msgs[0].TS || msgs[1].MetadataID != "n-2" || msgs[1].BlockCount() != 2 {
		t.Errorf("reply %+v, want it in thread %s", msgs[1], msgs[0].TS)
	}
	if msgs[2].ThreadTS != "" {
		t.Errorf("orphan reply in thread %q", msgs[2].ThreadTS)
	}
	if !(compareTS(msgs[0].TS, msgs[1].TS) < 0 && compareTS(msgs[1].TS, msgs[2].TS) < 0) {
		t.Errorf("ts not increasing: %s %s %s", msgs[0].TS, msgs[1].TS, msgs[2].TS)
	}
}

func TestHistoryAndReplies(t *testing.T) {
	s := start(t)
	post := func(text, thread, id string) string {
		form := url.Values{"token": {s.Token()}, "channel": {"C123"}, "text": {text}, "thread_ts": {thread}}
		if id != "" {
			form.Set("metadata", `{"event_type":"aikwatch_notification","event_payload":{"id":"`+id+`"}}`)
		}
		resp := api(t, s, EndpointPostMessage, form)
		if resp["ok"] != true {
			t.Fatalf("post: %v", resp)
		}
		return resp["ts"].(string)
	}
	parent := post("parent", "", "n-1")
	post("reply 1", parent, "n-2")
	post("reply 2", parent, "")
	last := post("top 2", "", "n-3")

	type msg struct {
		Text       string `json:"text"`
		TS         string `json:"ts"`
		ThreadTS   string `json:"thread_ts"`
		ReplyCount int    `json:"reply_count"`
		Metadata   *struct {
			EventType    string         `json:"event_type"`
			EventPayload map[string]any `json:"event_payload"`
		} `json:"metadata"`
	}
	type answer struct {
		OK       bool   `json:"ok"`
		Error    string `json:"error"`
		Messages []msg  `json:"messages"`
		HasMore  bool   `json:"has_more"`
		Meta     struct {
			NextCursor string `json:"next_cursor"`
		} `json:"response_metadata"`
	}
	call := func(method string, q url.Values, get bool) answer {
		t.Helper()
		var req *http.Request
		if get {
			req, _ = http.NewRequest(http.MethodGet, s.APIURL()+method+"?"+q.Encode(), nil)
			req.Header.Set("Authorization", "Bearer "+s.Token())
		} else {
			q.Set("token", s.Token())
			req, _ = http.NewRequest(http.MethodPost, s.APIURL()+method, strings.NewReader(q.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		_, _, body := do(t, s, req)
		var a answer
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}

	h := call(EndpointConversationsHistory, url.Values{"channel": {"C123"}}, true)
	if !h.OK || len(h.Messages) != 2 || h.Messages[0].TS != last || h.Messages[1].TS != parent {
		t.Fatalf("history %+v: want the two top-level messages, newest first", h)
	}
	if h.Messages[1].ReplyCount != 2 || h.Messages[1].ThreadTS != parent || h.Messages[0].Metadata != nil {
		t.Errorf("history %+v: want reply_count 2 and no metadata unless asked", h.Messages)
	}
	h = call(EndpointConversationsHistory, url.Values{"channel": {"C123"}, "include_all_metadata": {"1"}, "limit": {"1"}}, false)
	if len(h.Messages) != 1 || h.Messages[0].Metadata == nil || h.Messages[0].Metadata.EventPayload["id"] != "n-3" || !h.HasMore || h.Meta.NextCursor == "" {
		t.Fatalf("history page 1 %+v", h)
	}
	h = call(EndpointConversationsHistory, url.Values{"channel": {"C123"}, "include_all_metadata": {"true"}, "limit": {"1"}, "cursor": {h.Meta.NextCursor}}, false)
	if len(h.Messages) != 1 || h.Messages[0].Metadata.EventPayload["id"] != "n-1" || h.HasMore {
		t.Fatalf("history page 2 %+v", h)
	}
	if h := call(EndpointConversationsHistory, url.Values{"channel": {"C123"}, "oldest": {parent}}, true); len(h.Messages) != 1 || h.Messages[0].TS != last {
		t.Errorf("history after %s: %+v", parent, h.Messages)
	}
	if h := call(EndpointConversationsHistory, url.Values{"channel": {"#alerts"}}, true); h.Error != "channel_not_found" {
		t.Errorf("history by name: %+v, want channel_not_found (it wants an ID)", h)
	}

	r := call(EndpointConversationsReplies, url.Values{"channel": {"C123"}, "ts": {parent}, "include_all_metadata": {"1"}}, false)
	if !r.OK || len(r.Messages) != 3 || r.Messages[0].TS != parent || r.Messages[1].Text != "reply 1" || r.Messages[1].Metadata.EventPayload["id"] != "n-2" {
		t.Fatalf("replies %+v", r)
	}
	if r := call(EndpointConversationsReplies, url.Values{"channel": {"C123"}, "ts": {"1.000001"}}, true); r.Error != "thread_not_found" {
		t.Errorf("replies of nothing: %+v", r)
	}
}

func TestFaults(t *testing.T) {
	s := start(t)
	form := url.Values{"token": {s.Token()}, "channel": {"C123"}, "text": {"x"}}
	s.FailOn(EndpointConversationsHistory, 1, ServerError()) // not met by the posts below
	s.Fail(1, RateLimited(7))
	s.FailOn(EndpointWebhook, 1, NoService())
	s.Fail(1, InvalidAuth())

	req, _ := http.NewRequest(http.MethodPost, s.APIURL()+EndpointPostMessage, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if code, after, body := do(t, s, req); code != 429 || after != "7" || !strings.Contains(body, "ratelimited") {
		t.Errorf("rate limited: HTTP %d Retry-After %q %s", code, after, body)
	}
	if code, _, body := webhook(t, s, s.WebhookURL(), `{"text":"x"}`); code != 404 || body != "no_service" {
		t.Errorf("no service: HTTP %d %q", code, body)
	}
	if code, _, body := webhook(t, s, s.WebhookURL(), `{"text":"x"}`); code != 403 || body != "invalid_token" {
		t.Errorf("invalid auth on a webhook: HTTP %d %q", code, body)
	}
	if resp := api(t, s, EndpointPostMessage, form); resp["ok"] != true { // no fault left
		t.Errorf("answer %v, want ok", resp)
	}
	if len(s.Messages()) != 1 {
		t.Errorf("%d messages, want 1", len(s.Messages()))
	}
	s.Fail(2, InvalidAuth())
	wantError(t, api(t, s, EndpointPostMessage, form), "invalid_auth")
	wantError(t, api(t, s, EndpointPostMessage, form), "invalid_auth")
	s.Fail(1, NoService())
	wantError(t, api(t, s, EndpointPostMessage, form), "channel_not_found")
	s.Fail(1, ServerError())
	if code, _, body := webhook(t, s, s.WebhookURL(), `{"text":"x"}`); code != 500 || !strings.Contains(body, "<html>") {
		t.Errorf("server error: HTTP %d %q", code, body)
	}
	q := url.Values{"token": {s.Token()}, "channel": {"C123"}}
	if code, _, _ := do(t, s, mustForm(t, s.APIURL()+EndpointConversationsHistory, q)); code != 500 {
		t.Errorf("planned history fault: HTTP %d, want 500", code)
	}
	if got := fmt.Sprint(RateLimited(3), Hang(), AcceptThenHang(), Fault{}); got != "rate limited (Retry-After 3) hang accept then hang no fault" {
		t.Errorf("String: %q", got)
	}
}

func mustForm(t *testing.T, u string, form url.Values) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func TestHangUntilClientGivesUp(t *testing.T) {
	s := start(t)
	s.Fail(1, Hang())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL()+EndpointPostMessage, strings.NewReader(`{"channel":"C123","text":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.Token())
	if _, err := s.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the client's deadline", err)
	}
	if len(s.Messages()) != 0 {
		t.Error("a hanging post was recorded")
	}

	// AcceptThenHang records the message although nobody gets an answer.
	s.FailOn(EndpointWebhook, 1, AcceptThenHang())
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.WebhookURL(), strings.NewReader(`{"text":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for deadline := time.Now().Add(20 * time.Second); len(s.Messages()) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the message was never recorded")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v: the server answered", err)
	}
	if msgs := s.Messages(); len(msgs) != 1 || msgs[0].API != EndpointWebhook {
		t.Errorf("messages %+v, want the webhook's", msgs)
	}
}

func TestCloseReleasesHangingHandlers(t *testing.T) {
	s := New(Options{})
	s.Fail(1, Hang())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, s.WebhookURL(), strings.NewReader(`{"text":"x"}`))
		resp, err := s.Client().Do(req) // no deadline: only Close ends it
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for deadline := time.Now().Add(20 * time.Second); s.Calls(EndpointWebhook) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the request never arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Close() // must return although a handler hangs
	<-done
	s.Close() // idempotent
}

func TestClientDialsOnlyTheFake(t *testing.T) {
	s := start(t)
	for _, u := range []string{"https://slack.com/api/chat.postMessage", "https://hooks.slack.com/services/T/B/X", "https://127.0.0.1:1/"} {
		req, _ := http.NewRequest(http.MethodPost, u, nil)
		if resp, err := s.Client().Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("%s: reached", u)
		} else if !strings.Contains(err.Error(), "refusing to dial") {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func TestConcurrentPosts(t *testing.T) {
	s := start(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			form := url.Values{"token": {s.Token()}, "channel": {"C123"}, "text": {fmt.Sprint(i)}}
			req, _ := http.NewRequest(http.MethodPost, s.APIURL()+EndpointPostMessage, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			_ = s.Messages() // readers race with writers
		})
	}
	wg.Wait()
	msgs := s.Messages()
	if len(msgs) != 20 {
		t.Fatalf("%d messages, want 20", len(msgs))
	}
	for i := 1; i < len(msgs); i++ {
		if compareTS(msgs[i-1].TS, msgs[i].TS) >= 0 {
			t.Errorf("ts %s then %s", msgs[i-1].TS, msgs[i].TS)
		}
	}
}
