// Package exporter serves what the aikwatch daemon knows: the Prometheus metrics at /metrics,
// the JSON API and the status page.
//
// The metrics are built at scrape time from the daemon's cached state (a [StateFunc] returns an
// immutable copy of it) as constant metrics, the way node_exporter's collectors and
// x509-certificate-exporter work: nothing is probed during a scrape, and a host, an EK service
// or an EK CA that leaves the state leaves the output with it. Every HELP text says which part
// of the state a value comes from and which timestamp metric says when that was. The metric
// names, types and labels are listed in docs/metrics.md.
package exporter
