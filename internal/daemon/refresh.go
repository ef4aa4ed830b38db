package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/store"
	"github.com/aikwatch/aikwatch/trustlist"
)

// Refresh downloads the trust list (conditionally), and commits it when it is new, verified
// and indexed. A release that fails verification or cannot be read is refused: the previous
// one stays in force and the refusal is recorded. After a new release the EK CAs are checked
// and the hosts swept.
func (d *Daemon) Refresh(ctx context.Context) error {
	changed, err := d.refresh(ctx)
	if err != nil || !changed {
		return err
	}
	if err := d.CheckEKCAs(ctx); err != nil {
		d.log.Warn("EK CA check after a new release failed", "err", err)
	}
	if err := d.Sweep(ctx); err != nil {
		d.log.Warn("sweep after a new release failed", "err", err)
	}
	return nil
}

// refresh downloads and, when it is new and good, commits a release. It reports whether a
// release replaced another (not the first one: Start checks and sweeps after it anyway).
func (d *Daemon) refresh(ctx context.Context) (bool, error) {
	d.refreshMu.Lock()
	defer d.refreshMu.Unlock()
	cur := d.State()
	now := d.now().UTC()
	fetcher := &trustlist.Fetcher{Client: d.dlClient, MaxSize: d.cfg.TrustList.MaxSize}
	etag, lm := cur.Refresh.ETag, cur.Refresh.LastModified
	if cur.Release == nil {
		etag, lm = "", "" // nothing in force: a 304 would leave us with nothing
	}
	res, ferr := fetcher.Fetch(ctx, d.cfg.TrustList.URL, etag, lm)
	if ferr != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, d.refreshFailed(now, ferr, nil)
	}
	if res.NotModified {
		return false, d.refreshOK(now, res)
	}
	sum := sha256.Sum256(res.Body)
	sha := hex.EncodeToString(sum[:])
	if cur.Release != nil && cur.Release.SHA256 == sha {
		return false, d.refreshOK(now, res)
	}
	snap, files, err := d.index(ctx, res.Body, res.FinalURL)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, d.refreshFailed(now, err, &state.Refusal{At: now, SHA256: sha, Reason: "not readable: " + err.Error()})
	}
	if snap.Signature.Status != trustlist.SignatureValid {
		reason := fmt.Sprintf("signature %s (%s): %s", snap.Signature.Status, snap.Signature.Reason, snap.Signature.Detail)
		return false, d.refreshFailed(now, errors.New(reason), &state.Refusal{At: now, SHA256: sha, Reason: reason})
	}

	var diff *trustlist.Diff
	if cur.Release != nil {
		diff = trustlist.Compare(cur.Release, snap)
	}
	rec := store.ReleaseRecord{
		SHA256: snap.SHA256, VersionDate: snap.VersionDate, Source: res.FinalURL, Size: snap.Size, Format: snap.Format,
		Signature: snap.Signature, FetchedAt: now, CommittedAt: now, ETag: res.ETag, LastModified: res.LastModified,
		Members: len(snap.Members), Certificates: snap.CertificateCount(), AIKHosts: len(snap.AIKHosts), EKCAs: len(snap.EKCAs),
	}
	err = d.update(func(st *state.State) error {
		st.Refresh = refreshStatus(st.Refresh, now, res, d.cfg.TrustList.URL)
		st.Release, st.ReleaseSince = snap, now
		if diff != nil {
			st.Changes = append([]state.ReleaseChange{{At: now, Diff: diff}}, st.Changes...)
			st.Changes = st.Changes[:min(len(st.Changes), maxChanges)]
		}
		st.Hosts = d.hostSet(snap, st.Hosts)
		// The release, the refresh status and the new host set: one transaction.
		err := d.store.Update(func(tx *store.Tx) error {
			if _, err := tx.CommitRelease(rec, res.Body, diff); err != nil {
				return err
			}
			if err := tx.SaveRefresh(st.Refresh); err != nil {
				return err
			}
			return tx.SaveHosts(st.Hosts)
		})
		if err == nil {
			d.files.Store(&files)
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("committing release %s: %w", sha, err)
	}
	d.log.Info("new trust-list release committed", "sha256", sha, "version_date", trustlist.DateString(snap.VersionDate),
		"aik_hosts", len(snap.AIKHosts), "withdrawn", diffLen(diff, func(x *trustlist.Diff) int { return len(x.AIKHostsWithdrawn) }))
	return cur.Release != nil, nil
}

// index reads and indexes a release and keeps its members for the EK CA checks.
func (d *Daemon) index(ctx context.Context, data []byte, source string) (*trustlist.Snapshot, []trustlist.File, error) {
	opts := trustlist.Options{Roots: &d.roots, MaxSourceSize: d.cfg.TrustList.MaxSize}
	return trustlist.FromBytesWithFiles(ctx, data, source, opts)
}

func (d *Daemon) refreshOK(now time.Time, res *trustlist.FetchResult) error {
	return d.update(func(st *state.State) error {
		st.Refresh = refreshStatus(st.Refresh, now, res, d.cfg.TrustList.URL)
		return d.store.SaveRefresh(st.Refresh)
	})
}

func (d *Daemon) refreshFailed(now time.Time, cause error, refusal *state.Refusal) error {
	err := d.update(func(st *state.State) error {
		r := st.Refresh
		r.LastAttempt, r.OK, r.NotModified, r.Error = now, false, false, cause.Error()
		r.Source = d.cfg.TrustList.URL
		r.Failures++
		if refusal != nil {
			r.Refused = refusal
		}
		st.Refresh = r
		return d.store.SaveRefresh(r)
	})
	if err != nil {
		return err
	}
	if refusal != nil {
		d.log.Warn("trust-list release refused; the previous one stays in force", "sha256", refusal.SHA256, "reason", refusal.Reason)
	}
	return fmt.Errorf("trust-list refresh: %w", cause)
}

func refreshStatus(prev state.RefreshStatus, now time.Time, res *trustlist.FetchResult, url string) state.RefreshStatus {
	r := prev
	r.LastAttempt, r.LastSuccess, r.OK, r.NotModified, r.Error, r.Failures = now, now, true, res.NotModified, "", 0
	r.Source = url
	if !res.NotModified {
		r.ETag, r.LastModified = res.ETag, res.LastModified
	}
	return r
}

func diffLen(d *trustlist.Diff, f func(*trustlist.Diff) int) int {
	if d == nil {
		return 0
	}
	return f(d)
}
