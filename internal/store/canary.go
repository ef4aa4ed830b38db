package store

import (
	"encoding/json"
	"fmt"

	"github.com/aikwatch/aikwatch/internal/state"
)

// bucketCanaries holds canaries/<name> → state.CanaryState. It is created by the first report,
// so it needs no schema migration; it is reserved like the other fixed buckets.
const bucketCanaries = "canaries"

func init() { reserved[bucketCanaries] = true }

// SaveCanary stores the state of one canary, replacing what was stored under its name.
func (s *Store) SaveCanary(c state.CanaryState) error {
	if c.Name == "" {
		return fmt.Errorf("store: save canary: empty name")
	}
	return s.Update(func(tx *Tx) error { return tx.putJSON(bucketCanaries, c.Name, c) })
}

// DeleteCanary forgets the canary called name; forgetting an unknown one is not an error.
func (s *Store) DeleteCanary(name string) error {
	return s.Update(func(tx *Tx) error {
		b := tx.tx.Bucket([]byte(bucketCanaries))
		if b == nil || name == "" {
			return nil
		}
		if err := b.Delete([]byte(name)); err != nil {
			return fmt.Errorf("store: delete canary %s: %w", name, err)
		}
		return nil
	})
}

// Canaries returns the stored canary states, sorted by name.
func (s *Store) Canaries() ([]state.CanaryState, error) {
	out := []state.CanaryState{}
	err := s.View(func(tx *Tx) error {
		b := tx.tx.Bucket([]byte(bucketCanaries))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, raw []byte) error {
			var c state.CanaryState
			if err := json.Unmarshal(raw, &c); err != nil {
				return fmt.Errorf("store: read %s/%s: decoding: %w", bucketCanaries, k, err)
			}
			out = append(out, c)
			return nil
		})
	})
	return out, err
}
