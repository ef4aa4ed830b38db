package alerts

import "time"

// Clock tells the engine the time and lets it wait. The real clock is used when NewEngine is
// given nil; tests pass a fake one so that backoff waits and repeats take no real time.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the time once d has passed (at once when d ≤ 0).
	After(d time.Duration) <-chan time.Time
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
