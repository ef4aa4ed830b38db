package sim

import (
	"net/http"
	"net/url"
	"strings"
)

// SCEPPath is the AIK CA service's SCEP endpoint path.
const SCEPPath = "/templates/Aik/scep"

// GetCACaps is the simulator's capability list. Invented: the real service's answer is not
// public. It lists SCEP (RFC 8894) capabilities an NDES-like server offers, one per line.
const GetCACaps = "POSTPKIOperation\nRenewal\nSHA-256\nSHA-512\nAES\nSCEPStandard\n"

// Content types of the SCEP answers. RFC 8894 names application/x-x509-ca-ra-cert for a
// GetCACert answer holding CA and RA certificates; the GetCACertChain operation (from the
// older SCEP drafts, which Windows uses) answers application/x-x509-ca-ra-cert-chain.
const (
	ContentTypeCARACert      = "application/x-x509-ca-ra-cert"
	ContentTypeCARACertChain = "application/x-x509-ca-ra-cert-chain"
)

// serveAIK answers a request to an AIK host in mode ok (or slow, after the wait).
func (s *Sim) serveAIK(w http.ResponseWriter, r *http.Request, host string) {
	p := s.pub.Load()
	_, inRel := p.rel.hosts[host]
	own, isOwn := s.simBundles[host]
	if !inRel && !isOwn {
		msJSON(w, http.StatusNotFound, authorityMissing(requestedHost(r)))
		return
	}
	w.Header().Set("X-Powered-By", "ASP.NET")
	if !strings.EqualFold(r.URL.Path, SCEPPath) {
		msJSON(w, http.StatusNotFound, "No HTTP resource was found that matches the request URI '"+
			"https://"+requestedHost(r)+r.URL.RequestURI()+"'.")
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		msJSON(w, http.StatusBadRequest, msgBadSCEP)
		return
	}
	op := q.Get("operation")
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case op == "GetCACaps" && get:
		writeBody(w, http.StatusOK, "text/plain", []byte(GetCACaps))
	case (op == "GetCACertChain" || op == "GetCACert") && get:
		var bundle []byte
		if isOwn && !inRel {
			bundle = own
		} else {
			bundle, err = s.releaseBundle(p, host)
			if err != nil {
				s.log.Error("sim: no AIK CA certificate to serve", "host", host, "err", err)
				msJSON(w, http.StatusInternalServerError, "An error has occurred.")
				return
			}
		}
		ct := ContentTypeCARACertChain
		if op == "GetCACert" {
			ct = ContentTypeCARACert
		}
		writeBody(w, http.StatusOK, ct, bundle)
	default:
		// PKIOperation (a real enrollment needs a TPM), an unknown operation, a wrong method.
		msJSON(w, http.StatusBadRequest, msgBadSCEP)
	}
}

// releaseBundle returns (and caches per publication) the GetCACertChain answer of a host the
// trust list names: the Microsoft TPM root (the release's own, else the simulator's), the
// host's AIK CA certificate, and the RA signing and encryption certificates.
func (s *Sim) releaseBundle(p *publication, host string) ([]byte, error) {
	if b, ok := p.bundles.Load(host); ok {
		return b.([]byte), nil
	}
	aik, err := p.rel.aikCA(host)
	if err != nil {
		return nil, err
	}
	root := p.rel.rootDER
	if root == nil {
		root = s.root.cert.Raw
	}
	b, err := certsOnly(root, aik, s.ra[0], s.ra[1])
	if err != nil {
		return nil, err
	}
	p.bundles.Store(host, b)
	return b, nil
}
