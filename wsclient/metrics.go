package wsclient

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// States of a session, the values of the state label of
// acqueon_exporter_connection_state.
const (
	// StateDisconnected is no socket, such as while backing off.
	StateDisconnected = "disconnected"
	// StateConnecting is dialing, TLS and the websocket upgrade.
	StateConnecting = "connecting"
	// StateAuthenticating is an upgraded socket waiting for the
	// connection event, which tells that the credential was accepted.
	StateAuthenticating = "authenticating"
	// StateInitializing is the connection event received and the
	// initialization request being sent.
	StateInitializing = "initializing"
	// StateConnected is an initialized session receiving the feed.
	StateConnected = "connected"
)

// States lists every state, in the order a session goes through them.
func States() []string {
	return []string{
		StateDisconnected,
		StateConnecting,
		StateAuthenticating,
		StateInitializing,
		StateConnected,
	}
}

// metrics are the session's own metrics.
type metrics struct {
	up             prometheus.Gauge
	state          *prometheus.GaugeVec
	reconnects     prometheus.Counter
	connectFailure *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "acqueon_up",
			Help: "1 while a feed session is initialized and live, else 0.",
		}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "acqueon_exporter_connection_state",
			Help: "State of the feed session: 1 for the current state, 0 for the others.",
		}, []string{"state"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "acqueon_exporter_reconnects_total",
			Help: "Feed sessions initialized again after a working session was lost.",
		}),
		connectFailure: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "acqueon_exporter_connect_failures_total",
			Help: "Failed attempts to open an initialized feed session, by cause.",
		}, []string{"reason"}),
	}
	for _, r := range Reasons() {
		m.connectFailure.WithLabelValues(r)
	}
	m.setState(StateDisconnected)

	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.up, m.state, m.reconnects, m.connectFailure} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register session metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) setState(state string) {
	for _, s := range States() {
		v := 0.0
		if s == state {
			v = 1
		}
		m.state.WithLabelValues(s).Set(v)
	}
	if state == StateConnected {
		m.up.Set(1)
	} else {
		m.up.Set(0)
	}
}
