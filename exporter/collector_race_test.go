//go:build race

package exporter_test

// metricsRace reports whether the race detector is on: it makes a scrape of the full Nov-2024
// state take seconds on a loaded 2-core machine, longer than a 1 s scrape timeout.
const metricsRace = true
