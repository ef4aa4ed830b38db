package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ModeRequest is the JSON body of the control API's PUT /hosts/{host}, PUT /hosts/* and
// PUT /defaults. An absent field keeps its current value where that makes sense (defaults);
// for a host, an absent mode means "ok" and an absent latency means none of its own.
type ModeRequest struct {
	Mode      Mode   `json:"mode,omitempty"`
	LatencyMS *int64 `json:"latency_ms,omitempty"`
}

// DefaultsState is the JSON answer of GET /defaults.
type DefaultsState struct {
	Mode      Mode  `json:"mode"`
	LatencyMS int64 `json:"latency_ms"`
}

// TrustListState is the JSON answer of GET /trustlist and PUT /trustlist.
type TrustListState struct {
	SHA256   string   `json:"sha256"`
	Bytes    int      `json:"bytes"`
	AIKHosts int      `json:"aik_hosts"`
	Added    []string `json:"added,omitempty"`   // PUT only: hosts the new release names and the old did not
	Removed  []string `json:"removed,omitempty"` // PUT only: hosts no longer named
}

// EKState is one entry of GET /eks.
type EKState struct {
	Vendor  string `json:"vendor"`
	URL     string `json:"url"`
	AIKHost string `json:"aik_host"`
	CertPEM string `json:"cert_pem"`
}

const maxControlBody = 1 << 20
const maxTrustListBody = 64 << 20

// controlHandler serves the control API described in the package documentation.
func (s *Sim) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hosts", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Hosts())
	})
	mux.HandleFunc("GET /hosts/{host}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.HostState(r.PathValue("host")))
	})
	mux.HandleFunc("PUT /hosts/{host}", func(w http.ResponseWriter, r *http.Request) {
		var req ModeRequest
		if err := decodeJSON(r, &req); err != nil {
			ctlError(w, http.StatusBadRequest, err)
			return
		}
		m := req.Mode
		if m == "" {
			m = ModeOK
		}
		var lat time.Duration
		if req.LatencyMS != nil {
			lat = time.Duration(*req.LatencyMS) * time.Millisecond
		}
		host := r.PathValue("host")
		var err error
		if host == "*" {
			err = s.SetAll(m, lat)
		} else {
			err = s.SetMode(host, m, lat)
		}
		if err != nil {
			ctlError(w, http.StatusBadRequest, err)
			return
		}
		if host == "*" {
			writeJSON(w, http.StatusOK, s.defaultsState())
			return
		}
		writeJSON(w, http.StatusOK, s.HostState(host))
	})
	mux.HandleFunc("DELETE /hosts/{host}", func(w http.ResponseWriter, r *http.Request) {
		s.ClearMode(r.PathValue("host"))
		writeJSON(w, http.StatusOK, s.HostState(r.PathValue("host")))
	})
	mux.HandleFunc("GET /defaults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.defaultsState())
	})
	mux.HandleFunc("PUT /defaults", func(w http.ResponseWriter, r *http.Request) {
		var req ModeRequest
		if err := decodeJSON(r, &req); err != nil {
			ctlError(w, http.StatusBadRequest, err)
			return
		}
		if req.Mode != "" && !req.Mode.Valid() {
			ctlError(w, http.StatusBadRequest, fmt.Errorf("unknown mode %q (want one of %v)", req.Mode, Modes))
			return
		}
		var lat *time.Duration
		if req.LatencyMS != nil {
			if *req.LatencyMS < 0 {
				ctlError(w, http.StatusBadRequest, fmt.Errorf("negative latency_ms %d", *req.LatencyMS))
				return
			}
			d := time.Duration(*req.LatencyMS) * time.Millisecond
			lat = &d
		}
		s.modes.setDefaults(req.Mode, lat, false)
		st := s.defaultsState()
		s.log.Info("defaults set", "mode", st.Mode, "latency_ms", st.LatencyMS)
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET /trustlist", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.trustListState())
	})
	mux.HandleFunc("PUT /trustlist", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxTrustListBody+1))
		if err != nil {
			ctlError(w, http.StatusBadRequest, fmt.Errorf("reading trust list: %w", err))
			return
		}
		if len(body) > maxTrustListBody {
			ctlError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("trust list over %d bytes", maxTrustListBody))
			return
		}
		old := s.pub.Load().rel
		if err := s.Publish(body); err != nil {
			ctlError(w, http.StatusBadRequest, err)
			return
		}
		st := s.trustListState()
		st.Added, st.Removed = hostDelta(old, s.pub.Load().rel)
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET /eks", func(w http.ResponseWriter, r *http.Request) {
		var out []EKState
		for _, ek := range s.EKs() {
			out = append(out, EKState{Vendor: ek.Vendor, URL: ek.URL, AIKHost: ek.AIKHost, CertPEM: string(certPEM(ek.Cert.Raw))})
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /ca.pem", func(w http.ResponseWriter, r *http.Request) {
		writeBody(w, http.StatusOK, "application/x-pem-file", s.CACertPEM())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ctlError(w, http.StatusNotFound, fmt.Errorf("no control endpoint %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func (s *Sim) defaultsState() DefaultsState {
	m, l := s.modes.defaults()
	return DefaultsState{Mode: m, LatencyMS: l.Milliseconds()}
}

func (s *Sim) trustListState() TrustListState {
	p := s.pub.Load()
	return TrustListState{SHA256: p.rel.sha256, Bytes: len(p.cab), AIKHosts: len(p.rel.names)}
}

// decodeJSON reads a small JSON body into v, refusing unknown fields and trailing data.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxControlBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty body: want JSON like {\"mode\":\"withdrawn\",\"latency_ms\":0}")
		}
		return fmt.Errorf("request body: %w", err)
	}
	if dec.More() {
		return errors.New("request body: data after the JSON object")
	}
	return nil
}

func ctlError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
