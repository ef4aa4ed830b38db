//go:build race

package main

// raceEnabled: the race detector makes the full-state build too slow for a unit test.
const raceEnabled = true
