package slacktest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Host names the fake answers for. They are under the reserved ".test" top-level domain, so
// a request that escaped [Server.Client] could not reach anything real.
const (
	WebhookHost = "hooks.slack.test"
	APIHost     = "slack.test"
)

// Endpoints, as named by [Server.FailOn], [Server.Calls] and [Message.API].
const (
	EndpointWebhook              = "webhook"
	EndpointPostMessage          = "chat.postMessage"
	EndpointConversationsHistory = "conversations.history"
	EndpointConversationsReplies = "conversations.replies"
)

// Defaults used when [Options] leaves a field empty.
const (
	DefaultToken       = "xoxb-1111-2222-slacktestSECRETtoken"
	DefaultChannel     = "C123"
	DefaultChannelName = "alerts"
	DefaultWebhookPath = "/services/T000TEST/B000TEST/slacktestSECRETwebhook"
)

// Options configures a [Server]; the zero value uses the defaults above.
type Options struct {
	Token       string // the only bot token the Web API accepts
	Channel     string // the channel ID messages are posted to
	ChannelName string // a name (without '#') chat.postMessage also accepts for Channel
	WebhookPath string // the only webhook path that exists, e.g. "/services/T…/B…/X…"
}

// Server is a running fake Slack. Create it with [New] and Close it when done.
type Server struct {
	opts      Options
	caPEM     []byte
	srv       *httptest.Server
	transport *http.Transport
	port      string
	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	plan     []planned
	messages []Message
	calls    map[string]int
	lastTS   time.Time
}

// New starts a fake Slack on a loopback port.
func New(o Options) *Server {
	if o.Token == "" {
		o.Token = DefaultToken
	}
	if o.Channel == "" {
		o.Channel = DefaultChannel
	}
	if o.ChannelName == "" {
		o.ChannelName = DefaultChannelName
	}
	if o.WebhookPath == "" {
		o.WebhookPath = DefaultWebhookPath
	}
	certs, err := newCerts(WebhookHost, APIHost)
	if err != nil {
		panic(err) // only a broken crypto/rand gets here
	}
	s := &Server{opts: o, closing: make(chan struct{}), calls: map[string]int{}, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs.caDER})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /services/", s.handleWebhook)
	mux.HandleFunc("/api/{method}", s.handleAPI)
	s.srv = httptest.NewUnstartedServer(mux)
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{certs.server}, MinVersion: tls.VersionTLS12}
	s.srv.StartTLS()
	_, s.port, _ = net.SplitHostPort(s.srv.Listener.Addr().String())
	addr := s.srv.Listener.Addr().String()
	s.transport = &http.Transport{
		Proxy: nil, // never through a proxy: everything goes to the loopback listener
		DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(hostport)
			if err != nil || (host != WebhookHost && host != APIHost) {
				return nil, fmt.Errorf("slacktest: refusing to dial %q: only %s and %s are served", hostport, WebhookHost, APIHost)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:     &tls.Config{RootCAs: certs.pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return s
}

// Addr returns the loopback address the fake listens on, for clients that map
// [WebhookHost] and [APIHost] to it themselves (aikwatch's --resolve).
func (s *Server) Addr() string { return s.srv.Listener.Addr().String() }

// CACertPEM returns the fake's CA certificate in PEM, for clients that add trust anchors
// themselves (aikwatch's --ca-file).
func (s *Server) CACertPEM() []byte { return s.caPEM }

// Client returns an HTTP client that trusts the server's certificate and reaches
// [WebhookHost] and [APIHost] on the server (with SNI), and nothing else.
func (s *Server) Client() *http.Client { return &http.Client{Transport: s.transport} }

// WebhookURL returns the URL of the server's incoming webhook.
func (s *Server) WebhookURL() string {
	return "https://" + net.JoinHostPort(WebhookHost, s.port) + s.opts.WebhookPath
}

// APIURL returns the base URL of the Web API, ending in "/api/", as slack-go's
// OptionAPIURL wants it.
func (s *Server) APIURL() string { return "https://" + net.JoinHostPort(APIHost, s.port) + "/api/" }

// Token returns the bot token the Web API accepts.
func (s *Server) Token() string { return s.opts.Token }

// Channel returns the ID of the channel messages go to.
func (s *Server) Channel() string { return s.opts.Channel }

// Fail makes the next n requests, to any endpoint, fail with f. Faults queue up in the order
// they were planned.
func (s *Server) Fail(n int, f Fault) { s.FailOn("", n, f) }

// FailOn makes the next n requests to endpoint (one of the Endpoint constants; "" for any)
// fail with f.
func (s *Server) FailOn(endpoint string, n int, f Fault) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plan = append(s.plan, planned{endpoint: endpoint, left: n, fault: f})
}

// Messages returns a copy of every accepted message, in the order they were posted.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		out[i] = m.clone()
	}
	return out
}

// Calls returns how many requests reached endpoint, failed ones included.
func (s *Server) Calls(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[endpoint]
}

// Close releases handlers that hang, waits for every handler to return, stops the server and
// closes the client's idle connections.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.srv.Close()
		s.transport.CloseIdleConnections()
	})
}

// fault counts a request to endpoint and returns the fault planned for it, if any.
func (s *Server) fault(endpoint string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[endpoint]++
	for i := range s.plan {
		p := &s.plan[i]
		if p.left > 0 && (p.endpoint == "" || p.endpoint == endpoint) {
			p.left--
			f := p.fault
			if p.left == 0 {
				s.plan = append(s.plan[:i], s.plan[i+1:]...)
			}
			return f, true
		}
	}
	return Fault{}, false
}

// hang blocks until the client gives up or the server closes, then drops the connection
// without an answer: returning normally would send an empty 200, which a client whose
// cancellation raced with it could take for Slack's reply.
func (s *Server) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.closing:
	}
	panic(http.ErrAbortHandler)
}

// post records m, giving it the next ts; the caller holds no lock.
func (s *Server) post(m Message) Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	t := now.Truncate(time.Microsecond)
	if !t.After(s.lastTS) {
		t = s.lastTS.Add(time.Microsecond)
	}
	s.lastTS = t
	m.TS = formatTS(t)
	m.Received = now
	if m.ThreadTS != "" && !s.hasTopLevel(m.Channel, m.ThreadTS) {
		// Slack posts a reply to a thread whose parent is gone as a top-level message.
		m.ThreadTS = ""
	}
	s.messages = append(s.messages, m)
	return m.clone()
}

func (s *Server) hasTopLevel(channel, ts string) bool {
	for _, m := range s.messages {
		if m.Channel == channel && m.TS == ts && m.ThreadTS == "" {
			return true
		}
	}
	return false
}

func formatTS(t time.Time) string {
	return strconv.FormatInt(t.Unix(), 10) + "." + fmt.Sprintf("%06d", t.Nanosecond()/1000)
}

// Message is one message the server accepted.
type Message struct {
	API       string          // EndpointWebhook or EndpointPostMessage
	Channel   string          // channel ID
	TS        string          // its timestamp, Slack's message ID
	ThreadTS  string          // the parent's ts for a thread reply; "" for a top-level message
	Text      string          // the text (notification fallback when blocks are present)
	Blocks    json.RawMessage // the blocks as sent; nil when none
	Username  string          // username override, if any
	IconEmoji string          // icon_emoji override, if any
	// Metadata as sent with the message (bot tokens only): its event type, its payload, and
	// the payload's "id" when it is a string.
	MetadataEventType string
	MetadataPayload   map[string]any
	MetadataID        string
	ServerName        string    // the TLS server name (SNI) the client asked for
	Received          time.Time // when the server accepted it
}

func (m Message) clone() Message {
	m.Blocks = append(json.RawMessage(nil), m.Blocks...)
	if m.MetadataPayload != nil {
		p := make(map[string]any, len(m.MetadataPayload))
		for k, v := range m.MetadataPayload {
			p[k] = v
		}
		m.MetadataPayload = p
	}
	return m
}

// BlockTexts returns every "text" string found in the message's blocks, depth first: the
// words a person sees, without JSON escaping.
func (m Message) BlockTexts() []string {
	var v any
	if len(m.Blocks) == 0 || json.Unmarshal(m.Blocks, &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			// "text" first, so that a section reads in order, then the rest by key.
			if t, ok := v["text"].(string); ok {
				out = append(out, t)
			} else if t, ok := v["text"]; ok {
				walk(t)
			}
			keys := make([]string, 0, len(v))
			for k := range v {
				if k != "text" {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(v[k])
			}
		}
	}
	walk(v)
	return out
}

// BlockCount returns how many blocks the message has.
func (m Message) BlockCount() int {
	var v []json.RawMessage
	if json.Unmarshal(m.Blocks, &v) != nil {
		return 0
	}
	return len(v)
}
