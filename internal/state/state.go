// Package state holds what the daemon knows at one moment: the trust-list release in force,
// the last refresh, every AIK host's last probe and how long it has been in that state, the EK
// services and the EK CA checks. The scheduler writes it (through the store), and the
// exporter, the API, the status page, `aikwatch check` and the alerts read immutable copies of
// it. [Assess] turns a State into the deployment-day verdict.
package state

import (
	"time"

	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// State is one consistent view of everything the daemon watches. Readers get copies and must
// not modify them.
type State struct {
	Release      *trustlist.Snapshot `json:"-"`             // in force; nil before the first good refresh
	ReleaseSince time.Time           `json:"release_since"` // when it was committed
	Refresh      RefreshStatus       `json:"refresh"`
	Changes      []ReleaseChange     `json:"changes"` // newest first, bounded
	Hosts        []HostState         `json:"hosts"`   // sorted by host
	LastSweep    SweepStatus         `json:"last_sweep"`
	EKServices   []EKServiceState    `json:"ek_services"`
	EKCAs        []probes.EKCAStatus `json:"ek_cas"`
	EKCAsAt      time.Time           `json:"ek_cas_at,omitzero"`
	Canaries     []CanaryState       `json:"canaries"` // sorted by name
}

// RefreshStatus is the outcome of the trust-list refreshes.
type RefreshStatus struct {
	LastAttempt   time.Time `json:"last_attempt,omitzero"`
	LastSuccess   time.Time `json:"last_success,omitzero"` // a verified release was in hand (new or not modified)
	OK            bool      `json:"ok"`                    // the last attempt succeeded
	NotModified   bool      `json:"not_modified,omitempty"`
	Error         string    `json:"error,omitempty"` // why the last attempt failed
	Source        string    `json:"source,omitempty"`
	ETag          string    `json:"etag,omitempty"`
	LastModified  string    `json:"last_modified,omitempty"`
	Refused       *Refusal  `json:"refused,omitempty"` // the last release refused (bad signature, unreadable), kept visible
	Failures      int       `json:"consecutive_failures"`
	NextScheduled time.Time `json:"next_scheduled,omitzero"`
}

// Refusal is a downloaded release that was not committed, and why.
type Refusal struct {
	At     time.Time `json:"at"`
	SHA256 string    `json:"sha256,omitempty"`
	Reason string    `json:"reason"` // e.g. "signature invalid (digest_mismatch)", "not a trust list: HTML page"
}

// ReleaseChange summarises one release replacing another.
type ReleaseChange struct {
	At   time.Time       `json:"at"`
	Diff *trustlist.Diff `json:"diff"`
}

// HostState is what is known of one AIK CA host.
type HostState struct {
	Host        string         `json:"host"`
	Vendor      string         `json:"vendor"`
	IDKind      string         `json:"id_kind,omitempty"`
	ID          string         `json:"id,omitempty"`
	Fleet       bool           `json:"fleet"`          // the organisation's own: named in the fleet configuration
	InTrustList bool           `json:"in_trust_list"`  // the release in force names it
	Status      probes.Status  `json:"status"`         // of the last probe; "" before the first
	Since       time.Time      `json:"since,omitzero"` // when Status last changed
	Failures    int            `json:"consecutive_failures"`
	LastOK      time.Time      `json:"last_ok,omitzero"`
	Last        *probes.Result `json:"last,omitempty"`
}

// Failing reports whether the host's last probe failed.
func (h HostState) Failing() bool {
	return h.Status != "" && h.Status != probes.StatusOK && h.Status != probes.StatusCancelled
}

// SweepStatus describes the last AIK host sweep.
type SweepStatus struct {
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	Probed   int       `json:"probed"`
	Failing  int       `json:"failing"`
}

// EKServiceState is what is known of one fTPM EK certificate service.
type EKServiceState struct {
	Name     string           `json:"name"`
	URL      string           `json:"url"`
	OK       bool             `json:"ok"`
	Since    time.Time        `json:"since,omitzero"`
	Failures int              `json:"consecutive_failures"`
	Last     *probes.EKResult `json:"last,omitempty"`
}

// Host returns the state of host and whether it is known.
func (s *State) Host(host string) (HostState, bool) {
	for _, h := range s.Hosts {
		if h.Host == host {
			return h, true
		}
	}
	return HostState{}, false
}
