// Package faults holds the exporter's fault suite: tests that assemble the
// real session, collector, registry and HTTP handler in-process, put the
// feed's simulator (and, where a fault needs it, a TCP proxy) behind real
// loopback sockets, make the network or the vendor misbehave, and check
// that the exporter stays up, keeps its memory bounded, answers /metrics
// throughout, says what happened in its metrics and logs, and gets its
// session back once the fault is over.
//
// # Vendor series while the feed is gone
//
// When the session is lost, the vendor series (campaigns, queues, agents)
// stay exported as they were last received, for the collector's entity
// TTL (--collector.entity-ttl, 5 minutes by default), while acqueon_up is
// 0 and acqueon_exporter_connection_state says why. A short reconnect thus
// leaves no gap in dashboards and no spurious absent() alerts, and the
// figures are never shown as live: acqueon_up and
// acqueon_exporter_last_message_timestamp_seconds tell how old they are.
// Once the TTL has passed without a message, the series are dropped
// (acqueon_exporter_series falls to 0), so an outage longer than the TTL
// shows as missing data rather than as frozen values. The exporter's own
// series stay. TestVendorSeriesOutliveAShortOutageAndExpireAfterTheTTL
// checks exactly this with the collector's clock.
package faults
