//go:build race

package sim

// raceEnabled reports whether the tests run under the race detector, which makes TLS
// handshakes about ten times slower: the load tests then use a sample of the hosts.
const raceEnabled = true
