package faults

import (
	"testing"
	"time"

	"github.com/acqueon-exporter/acqueon_exporter/internal/testkit"
)

// TestVendorSeriesOutliveAShortOutageAndExpireAfterTheTTL checks what the
// package documentation promises: while the feed is gone, the vendor
// series stay, with acqueon_up 0, for the entity TTL and no longer.
func TestVendorSeriesOutliveAShortOutageAndExpireAfterTheTTL(t *testing.T) {
	const ttl = time.Minute
	clock := testkit.NewClock(time.Unix(1_764_770_645, 0))
	f, e, live := connected(t, feedOptions{}, exporterOptions{clock: clock})
	series := live.vendorSeries()
	lastMessage := live.get("acqueon_exporter_last_message_timestamp_seconds")

	f.down()
	down := e.waitMetrics(t, "the session is down", waitTimeout, func(m metrics) bool {
		return m.get("acqueon_up") == 0 &&
			m.get("acqueon_exporter_connect_failures_total", "reason", "unreachable") >= 1
	})
	if got := down.vendorSeries(); got != series {
		t.Errorf("%d vendor series right after the outage began, want the %d last received", got, series)
	}
	if got := down.get("acqueon_campaign_dial_attempts_total", "campaign_id", "101"); got != 38000 {
		t.Errorf("acqueon_campaign_dial_attempts_total of campaign 101 is %v during the outage, want 38000", got)
	}

	clock.Advance(ttl - time.Second)
	if got := e.mustScrape(t).vendorSeries(); got != series {
		t.Errorf("%d vendor series just before the TTL, want %d", got, series)
	}

	clock.Advance(time.Second)
	gone := e.mustScrape(t)
	if got := gone.vendorSeries(); got != 0 {
		t.Errorf("%d vendor series once the TTL has passed, want 0", got)
	}
	if got := gone.get("acqueon_exporter_series"); got != 0 {
		t.Errorf("acqueon_exporter_series %v once the TTL has passed, want 0", got)
	}
	if got := gone.get("acqueon_exporter_last_message_timestamp_seconds"); got != lastMessage {
		t.Errorf("acqueon_exporter_last_message_timestamp_seconds %v once the TTL has passed, want %v: "+
			"it tells how old the last data is", got, lastMessage)
	}
	if gone.get("acqueon_up") != 0 {
		t.Error("acqueon_up is not 0 during the outage")
	}

	f.up(t)
	back := e.checkRecovered(t, time.Now())
	if got := back.vendorSeries(); got != series {
		t.Errorf("%d vendor series after the feed came back, want %d", got, series)
	}
}
