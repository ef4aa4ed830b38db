package sim

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

func TestFwlinkAndDownload(t *testing.T) {
	s := startSim(t)
	c := noRedirect(s.Client())
	code, hdr, _ := get(t, c, "GET", FwlinkURL, nil)
	want := "https://" + HostDownload + DownloadPath
	if code != http.StatusFound || hdr.Get("Location") != want {
		t.Fatalf("fwlink: %d Location %q", code, hdr.Get("Location"))
	}
	if code, _, _ := get(t, c, "GET", "https://go.microsoft.com/fwlink/?LinkId=2097925", nil); code != http.StatusFound {
		t.Errorf("fwlink with LinkId: %d", code)
	}
	if code, _, _ := get(t, c, "GET", "https://go.microsoft.com/fwlink/?linkid=1", nil); code != 404 {
		t.Errorf("other linkid: %d", code)
	}
	// Following the redirect yields the cab.
	code, hdr, body := get(t, s.Client(), "GET", FwlinkURL, nil)
	if code != 200 || !bytes.Equal(body, readCab(t, testutil.NovCab)) {
		t.Fatalf("download: %d, %d bytes", code, len(body))
	}
	etag, lm := hdr.Get("ETag"), hdr.Get("Last-Modified")
	if etag == "" || lm == "" || hdr.Get("Content-Type") != "application/vnd.ms-cab-compressed" {
		t.Errorf("download headers: %v", hdr)
	}
	if code, _, body := get(t, c, "GET", want, http.Header{"If-None-Match": {etag}}); code != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match: %d", code)
	}
	if code, _, _ := get(t, c, "GET", want, http.Header{"If-Modified-Since": {lm}}); code != http.StatusNotModified {
		t.Errorf("If-Modified-Since: %d", code)
	}
	if code, _, _ := get(t, c, "GET", want, http.Header{"If-None-Match": {`"other"`}}); code != 200 {
		t.Errorf("stale If-None-Match: %d", code)
	}
	if code, hdr, body := get(t, c, "HEAD", want, nil); code != 200 || len(body) != 0 || hdr.Get("Content-Length") == "" {
		t.Errorf("HEAD: %d %v", code, hdr)
	}
	if code, _, _ := get(t, c, "GET", "https://"+HostDownload+"/download/other.cab", nil); code != 404 {
		t.Errorf("other path: %d", code)
	}

	// A new release: new ETag, later Last-Modified, old validators no longer match.
	if err := s.Publish(readCab(t, testutil.JunCab)); err != nil {
		t.Fatal(err)
	}
	code, hdr2, body := get(t, c, "GET", want, http.Header{"If-None-Match": {etag}, "If-Modified-Since": {lm}})
	if code != 200 || !bytes.Equal(body, readCab(t, testutil.JunCab)) || hdr2.Get("ETag") == etag {
		t.Errorf("after publish: %d etag %q", code, hdr2.Get("ETag"))
	}
	t1, _ := http.ParseTime(lm)
	t2, _ := http.ParseTime(hdr2.Get("Last-Modified"))
	if !t2.After(t1) {
		t.Errorf("Last-Modified did not move forward: %v then %v", t1, t2)
	}
}

func TestNewErrors(t *testing.T) {
	// Without a trust list New publishes the generated default release (release_gen_test.go).
	if _, err := New(Config{TrustList: []byte("<html><title>Sign in</title></html>")}); err == nil {
		t.Error("New with an HTML page succeeded")
	}
	s, err := New(Config{TrustList: readCab(t, testutil.JunCab), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != "" || s.ControlURL() != "" {
		t.Error("addresses before Start")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Error("second Start succeeded")
	}
	if s.ControlURL() != "" {
		t.Error("control URL without a control listener")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Error("Start after Close succeeded")
	}
	// A busy port is a clear error.
	s2, err := New(Config{TrustList: readCab(t, testutil.JunCab)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(); err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s3, _ := New(Config{TrustList: readCab(t, testutil.JunCab), Addr: s2.Addr()})
	if err := s3.Start(); err == nil {
		s3.Close()
		t.Error("Start on a busy port succeeded")
	}
}
