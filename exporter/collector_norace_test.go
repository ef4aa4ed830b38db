//go:build !race

package exporter_test

// metricsRace reports whether the race detector is on.
const metricsRace = false
