package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ReloadStatus says on /metrics how the last reload of the configuration
// that may change while the exporter runs (the mapping and credential
// files) went, as Prometheus says it of its own: whether it succeeded, and
// when the configuration in use was loaded. It is a prometheus.Collector.
type ReloadStatus struct {
	successful  prometheus.Gauge
	successTime prometheus.Gauge
}

// NewReloadStatus returns a status that says the configuration loaded at
// start-up, at loaded, is in use.
func NewReloadStatus(loaded time.Time) *ReloadStatus {
	s := &ReloadStatus{
		successful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "acqueon_exporter_config_last_reload_successful",
			Help: "1 when the last reload of the mapping and credential files succeeded, 0 when it was refused.",
		}),
		successTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "acqueon_exporter_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful load of the mapping and credential files.",
		}),
	}
	s.Succeeded(loaded)
	return s
}

// Succeeded records a reload that took effect at t.
func (s *ReloadStatus) Succeeded(t time.Time) {
	s.successful.Set(1)
	s.successTime.Set(float64(t.UnixNano()) / 1e9)
}

// Failed records a refused reload; the time of the last success stays.
func (s *ReloadStatus) Failed() { s.successful.Set(0) }

// Describe implements prometheus.Collector.
func (s *ReloadStatus) Describe(ch chan<- *prometheus.Desc) {
	s.successful.Describe(ch)
	s.successTime.Describe(ch)
}

// Collect implements prometheus.Collector.
func (s *ReloadStatus) Collect(ch chan<- prometheus.Metric) {
	s.successful.Collect(ch)
	s.successTime.Collect(ch)
}
