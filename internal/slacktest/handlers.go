package slacktest

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxBody bounds a request body, like Slack's own limits do.
const maxBody = 1 << 20

// maxTextRunes is chat.postMessage's limit on text (msg_too_long beyond it).
const maxTextRunes = 40000

// handleWebhook answers POST /services/… like an incoming webhook.
func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request) {
	f, faulted := s.fault(EndpointWebhook)
	if r.TLS == nil || r.TLS.ServerName != WebhookHost {
		webhookError(w, http.StatusMisdirectedRequest, "misdirected_request")
		return
	}
	if faulted {
		switch f.kind {
		case faultRateLimited:
			w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
			webhookError(w, http.StatusTooManyRequests, "rate_limited")
			return
		case faultServerError:
			serverError(w)
			return
		case faultHang:
			s.hang(r)
			return
		case faultInvalidAuth:
			webhookError(w, http.StatusForbidden, "invalid_token")
			return
		case faultNoService:
			webhookError(w, http.StatusNotFound, "no_service")
			return
		}
	}
	if r.URL.Path != s.opts.WebhookPath {
		webhookError(w, http.StatusNotFound, "no_service")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		webhookError(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			webhookError(w, http.StatusBadRequest, "invalid_payload")
			return
		}
		body = []byte(form.Get("payload"))
	}
	var msg struct {
		Text      string          `json:"text"`
		Blocks    json.RawMessage `json:"blocks"`
		ThreadTS  string          `json:"thread_ts"`
		Username  string          `json:"username"`
		IconEmoji string          `json:"icon_emoji"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		webhookError(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	blocks := blocksValue(msg.Blocks)
	if msg.Text == "" && blocks == nil {
		webhookError(w, http.StatusBadRequest, "no_text")
		return
	}
	if utf8.RuneCountInString(msg.Text) > maxTextRunes {
		webhookError(w, http.StatusBadRequest, "msg_too_long")
		return
	}
	if blocks != nil && !validBlocks(blocks) {
		webhookError(w, http.StatusBadRequest, "invalid_blocks")
		return
	}
	s.post(Message{
		API:        EndpointWebhook,
		Channel:    s.opts.Channel,
		ThreadTS:   msg.ThreadTS,
		Text:       msg.Text,
		Blocks:     blocks,
		Username:   msg.Username,
		IconEmoji:  msg.IconEmoji,
		ServerName: r.TLS.ServerName,
	})
	if faulted && f.kind == faultAcceptThenHang {
		s.hang(r)
		return
	}
	w.Header().Set("Content-Type", "text/html")
	_, _ = io.WriteString(w, "ok")
}

func webhookError(w http.ResponseWriter, code int, reason string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, reason)
}

func serverError(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, "<html><body><h1>500 Internal Server Error</h1>\n<p>Slack is having trouble &amp; will be back.</p></body></html>")
}

// handleAPI answers /api/{method} like Slack's Web API.
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	f, faulted := s.fault(method)
	if r.TLS == nil || r.TLS.ServerName != APIHost {
		webhookError(w, http.StatusMisdirectedRequest, "misdirected_request")
		return
	}
	if faulted {
		switch f.kind {
		case faultRateLimited:
			w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
			writeJSON(w, http.StatusTooManyRequests, apiError("ratelimited"))
			return
		case faultServerError:
			serverError(w)
			return
		case faultHang:
			s.hang(r)
			return
		case faultInvalidAuth:
			writeJSON(w, http.StatusOK, apiError("invalid_auth"))
			return
		case faultNoService:
			writeJSON(w, http.StatusOK, apiError("channel_not_found"))
			return
		case faultAcceptThenHang:
			if method != EndpointPostMessage {
				s.hang(r)
				return
			}
		}
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, apiError("method_not_allowed"))
		return
	}
	p, bearer, ok := readParams(r)
	if !ok {
		writeJSON(w, http.StatusOK, apiError("invalid_form_data"))
		return
	}
	token := bearer
	if token == "" && p.js == nil {
		token = p.get("token") // Slack still takes the token as a POST or query parameter
	}
	switch {
	case token == "":
		writeJSON(w, http.StatusOK, apiError("not_authed"))
		return
	case token != s.opts.Token:
		writeJSON(w, http.StatusOK, apiError("invalid_auth"))
		return
	}
	var resp map[string]any
	switch method {
	case EndpointPostMessage:
		resp = s.postMessage(p, r.TLS.ServerName)
		if faulted && f.kind == faultAcceptThenHang && resp["ok"] == true {
			s.hang(r)
			return
		}
	case EndpointConversationsHistory:
		resp = s.history(p)
	case EndpointConversationsReplies:
		resp = s.replies(p)
	default:
		resp = apiError("unknown_method")
	}
	writeJSON(w, http.StatusOK, resp)
}

func apiError(code string) map[string]any { return map[string]any{"ok": false, "error": code} }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// apiParams are a Web API call's arguments, from a form, a query string or a JSON body.
type apiParams struct {
	form url.Values
	js   map[string]json.RawMessage
}

// readParams reads the arguments and the bearer token of r.
func readParams(r *http.Request) (apiParams, string, bool) {
	bearer := ""
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, _ := strings.Cut(a, " ")
		if strings.EqualFold(scheme, "Bearer") {
			bearer = strings.TrimSpace(tok)
		}
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxBody)
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method == http.MethodPost && ct == "application/json" {
		var js map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&js); err != nil {
			return apiParams{}, bearer, false
		}
		if js == nil {
			js = map[string]json.RawMessage{}
		}
		return apiParams{js: js}, bearer, true
	}
	if err := r.ParseForm(); err != nil {
		return apiParams{}, bearer, false
	}
	return apiParams{form: r.Form}, bearer, true
}

// get returns argument k as a string ("" when absent).
func (p apiParams) get(k string) string {
	if p.js != nil {
		raw, ok := p.js[k]
		if !ok {
			return ""
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return string(raw)
	}
	return p.form.Get(k)
}

// raw returns argument k as JSON: a JSON body's value as is, a form value (a JSON document
// in a string) parsed. nil when absent.
func (p apiParams) raw(k string) json.RawMessage {
	if p.js != nil {
		raw := p.js[k]
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return json.RawMessage(s) // a JSON document sent as a string
		}
		return raw
	}
	if v := p.form.Get(k); v != "" {
		return json.RawMessage(v)
	}
	return nil
}

func (p apiParams) flag(k string) bool {
	v := p.get(k)
	return v == "1" || v == "true"
}

// channelID resolves a channel argument the way chat.postMessage does (an ID or a name).
func (s *Server) channelID(c string, namesToo bool) (string, bool) {
	if c == s.opts.Channel {
		return c, true
	}
	if namesToo && strings.TrimPrefix(c, "#") == s.opts.ChannelName {
		return s.opts.Channel, true
	}
	return "", false
}

func (s *Server) postMessage(p apiParams, serverName string) map[string]any {
	channel, ok := s.channelID(p.get("channel"), true)
	if !ok {
		return apiError("channel_not_found")
	}
	text := p.get("text")
	blocks := blocksValue(p.raw("blocks"))
	if text == "" && blocks == nil {
		return apiError("no_text")
	}
	if utf8.RuneCountInString(text) > maxTextRunes {
		return apiError("msg_too_long")
	}
	if blocks != nil && !validBlocks(blocks) {
		return apiError("invalid_blocks")
	}
	m := Message{
		API:        EndpointPostMessage,
		Channel:    channel,
		ThreadTS:   p.get("thread_ts"),
		Text:       text,
		Blocks:     blocks,
		Username:   p.get("username"),
		IconEmoji:  p.get("icon_emoji"),
		ServerName: serverName,
	}
	if raw := p.raw("metadata"); raw != nil {
		var md struct {
			EventType    string         `json:"event_type"`
			EventPayload map[string]any `json:"event_payload"`
		}
		if json.Unmarshal(raw, &md) != nil || md.EventType == "" {
			return apiError("invalid_metadata_format")
		}
		m.MetadataEventType = md.EventType
		m.MetadataPayload = md.EventPayload
		m.MetadataID, _ = md.EventPayload["id"].(string)
	}
	m = s.post(m)
	return map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS, "message": m.apiJSON(true, 0)}
}

// apiJSON renders m as the Web API shows a message.
func (m Message) apiJSON(withMetadata bool, replies int) map[string]any {
	out := map[string]any{"type": "message", "text": m.Text, "ts": m.TS, "bot_id": "B0SLACKTEST"}
	if m.API == EndpointWebhook {
		out["subtype"] = "bot_message"
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	} else if replies > 0 {
		out["thread_ts"] = m.TS
		out["reply_count"] = replies
	}
	if m.Blocks != nil {
		out["blocks"] = m.Blocks
	}
	if m.Username != "" {
		out["username"] = m.Username
	}
	if withMetadata && m.MetadataEventType != "" {
		out["metadata"] = map[string]any{"event_type": m.MetadataEventType, "event_payload": m.MetadataPayload}
	}
	return out
}

// page cuts msgs to the call's limit and cursor.
func page(p apiParams, msgs []map[string]any, defLimit int) map[string]any {
	limit, err := strconv.Atoi(p.get("limit"))
	if err != nil || limit <= 0 {
		limit = defLimit
	}
	limit = min(limit, 1000)
	start := 0
	if c := p.get("cursor"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "offset:"))
		if err != nil || n < 0 || !strings.HasPrefix(c, "offset:") {
			return apiError("invalid_cursor")
		}
		start = min(n, len(msgs))
	}
	end := min(start+limit, len(msgs))
	resp := map[string]any{"ok": true, "messages": msgs[start:end], "has_more": end < len(msgs)}
	next := ""
	if end < len(msgs) {
		next = "offset:" + strconv.Itoa(end)
	}
	resp["response_metadata"] = map[string]any{"next_cursor": next}
	return resp
}

func (s *Server) history(p apiParams) map[string]any {
	channel, ok := s.channelID(p.get("channel"), false)
	if !ok {
		return apiError("channel_not_found")
	}
	oldest, latest, inclusive := p.get("oldest"), p.get("latest"), p.flag("inclusive")
	meta := p.flag("include_all_metadata")
	s.mu.Lock()
	replies := map[string]int{}
	for _, m := range s.messages {
		if m.Channel == channel && m.ThreadTS != "" {
			replies[m.ThreadTS]++
		}
	}
	var msgs []map[string]any
	for i := len(s.messages) - 1; i >= 0; i-- { // newest first
		m := s.messages[i]
		if m.Channel != channel || m.ThreadTS != "" || !inRange(m.TS, oldest, latest, inclusive) {
			continue
		}
		msgs = append(msgs, m.apiJSON(meta, replies[m.TS]))
	}
	s.mu.Unlock()
	resp := page(p, msgs, 100)
	if resp["ok"] == true {
		resp["pin_count"] = 0
	}
	return resp
}

func (s *Server) replies(p apiParams) map[string]any {
	channel, ok := s.channelID(p.get("channel"), false)
	if !ok {
		return apiError("channel_not_found")
	}
	ts := p.get("ts")
	if ts == "" {
		return apiError("invalid_arguments")
	}
	oldest, latest, inclusive := p.get("oldest"), p.get("latest"), p.flag("inclusive")
	meta := p.flag("include_all_metadata")
	s.mu.Lock()
	var msgs []map[string]any
	found := false
	n := 0
	for _, m := range s.messages {
		if m.Channel == channel && m.ThreadTS == ts {
			n++
		}
	}
	for _, m := range s.messages { // oldest first, the parent first of all
		switch {
		case m.Channel != channel:
		case m.TS == ts && m.ThreadTS == "":
			found = true
			msgs = append([]map[string]any{m.apiJSON(meta, n)}, msgs...)
		case m.ThreadTS == ts && inRange(m.TS, oldest, latest, inclusive):
			msgs = append(msgs, m.apiJSON(meta, 0))
		}
	}
	s.mu.Unlock()
	if !found {
		return apiError("thread_not_found")
	}
	return page(p, msgs, 1000)
}

// inRange reports whether ts lies between oldest and latest ("" for no bound).
func inRange(ts, oldest, latest string, inclusive bool) bool {
	if oldest != "" {
		c := compareTS(ts, oldest)
		if c < 0 || (c == 0 && !inclusive) {
			return false
		}
	}
	if latest != "" {
		c := compareTS(ts, latest)
		if c > 0 || (c == 0 && !inclusive) {
			return false
		}
	}
	return true
}

// compareTS compares two "seconds.micros" timestamps numerically.
func compareTS(a, b string) int {
	as, af, _ := strings.Cut(a, ".")
	bs, bf, _ := strings.Cut(b, ".")
	ai, _ := strconv.ParseInt(as, 10, 64)
	bi, _ := strconv.ParseInt(bs, 10, 64)
	if ai != bi {
		if ai < bi {
			return -1
		}
		return 1
	}
	af = (af + "000000")[:6]
	bf = (bf + "000000")[:6]
	return strings.Compare(af, bf)
}
