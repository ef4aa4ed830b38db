package sim

import (
	"bytes"
	"net/http"
	"strings"
)

// serveFwlink answers go.microsoft.com: /fwlink/?linkid=2097925 (any letter case of the path
// and parameter name, as the real service accepts) redirects with 302 to the cab.
func (s *Sim) serveFwlink(w http.ResponseWriter, r *http.Request) {
	p := strings.ToLower(strings.TrimSuffix(r.URL.Path, "/"))
	if p != "/fwlink" || !hasLinkID(r) {
		s.notFound(w, r, HostFwlink)
		return
	}
	w.Header().Set("Location", "https://"+HostDownload+DownloadPath)
	w.Header().Set("Cache-Control", "max-age=0, no-cache, no-store")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusFound)
}

func hasLinkID(r *http.Request) bool {
	for k, v := range r.URL.Query() {
		if strings.EqualFold(k, "linkid") && len(v) > 0 && v[0] == fwlinkID {
			return true
		}
	}
	return false
}

// serveDownload answers download.microsoft.com: the current cab at DownloadPath, with ETag and
// Last-Modified; conditional and range requests are honoured.
func (s *Sim) serveDownload(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.URL.Path, DownloadPath) {
		s.notFound(w, r, HostDownload)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeBody(w, http.StatusMethodNotAllowed, "text/plain; charset=utf-8", []byte("Method Not Allowed"))
		return
	}
	p := s.pub.Load()
	w.Header().Set("ETag", p.etag)
	w.Header().Set("Content-Type", "application/vnd.ms-cab-compressed")
	http.ServeContent(w, r, "TrustedTpm.cab", p.modified, bytes.NewReader(p.cab))
}
