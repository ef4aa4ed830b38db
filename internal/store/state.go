package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/probes"
)

// Keys of the singletons in the state bucket.
const (
	keyRefresh = "refresh"
	keySweep   = "sweep"
	keyEKCAs   = "ek_cas"
)

// ekCAs is the value of state/ek_cas.
type ekCAs struct {
	At  time.Time           `json:"at"`
	CAs []probes.EKCAStatus `json:"cas"`
}

// SaveRefresh replaces the refresh status.
func (s *Store) SaveRefresh(r state.RefreshStatus) error {
	return s.Update(func(tx *Tx) error { return tx.SaveRefresh(r) })
}

// SaveRefresh replaces the refresh status.
func (tx *Tx) SaveRefresh(r state.RefreshStatus) error { return tx.putJSON(bucketState, keyRefresh, r) }

// Refresh returns the refresh status, the zero value when none was saved.
func (s *Store) Refresh() (state.RefreshStatus, error) {
	var r state.RefreshStatus
	err := s.View(func(tx *Tx) error {
		_, err := tx.getJSON(bucketState, keyRefresh, &r)
		return err
	})
	return r, err
}

// SaveSweep replaces the last sweep's status.
func (s *Store) SaveSweep(w state.SweepStatus) error {
	return s.Update(func(tx *Tx) error { return tx.SaveSweep(w) })
}

// SaveSweep replaces the last sweep's status.
func (tx *Tx) SaveSweep(w state.SweepStatus) error { return tx.putJSON(bucketState, keySweep, w) }

// Sweep returns the last sweep's status, the zero value when none was saved.
func (s *Store) Sweep() (state.SweepStatus, error) {
	var w state.SweepStatus
	err := s.View(func(tx *Tx) error {
		_, err := tx.getJSON(bucketState, keySweep, &w)
		return err
	})
	return w, err
}

// SaveEKCAs replaces the EK CA checks, made at at.
func (s *Store) SaveEKCAs(at time.Time, cas []probes.EKCAStatus) error {
	return s.Update(func(tx *Tx) error { return tx.SaveEKCAs(at, cas) })
}

// SaveEKCAs replaces the EK CA checks, made at at.
func (tx *Tx) SaveEKCAs(at time.Time, cas []probes.EKCAStatus) error {
	if cas == nil {
		cas = []probes.EKCAStatus{}
	}
	return tx.putJSON(bucketState, keyEKCAs, ekCAs{At: at, CAs: cas})
}

// EKCAs returns the last EK CA checks and when they were made; the zero time and nil when
// none were saved.
func (s *Store) EKCAs() (time.Time, []probes.EKCAStatus, error) {
	var v ekCAs
	err := s.View(func(tx *Tx) error {
		_, err := tx.getJSON(bucketState, keyEKCAs, &v)
		return err
	})
	return v.At, v.CAs, err
}

// SaveHosts replaces the set of host states: hosts not in hosts are deleted. Host names must
// be non-empty and distinct.
func (s *Store) SaveHosts(hosts []state.HostState) error {
	return s.Update(func(tx *Tx) error { return tx.SaveHosts(hosts) })
}

// SaveHosts replaces the set of host states in this transaction.
func (tx *Tx) SaveHosts(hosts []state.HostState) error {
	return replaceSet(tx.tx, bucketHosts, len(hosts), func(i int) (string, any) { return hosts[i].Host, hosts[i] })
}

// Hosts returns the saved host states, sorted by host.
func (s *Store) Hosts() ([]state.HostState, error) {
	out := []state.HostState{}
	err := s.View(func(tx *Tx) error { return readSet(tx.tx, bucketHosts, &out) })
	return out, err
}

// SaveEKServices replaces the set of EK service states: services not in svcs are deleted.
// Names must be non-empty and distinct.
func (s *Store) SaveEKServices(svcs []state.EKServiceState) error {
	return s.Update(func(tx *Tx) error { return tx.SaveEKServices(svcs) })
}

// SaveEKServices replaces the set of EK service states in this transaction.
func (tx *Tx) SaveEKServices(svcs []state.EKServiceState) error {
	return replaceSet(tx.tx, bucketEKServices, len(svcs), func(i int) (string, any) { return svcs[i].Name, svcs[i] })
}

// EKServices returns the saved EK service states, sorted by name.
func (s *Store) EKServices() ([]state.EKServiceState, error) {
	out := []state.EKServiceState{}
	err := s.View(func(tx *Tx) error { return readSet(tx.tx, bucketEKServices, &out) })
	return out, err
}

// replaceSet makes bucket hold exactly the n items item(i) returns, keyed by name. Values that
// did not change are not rewritten.
func replaceSet(btx *bolt.Tx, bucket string, n int, item func(i int) (string, any)) error {
	b := btx.Bucket([]byte(bucket))
	if b == nil {
		return fmt.Errorf("store: save %s: bucket missing", bucket)
	}
	keep := make(map[string]bool, n)
	for i := range n {
		key, v := item(i)
		if err := checkName(bucket, key); err != nil {
			return fmt.Errorf("store: save %s: item %d: %w", bucket, i, err)
		}
		if keep[key] {
			return fmt.Errorf("store: save %s: %q appears twice", bucket, key)
		}
		keep[key] = true
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("store: save %s/%s: encoding: %w", bucket, key, err)
		}
		if bytes.Equal(b.Get([]byte(key)), raw) {
			continue
		}
		if err := b.Put([]byte(key), raw); err != nil {
			return fmt.Errorf("store: save %s/%s: %w", bucket, key, err)
		}
	}
	var drop [][]byte
	b.ForEach(func(k, _ []byte) error {
		if !keep[string(k)] {
			drop = append(drop, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("store: save %s: delete %s: %w", bucket, k, err)
		}
	}
	return nil
}

// readSet decodes every value of bucket, in key order, into *out.
func readSet[T any](btx *bolt.Tx, bucket string, out *[]T) error {
	b := btx.Bucket([]byte(bucket))
	if b == nil {
		return fmt.Errorf("store: read %s: bucket missing", bucket)
	}
	return b.ForEach(func(k, raw []byte) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("store: read %s/%s: decoding: %w", bucket, k, err)
		}
		*out = append(*out, v)
		return nil
	})
}
