package trustlist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// DefaultURL is Microsoft's published download link for TrustedTpm.cab (a redirect to
// download.microsoft.com).
const DefaultURL = "https://go.microsoft.com/fwlink/?linkid=2097925"

// Fetcher downloads a release over HTTP(S) with a size cap and conditional requests.
type Fetcher struct {
	Client  *http.Client  // nil: a client with Timeout
	MaxSize int64         // 0: DefaultMaxSourceSize
	Timeout time.Duration // whole-request timeout when Client is nil; 0: 2 minutes
}

// FetchResult is one download's outcome.
type FetchResult struct {
	Body         []byte // nil when NotModified
	NotModified  bool   // the server answered 304 to a conditional request
	ETag         string
	LastModified string
	FinalURL     string // after redirects
	ContentType  string
}

// ErrTooLarge marks a download that exceeded the size cap.
var ErrTooLarge = errors.New("download exceeds the size limit")

// Fetch downloads url. A non-empty etag or lastModified makes the request conditional.
func (f *Fetcher) Fetch(ctx context.Context, url, etag, lastModified string) (*FetchResult, error) {
	client := f.Client
	if client == nil {
		t := f.Timeout
		if t == 0 {
			t = 2 * time.Minute
		}
		client = &http.Client{Timeout: t}
	}
	max := f.MaxSize
	if max <= 0 {
		max = DefaultMaxSourceSize
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("trust-list download %s: %w", url, err)
	}
	req.Header.Set("User-Agent", "aikwatch (+https://github.com/aikwatch/aikwatch)")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lastModified != "" {
		req.Header.Set("If-Modified-Since", lastModified)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("trust-list download: %w", err)
	}
	defer resp.Body.Close()
	res := &FetchResult{
		ETag:         resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"),
		FinalURL:     resp.Request.URL.String(),
		ContentType:  resp.Header.Get("Content-Type"),
	}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		res.NotModified = true
		return res, nil
	case resp.StatusCode != http.StatusOK:
		excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return nil, fmt.Errorf("trust-list download %s: HTTP %d: %q", res.FinalURL, resp.StatusCode, excerpt)
	case resp.ContentLength > max:
		return nil, fmt.Errorf("trust-list download %s: Content-Length %d: %w (%d bytes)", res.FinalURL, resp.ContentLength, ErrTooLarge, max)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("trust-list download %s: reading body: %w", res.FinalURL, err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("trust-list download %s: %w (%d bytes)", res.FinalURL, ErrTooLarge, max)
	}
	res.Body = body
	return res, nil
}
