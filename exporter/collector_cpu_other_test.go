//go:build !unix

package exporter_test

import "time"

// metricsCPUTime is not available here.
func metricsCPUTime() (time.Duration, bool) { return 0, false }
