package exporter

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aikwatch/aikwatch/canary"
	"github.com/aikwatch/aikwatch/internal/state"
)

// CanariesResponse is the body of GET /api/v1/canaries.
type CanariesResponse struct {
	// Count is the number of canaries known.
	Count int `json:"count"`
	// Failing counts those whose last report has a failing check.
	Failing int `json:"failing"`
	// Stale counts those silent for longer than they should be.
	Stale int `json:"stale"`
	// Canaries are the canaries, failing first, then stale, then by name.
	Canaries []CanaryView `json:"canaries"`
}

// CanaryView is one canary as the API shows it: its state and whether it is stale now.
type CanaryView struct {
	state.CanaryState
	// Vendor is the canary's TPM vendor code, when known.
	Vendor string `json:"vendor,omitempty"`
	// IsStale is true when no report arrived before stale_at.
	IsStale bool `json:"stale"`
}

// CanaryAccepted is the 200 body of POST /api/v1/canaries.
type CanaryAccepted struct {
	// Status is "accepted".
	Status string `json:"status"`
	// Canary is the canary's state after the report.
	Canary CanaryView `json:"canary"`
}

// canaryEndpoints are the canary routes of the API.
var canaryEndpoints = []apiEndpoint{
	{Endpoint{Path: "/api/v1/canaries", Methods: []string{"GET", "HEAD", "POST"},
		Description: "the Windows canaries' last reports (GET, failing first); POST: a canary's report (JSON, at most 256 KiB)",
		Parameters:  []string{"pretty: indent the JSON"}},
		func(h *handler) http.HandlerFunc { return h.serveCanaries }},
	{Endpoint{Path: "/api/v1/canaries/{name}", Methods: []string{"GET", "HEAD", "DELETE"},
		Description: "one canary (GET), or forget it and its report (DELETE)"},
		func(h *handler) http.HandlerFunc { return h.serveCanary }},
}

func (h *handler) canaryView(c state.CanaryState) CanaryView {
	return CanaryView{CanaryState: c, Vendor: c.Vendor(), IsStale: c.Stale(h.o.Now())}
}

func (h *handler) serveCanaries(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		h.acceptCanary(w, r)
		return
	}
	st := h.state()
	resp := CanariesResponse{Count: len(st.Canaries), Canaries: make([]CanaryView, 0, len(st.Canaries))}
	var failing, stale, ok []CanaryView
	for _, c := range st.Canaries {
		v := h.canaryView(c)
		switch {
		case !c.OK:
			failing = append(failing, v)
		case v.IsStale:
			stale = append(stale, v)
		default:
			ok = append(ok, v)
		}
		if v.IsStale {
			resp.Stale++
		}
	}
	resp.Failing = len(failing)
	resp.Canaries = append(append(append(resp.Canaries, failing...), stale...), ok...)
	writeJSON(w, http.StatusOK, resp, pretty(r))
}

func (h *handler) serveCanary(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if r.Method == http.MethodDelete {
		if refuseCrossOrigin(w, r) {
			return
		}
		if h.o.ForgetCanary == nil {
			writeError(w, http.StatusNotImplemented, "this server does not keep canaries")
			return
		}
		found, err := h.o.ForgetCanary(name)
		switch {
		case err != nil:
			h.log.Error("forgetting a canary", "canary", name, "err", err)
			writeError(w, http.StatusInternalServerError, "forgetting canary "+name+": "+err.Error())
		case !found:
			writeError(w, http.StatusNotFound, "no canary "+name)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
		return
	}
	c, ok := h.state().Canary(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no canary %s; see /api/v1/canaries", name))
		return
	}
	writeJSON(w, http.StatusOK, h.canaryView(c), pretty(r))
}

func (h *handler) acceptCanary(w http.ResponseWriter, r *http.Request) {
	if h.o.ReportCanary == nil {
		writeError(w, http.StatusNotImplemented, "this server does not take canary reports")
		return
	}
	if refuseCrossOrigin(w, r) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, canary.MaxReportBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("canary report larger than %d bytes", canary.MaxReportBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "reading the canary report: "+err.Error())
		return
	}
	var rep canary.Report
	if err := json.Unmarshal(body, &rep); err != nil { // unknown fields are a newer canary's: ignored
		writeError(w, http.StatusBadRequest, "decoding the canary report (JSON): "+err.Error())
		return
	}
	c, err := h.o.ReportCanary(rep)
	switch {
	case errors.Is(err, canary.ErrInvalidReport):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, canary.ErrRefused):
		writeError(w, http.StatusForbidden, err.Error())
	case err != nil:
		h.log.Error("storing a canary report", "canary", rep.Canary, "err", err)
		writeError(w, http.StatusInternalServerError, "storing the canary report: "+err.Error())
	default:
		writeJSON(w, http.StatusOK, CanaryAccepted{Status: "accepted", Canary: h.canaryView(c)}, false)
	}
}
