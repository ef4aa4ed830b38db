package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/canary"
	"github.com/aikwatch/aikwatch/internal/state"
)

// Options configure the daemon's HTTP handler ([NewHandler]).
type Options struct {
	// State returns the daemon's current state, an immutable copy. nil, or a nil result, is
	// served as an empty state: nothing known yet.
	State func() *state.State
	// Fleet names the organisation's own AIK hosts and TPM vendors; the verdict weighs them.
	Fleet state.Fleet
	// Metrics serves /metrics (the Prometheus registry's handler); nil: /metrics answers 404.
	Metrics http.Handler
	// History lists past releases and their diffs; nil: the history endpoint answers 503.
	History History
	// Refresh asks the daemon for a trust-list refresh now. It should return once the request
	// is queued, not when the refresh is done. nil: POST /api/v1/refresh answers 501.
	Refresh func(ctx context.Context) error
	// ReportCanary records a Windows canary's report (POST /api/v1/canaries); errors wrapping
	// canary.ErrInvalidReport answer 400, canary.ErrRefused 403. nil: 501.
	ReportCanary func(canary.Report) (state.CanaryState, error)
	// ForgetCanary forgets a canary (DELETE /api/v1/canaries/{name}) and reports whether it
	// was known. nil: 501.
	ForgetCanary func(name string) (bool, error)
	// Version is the daemon's version, shown on the status page and in the API index.
	Version string
	// Now returns the current time; nil: time.Now.
	Now func() time.Time
	// Logger receives request errors (and, at debug level, every request); nil: slog.Default().
	Logger *slog.Logger
	// StaleAfter and ExpiryWindow tune the assessment as [state.AssessOptions] does; 0: its
	// defaults (24 h and 30 days).
	StaleAfter   time.Duration
	ExpiryWindow time.Duration
}

// PageRefreshSeconds is how often the status page reloads itself.
const PageRefreshSeconds = 30

// handler serves every endpoint of the daemon.
type handler struct {
	o          Options
	mux        *http.ServeMux
	log        *slog.Logger
	fleetHosts map[string]bool // the fleet's hosts, normalised
	cache      jsonCache       // answers that depend on the state alone
}

// NewHandler returns the daemon's HTTP handler: the status page at /, the Prometheus metrics
// at /metrics, the liveness and readiness checks at /-/healthy and /-/ready, and the JSON API
// under /api/v1/ (its index lists the endpoints). Every API answer is JSON, not cached, and an
// error is {"error": "..."}.
func NewHandler(o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &handler{o: o, mux: http.NewServeMux(), log: o.Logger, fleetHosts: map[string]bool{}}
	for _, fh := range o.Fleet.Hosts {
		h.fleetHosts[state.NormalizeHost(fh)] = true
	}
	get := []string{http.MethodGet, http.MethodHead}
	h.route("/{$}", get, h.servePage)
	h.route("/metrics", nil, h.serveMetrics)
	h.route("/-/healthy", get, h.serveHealthy)
	h.route("/-/ready", get, h.serveReady)
	for _, e := range apiEndpoints {
		h.route(e.Path, e.Methods, e.handler(h))
	}
	h.route("/api/v1/{$}", get, h.serveIndex)
	h.route("/api/v1", get, h.serveIndex)
	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no API endpoint %s; see /api/v1/", r.URL.Path))
	})
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "404 not found: %s\nThe status page is at /, the API at /api/v1/, the metrics at /metrics.\n", r.URL.Path)
	})
	return h
}

// ServeHTTP logs the request at debug level and turns a panic of an endpoint into a 500.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &statusWriter{ResponseWriter: w}
	start := h.o.Now()
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("http handler panic", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			if !rw.wrote {
				writeError(rw, http.StatusInternalServerError, "internal error")
			}
		}
		h.log.Debug("http request", "method", r.Method, "path", r.URL.Path, "status", rw.code(),
			"duration", h.o.Now().Sub(start), "remote", r.RemoteAddr)
	}()
	h.mux.ServeHTTP(rw, r)
}

// route registers fn for the exact path; methods lists the methods it accepts (nil: any).
func (h *handler) route(path string, methods []string, fn http.HandlerFunc) {
	h.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		if methods != nil && !slices.Contains(methods, r.Method) {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(methods, " or ")))
			return
		}
		fn(w, r)
	})
}

// state returns the current state, never nil.
func (h *handler) state() *state.State {
	if h.o.State != nil {
		if st := h.o.State(); st != nil {
			return st
		}
	}
	return &state.State{}
}

// assess is the assessment of st with the handler's fleet and tuning; vendors and hosts narrow
// it as `aikwatch check --vendor/--host` do.
func (h *handler) assess(st *state.State, now time.Time, vendors, hosts []string) state.Assessment {
	return state.Assess(st, state.AssessOptions{Fleet: h.o.Fleet, Now: now, StaleAfter: h.o.StaleAfter,
		ExpiryWindow: h.o.ExpiryWindow, Vendors: vendors, Hosts: hosts})
}

func (h *handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if h.o.Metrics == nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintln(w, "404 not found: metrics are not enabled")
		return
	}
	h.o.Metrics.ServeHTTP(w, r)
}

func (h *handler) serveHealthy(w http.ResponseWriter, r *http.Request) {
	writeText(w, http.StatusOK, "healthy\n")
}

// readiness reports whether st is a first full state (a committed release and a finished
// sweep) and, when not, why.
func readiness(st *state.State) (bool, string) {
	switch {
	case st.Release == nil:
		why := "no trust-list release has been committed yet"
		if st.Refresh.Error != "" {
			why += " (last refresh: " + st.Refresh.Error + ")"
		}
		return false, why
	case st.LastSweep.Finished.IsZero():
		return false, "the first AIK host sweep has not finished yet"
	}
	return true, ""
}

func (h *handler) serveReady(w http.ResponseWriter, r *http.Request) {
	if ok, why := readiness(h.state()); !ok {
		writeText(w, http.StatusServiceUnavailable, "not ready: "+why+"\n")
		return
	}
	writeText(w, http.StatusOK, "ready\n")
}

// errorBody is the JSON form of every API error.
type errorBody struct {
	Error string `json:"error"`
}

// writeError answers {"error": msg} with code.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg}, false)
}

// writeJSON answers v as JSON with code, uncached.
func writeJSON(w http.ResponseWriter, code int, v any, pretty bool) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if pretty {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		buf.Reset()
		code = http.StatusInternalServerError
		fmt.Fprintf(&buf, "{\"error\":%q}\n", "encoding the answer: "+err.Error())
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// writeText answers a short text/plain body with code, uncached.
func writeText(w http.ResponseWriter, code int, body string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprint(w, body)
}

// statusWriter remembers the status code written, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.status
}
