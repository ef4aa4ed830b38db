package exporter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/aikwatch/aikwatch/internal/state"
)

// jsonCache keeps the encoded answers that depend on the state alone (the release summary,
// the unfiltered host list), one per key, until the state changes: they are the largest
// answers (about 0.5 MB) and the state changes once per sweep.
type jsonCache struct {
	mu      sync.Mutex
	entries map[string]jsonCacheEntry
}

type jsonCacheEntry struct {
	st   *state.State
	body []byte
}

// get returns the cached encoding of build() for key and st, encoding it when st is new.
func (c *jsonCache) get(key string, st *state.State, pretty bool, build func() any) ([]byte, error) {
	if pretty {
		key += "?pretty"
	}
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && e.st == st {
		return e.body, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if pretty {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(build()); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]jsonCacheEntry{}
	}
	c.entries[key] = jsonCacheEntry{st: st, body: buf.Bytes()}
	c.mu.Unlock()
	return buf.Bytes(), nil
}

// writeCachedJSON answers 200 with the cached encoding of build() for key and st.
func (h *handler) writeCachedJSON(w http.ResponseWriter, r *http.Request, key string, st *state.State, build func() any) {
	body, err := h.cache.get(key, st, pretty(r), build)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the answer: "+err.Error())
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}
