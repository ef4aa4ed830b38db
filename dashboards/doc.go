// Package dashboards holds aikwatch's Grafana dashboards as JSON files (aikwatch-overview.json,
// aikwatch-hosts.json); it has no Go API. Its tests check the dashboards' structure and
// PromQL against docs/metrics.md, promtool and a real Prometheus scraping the real exporter,
// and the docker-compose.yml stack (Dockerfile, deploy/) that provisions them. See README.md.
package dashboards
