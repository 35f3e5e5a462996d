// Package dashboards holds no code. Beside it live the Grafana dashboards
// (*.json) and the Prometheus alerting and recording rules (rules/) for the
// Acqueon exporter; its tests check them with promtool, amtool and a real
// Prometheus, and check the example deployment in ../examples.
package dashboards
