package sim

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Paths of the EK certificate services.
const (
	IntelEKPath    = "/ekcertservice/"
	AMDEKPath      = "/pki/aia/"
	QualcommEKPath = "/EKCertificate/GetEKCertificate/v1"
)

// intelNotFound is the body of Intel's answer for an unknown key (the wording Intel's service
// is reported to use; the exact body is not public).
const intelNotFound = "Certificate not found"

// IntelAnswer is the JSON body Intel's EK certificate service answers with.
type IntelAnswer struct {
	PubHash     string `json:"pubhash"`     // the id, as in the request path (escaped)
	Certificate string `json:"certificate"` // base64url (with padding) of the DER EK certificate
}

// serveIntel answers ekop.intel.com/ekcertservice/{id}. An unescaped '=' in the id is refused
// with 403, as the real service does.
func (s *Sim) serveIntel(w http.ResponseWriter, r *http.Request) {
	seg, ok := strings.CutPrefix(r.URL.EscapedPath(), IntelEKPath)
	if !ok || seg == "" || strings.Contains(seg, "/") {
		s.notFound(w, r, HostIntelEK)
		return
	}
	if strings.Contains(seg, "=") {
		// Invented body: the real 403 page is not public.
		writeBody(w, http.StatusForbidden, "text/html; charset=utf-8", []byte("<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1></body></html>"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeBody(w, http.StatusMethodNotAllowed, "text/plain; charset=utf-8", []byte("Method Not Allowed"))
		return
	}
	raw, err := url.PathUnescape(seg)
	if err != nil {
		s.notFound(w, r, HostIntelEK)
		return
	}
	m, ok := s.intelIDs[url.QueryEscape(raw)]
	if !ok {
		s.notFound(w, r, HostIntelEK)
		return
	}
	writeJSON(w, http.StatusOK, IntelAnswer{PubHash: m.ek.ID, Certificate: base64.URLEncoding.EncodeToString(m.ek.Cert.Raw)})
}

// serveAMD answers ftpm.amd.com/pki/aia/{id} with the DER EK certificate.
func (s *Sim) serveAMD(w http.ResponseWriter, r *http.Request) {
	seg, ok := strings.CutPrefix(r.URL.Path, AMDEKPath)
	if !ok || seg == "" {
		s.notFound(w, r, HostAMDEK)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeBody(w, http.StatusMethodNotAllowed, "text/plain; charset=utf-8", []byte("Method Not Allowed"))
		return
	}
	m, ok := s.amdIDs[strings.ToUpper(seg)]
	if !ok {
		s.notFound(w, r, HostAMDEK)
		return
	}
	writeBody(w, http.StatusOK, "application/pkix-cert", m.ek.Cert.Raw)
}

// serveQualcomm answers ekcert.spserv.microsoft.com. The request format of Microsoft's
// Qualcomm EK service is not public, so the simulator only tells a well-formed request from a
// bad one: a POST with a JSON body gets 404 {"Message":"EK certificate not found."} (the
// simulator has no Qualcomm EK), anything else 400 {"Message":"Invalid request."}. That is
// enough for a probe that checks reachability.
func (s *Sim) serveQualcomm(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.URL.Path, QualcommEKPath) {
		s.notFound(w, r, HostQualcommEK)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method != http.MethodPost || mt != "application/json" {
		msJSON(w, http.StatusBadRequest, "Invalid request.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || !json.Valid(body) {
		msJSON(w, http.StatusBadRequest, "Invalid request.")
		return
	}
	msJSON(w, http.StatusNotFound, "EK certificate not found.")
}
