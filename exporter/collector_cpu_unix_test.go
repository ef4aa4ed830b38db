//go:build unix

package exporter_test

import (
	"syscall"
	"time"
)

// metricsCPUTime returns the CPU time (user and system) the test process has used so far, so
// benchmarks can report the cost of a scrape independently of how loaded the machine is.
func metricsCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
