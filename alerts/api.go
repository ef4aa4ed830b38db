package alerts

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
)

// API paths served by [Engine.Handler].
const (
	PathAlerts   = "/api/v1/alerts"
	PathSilences = "/api/v1/silences"
	PathOutbox   = "/api/v1/outbox"
	PathRules    = "/api/v1/alerts/rules"
)

// AlertsResponse is the answer of GET /api/v1/alerts.
type AlertsResponse struct {
	Alerts []Alert `json:"alerts"`
}

// SilencesResponse is the answer of GET /api/v1/silences.
type SilencesResponse struct {
	Silences []Silence `json:"silences"`
}

// SilenceRequest is the body of POST /api/v1/silences: what to match, and until when (Until)
// or for how long (Duration: "24h", "7d").
type SilenceRequest struct {
	Rule     string    `json:"rule,omitempty"`
	Host     string    `json:"host,omitempty"`
	Vendor   string    `json:"vendor,omitempty"`
	Until    time.Time `json:"until,omitzero"`
	Duration string    `json:"duration,omitempty"`
	Comment  string    `json:"comment,omitempty"`
}

// OutboxResponse is the answer of GET /api/v1/outbox. Entries carry their notifications
// without the alerts (AlertCount says how many there were).
type OutboxResponse struct {
	Entries []OutboxSummary `json:"entries"`
}

// OutboxSummary is an outbox entry without its notification's alerts.
type OutboxSummary struct {
	OutboxEntry
	AlertCount int `json:"alert_count"`
}

// maxRequestBody bounds a request body of the API.
const maxRequestBody = 64 << 10

// crossOrigin refuses cross-site browser requests to the endpoints that change silences, so
// that a web page cannot silence alerts through a browser that can reach the daemon.
var crossOrigin = http.NewCrossOriginProtection()

// guarded refuses cross-origin browser requests, then calls fn.
func guarded(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := crossOrigin.Check(r); err != nil {
			writeError(w, http.StatusForbidden, "cross-origin request refused: "+err.Error())
			return
		}
		fn(w, r)
	}
}

// Handler serves the alerts API (JSON; errors are {"error": "..."}):
//
//	GET    /api/v1/alerts          firing, pending and recently resolved alerts; ?state=firing,pending and ?rule=… filter
//	GET    /api/v1/alerts/rules    the rules
//	GET    /api/v1/silences        the silences in force
//	POST   /api/v1/silences        add one (SilenceRequest, application/json); answers 201 with the Silence
//	DELETE /api/v1/silences/{id}   remove one; 204, 404 if unknown, 409 if from the configuration
//	GET    /api/v1/outbox          the notification outbox (pending, delivered, failed)
//
// Mount it for those paths in front of the daemon's handler. Authentication, if any, is the
// web server's (exporter-toolkit's web configuration); cross-origin browser requests to POST
// and DELETE are refused.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathAlerts, e.serveAlerts)
	mux.HandleFunc("GET "+PathRules, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"rules": Rules()})
	})
	mux.HandleFunc("GET "+PathSilences, e.serveSilences)
	mux.HandleFunc("POST "+PathSilences, guarded(e.serveAddSilence))
	mux.HandleFunc("DELETE "+PathSilences+"/{id}", guarded(e.serveDeleteSilence))
	mux.HandleFunc("GET "+PathOutbox, e.serveOutbox)
	for _, p := range []string{PathAlerts, PathRules, PathSilences, PathSilences + "/{id}", PathOutbox} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no alerts API endpoint "+r.URL.Path)
	})
	return mux
}

func (e *Engine) serveAlerts(w http.ResponseWriter, r *http.Request) {
	all, err := e.Alerts()
	if err != nil {
		e.log.Error("alerts API", "err", err)
		writeError(w, http.StatusInternalServerError, "reading the alerts failed")
		return
	}
	states := splitList(r.URL.Query().Get("state"))
	for _, s := range states {
		if !slices.Contains([]string{string(StatePending), string(StateFiring), string(StateResolved)}, s) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("state %q: want pending, firing or resolved", s))
			return
		}
	}
	rules := splitList(r.URL.Query().Get("rule"))
	for i, name := range rules {
		canon, ok := RuleName(name)
		if !ok {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown rule %q", name))
			return
		}
		rules[i] = canon
	}
	out := []Alert{}
	for _, a := range all {
		if (len(states) == 0 || slices.Contains(states, string(a.State))) && (len(rules) == 0 || slices.Contains(rules, a.Rule)) {
			out = append(out, a)
		}
	}
	writeJSON(w, http.StatusOK, AlertsResponse{Alerts: out})
}

func (e *Engine) serveSilences(w http.ResponseWriter, r *http.Request) {
	s, err := e.Silences()
	if err != nil {
		e.log.Error("alerts API", "err", err)
		writeError(w, http.StatusInternalServerError, "reading the silences failed")
		return
	}
	writeJSON(w, http.StatusOK, SilencesResponse{Silences: s})
}

func (e *Engine) serveAddSilence(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "send the silence as JSON (Content-Type: application/json)")
		return
	}
	var req SilenceRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "request body: "+err.Error())
		return
	}
	until := req.Until
	switch {
	case req.Duration != "" && !until.IsZero():
		writeError(w, http.StatusBadRequest, "give until or duration, not both")
		return
	case req.Duration != "":
		d, err := ParseDuration(req.Duration)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		until = e.clock.Now().Add(d)
	case until.IsZero():
		writeError(w, http.StatusBadRequest, "give until (RFC 3339) or duration (24h, 7d)")
		return
	}
	s, err := e.Silence(Silence{Rule: req.Rule, Host: req.Host, Vendor: req.Vendor, Until: until, Comment: req.Comment})
	if err != nil {
		if errors.Is(err, ErrInvalidSilence) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		e.log.Error("alerts API", "err", err)
		writeError(w, http.StatusInternalServerError, "storing the silence failed")
		return
	}
	w.Header().Set("Location", PathSilences+"/"+s.ID)
	writeJSON(w, http.StatusCreated, s)
}

func (e *Engine) serveDeleteSilence(w http.ResponseWriter, r *http.Request) {
	err := e.Unsilence(r.PathValue("id"))
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, ErrSilenceNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrSilenceFromConfig):
		writeError(w, http.StatusConflict, err.Error())
	default:
		e.log.Error("alerts API", "err", err)
		writeError(w, http.StatusInternalServerError, "removing the silence failed")
	}
}

func (e *Engine) serveOutbox(w http.ResponseWriter, r *http.Request) {
	entries, err := e.Outbox()
	if err != nil {
		e.log.Error("alerts API", "err", err)
		writeError(w, http.StatusInternalServerError, "reading the outbox failed")
		return
	}
	out := OutboxResponse{Entries: make([]OutboxSummary, 0, len(entries))}
	for _, o := range entries {
		n := len(o.Notification.Alerts)
		o.Notification.Alerts = nil
		out.Entries = append(out.Entries, OutboxSummary{OutboxEntry: o, AlertCount: n})
	}
	writeJSON(w, http.StatusOK, out)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
