package sim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// connKey is the context key under which the HTTPS server stores each request's connection.
type connKey struct{}

// getCertificate picks the server certificate by SNI: the wrong-name certificate for a host in
// ModeTLSError, else the certificate of the host's service.
func (s *Sim) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := normalizeHost(hello.ServerName)
	if name != "" {
		if m, _ := s.modes.effective(name); m == ModeTLSError {
			s.modes.count(name)
			s.log.Debug("sim: tls_error handshake", "sni", name)
			return s.certs.get(wrongName)
		}
	}
	return s.certs.get(certKey(name))
}

// serveHTTPS is the handler of the HTTPS listener: it applies the host's mode, then routes by
// host.
func (s *Sim) serveHTTPS(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		panic(http.ErrAbortHandler)
	}
	defer s.inflight.Done()
	host := normalizeHost(r.Host)
	if !Served(host) {
		msJSON(w, http.StatusMisdirectedRequest, "The simulator serves no host \""+host+"\".")
		return
	}
	s.modes.count(host)
	mode, delay := s.modes.effective(host)
	s.log.Debug("sim: request", "host", host, "method", r.Method, "uri", r.RequestURI, "proto", r.Proto, "mode", mode)
	if isAIKName(host) || strings.HasSuffix(host, ".microsoft.com") {
		w.Header().Set("Server", "Microsoft-IIS/10.0")
	}
	if mode == ModeHang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		panic(http.ErrAbortHandler)
	}
	if !s.wait(r.Context(), delay) {
		panic(http.ErrAbortHandler)
	}
	switch mode {
	case ModeWithdrawn:
		s.notFound(w, r, host)
		return
	case ModeBadRequest:
		msJSON(w, http.StatusBadRequest, msgBadSCEP)
		return
	case ModeError500:
		// Invented: the default ASP.NET Web API body for an unhandled error.
		msJSON(w, http.StatusInternalServerError, "An error has occurred.")
		return
	case ModeThrottled:
		w.Header().Set("Retry-After", "30")
		// Invented: the real service's 429 body is not public.
		msJSON(w, http.StatusTooManyRequests, "Too many requests. Retry after 30 seconds.")
		return
	case ModeReset:
		s.reset(w, r)
		return
	}
	switch {
	case isAIKName(host):
		s.serveAIK(w, r, host)
	case host == HostFwlink:
		s.serveFwlink(w, r)
	case host == HostDownload:
		s.serveDownload(w, r)
	case host == HostIntelEK:
		s.serveIntel(w, r)
	case host == HostAMDEK:
		s.serveAMD(w, r)
	case host == HostQualcommEK:
		s.serveQualcomm(w, r)
	}
}

// wait sleeps for d unless the request ends or the simulator closes first; it reports
// whether the full time passed.
func (s *Sim) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

// reset closes the request's TCP connection with SO_LINGER 0, so that the client sees a
// connection reset rather than an answer. Over HTTP/2 this drops every stream of the
// connection, as a reset does.
func (s *Sim) reset(w http.ResponseWriter, r *http.Request) {
	var c net.Conn
	hijacked := false
	if hj, ok := w.(http.Hijacker); ok {
		if hc, _, err := hj.Hijack(); err == nil {
			c, hijacked = hc, true
		}
	}
	if c == nil {
		c, _ = r.Context().Value(connKey{}).(net.Conn)
	}
	if c == nil {
		panic(http.ErrAbortHandler)
	}
	raw := c
	if tc, ok := c.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = raw.Close()
	if !hijacked {
		panic(http.ErrAbortHandler) // the server must not write an answer on the dead connection
	}
}

// Messages of Microsoft's AIK CA service.
const msgBadSCEP = "Failed to parse SCEP request."

// authorityMissing is the message of the service's 404 for a host it has no AIK CA for.
func authorityMissing(host string) string {
	return "The authority \"" + host + "\" does not exist."
}

// msJSON writes Microsoft's error shape {"Message":"..."} with status.
func msJSON(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Message string `json:"Message"`
	}{msg})
}

// writeJSON writes v as compact JSON (no HTML escaping) with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()-1))
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// writeBody writes body with a content type and status.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// notFound answers 404 the way host does for something it does not have.
func (s *Sim) notFound(w http.ResponseWriter, r *http.Request, host string) {
	switch {
	case isAIKName(host):
		// The requested host as the client wrote it, without a port.
		msJSON(w, http.StatusNotFound, authorityMissing(requestedHost(r)))
	case host == HostIntelEK:
		writeBody(w, http.StatusNotFound, "text/plain; charset=utf-8", []byte(intelNotFound))
	case host == HostQualcommEK:
		msJSON(w, http.StatusNotFound, "EK certificate not found.")
	default:
		writeBody(w, http.StatusNotFound, "text/html; charset=utf-8", []byte(notFoundHTML))
	}
}

// requestedHost returns the Host the client asked for, without port or trailing dot but in its
// own letter case.
func requestedHost(r *http.Request) string {
	h := r.Host
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.TrimSuffix(h, ".")
}

// notFoundHTML is a generic 404 page (invented: the real hosts' pages differ).
const notFoundHTML = "<!DOCTYPE html><html><head><title>404 - File or directory not found.</title></head><body><h2>404 - File or directory not found.</h2></body></html>"
