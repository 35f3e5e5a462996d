package auth

import "github.com/prometheus/client_golang/prometheus"

var (
	tokenRefreshesDesc = prometheus.NewDesc("acqueon_exporter_token_refreshes_total",
		"Access tokens obtained from the Acqueon IDP, by refresh or by signing in.", nil, nil)
	tokenFailuresDesc = prometheus.NewDesc("acqueon_exporter_token_refresh_failures_total",
		"Failed attempts to obtain an access token from the Acqueon IDP.", nil, nil)
)

// NoTokenMetrics returns the IDP's token counters for a program that uses
// no IDP: both stay at zero, so that queries and alerts over them find a
// series whatever the kind of credentials. The expiry gauge is left out,
// since there is no token to expire. Register it in place of an *IDP,
// never next to one.
func NoTokenMetrics() prometheus.Collector { return noTokenMetrics{} }

type noTokenMetrics struct{}

func (noTokenMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- tokenRefreshesDesc
	ch <- tokenFailuresDesc
}

func (noTokenMetrics) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(tokenRefreshesDesc, prometheus.CounterValue, 0)
	ch <- prometheus.MustNewConstMetric(tokenFailuresDesc, prometheus.CounterValue, 0)
}
