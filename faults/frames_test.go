package faults

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

// metricFrame is an AEPerformanceMetrics envelope with data as it is,
// which may be any text, JSON or not.
func metricFrame(data string) []byte {
	return []byte(`{"Sender":"ATIRealTimeService","Receiver":"x","MessageType":"AEPerformanceMetrics","Data":` +
		data + `}`)
}

func TestBadFramesAreCountedAndTheSessionStays(t *testing.T) {
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	cases := []struct {
		name   string
		typ    int
		frame  []byte
		reason string
	}{
		{"not JSON", websocket.TextMessage, []byte("this is not JSON at all"), "malformed"},
		{"binary", websocket.BinaryMessage, []byte{0x00, 0xff, 0x7b, 0x22}, "malformed"},
		{"truncated JSON", websocket.TextMessage, metricFrame(`"{\"Campaigns\": [{\"CampaignId\": \"1`)[:60], "malformed"},
		{"Data string holding broken JSON", websocket.TextMessage, metricFrame(`"{\"Campaigns\": [{\"CampaignId\": "`), "malformed"},
		{"deeply nested frame", websocket.TextMessage, []byte(deep), "malformed"},
		{"deeply nested Data", websocket.TextMessage, metricFrame(deep), "malformed"},
		{"deeply nested Data string", websocket.TextMessage, metricFrame(`"` + deep + `"`), "malformed"},
		{"deeply nested field", websocket.TextMessage,
			metricFrame(`{"Campaigns": [{"CampaignId": "9", "ActiveCalls": ` + deep + `}]}`), "malformed"},
		{"Data not an object", websocket.TextMessage, metricFrame(`"[1, 2, 3]"`), "mapping"},
		{"section not a list", websocket.TextMessage, metricFrame(`{"Campaigns": {"CampaignId": "9"}}`), "mapping"},
	}
	f, e, before := connected(t, feedOptions{}, exporterOptions{})
	s := e.scrapeDuring()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			was := e.mustScrape(t).get("acqueon_exporter_message_errors_total", "reason", tc.reason)
			if n := f.sim.Send(tc.typ, tc.frame); n != 1 {
				t.Fatalf("sent to %d sessions, want 1", n)
			}
			e.waitMetrics(t, "the frame counted as "+tc.reason, waitTimeout, func(m metrics) bool {
				return m.get("acqueon_exporter_message_errors_total", "reason", tc.reason) == was+1
			})
		})
	}
	s.check(t)

	after := e.mustScrape(t)
	if after.get("acqueon_up") != 1 || after.get("acqueon_exporter_reconnects_total") != before.get("acqueon_exporter_reconnects_total") {
		t.Errorf("bad frames ended the session: acqueon_up %v, reconnects %v (before %v)",
			after.get("acqueon_up"), after.get("acqueon_exporter_reconnects_total"),
			before.get("acqueon_exporter_reconnects_total"))
	}
	if after.vendorSeries() != before.vendorSeries() {
		t.Errorf("vendor series went from %d to %d: a bad frame changed the snapshot",
			before.vendorSeries(), after.vendorSeries())
	}
	checkHeap(t)
}

func TestOutOfRangeAndNonNumericValuesGiveNoSample(t *testing.T) {
	f, e, _ := connected(t, feedOptions{}, exporterOptions{})
	values := []string{`1e400`, `-1e400`, `"NaN"`, `"Infinity"`, `"-Infinity"`, `"1e400"`, `"0x10"`}
	for _, v := range values {
		t.Run(v, func(t *testing.T) {
			was := e.mustScrape(t).get("acqueon_exporter_invalid_values_total", "message_type", "AEPerformanceMetrics")
			f.setPayload([]byte(`{"Campaigns": [{"CampaignId": "101", "CampaignName": "East", "Status": "Running",
				"ActiveCalls": ` + v + `, "Attempts": 5}]}`))
			m := e.waitMetrics(t, "the invalid value counted", waitTimeout, func(m metrics) bool {
				return m.get("acqueon_exporter_invalid_values_total", "message_type", "AEPerformanceMetrics") > was
			})
			if v, ok := m.value("acqueon_campaign_active_calls", "campaign_id", "101"); ok {
				t.Errorf("acqueon_campaign_active_calls has a sample %v from an invalid value", v)
			}
			if got := m.get("acqueon_campaign_dial_attempts_total", "campaign_id", "101"); got != 5 {
				t.Errorf("the valid field of the same campaign gave %v, want 5", got)
			}
			for name, fam := range m {
				for _, s := range fam.GetMetric() {
					v := s.GetGauge().GetValue() + s.GetCounter().GetValue() + s.GetUntyped().GetValue()
					if math.IsNaN(v) || math.IsInf(v, 0) {
						t.Errorf("%s has a non-finite sample %v", name, v)
					}
				}
			}
		})
	}
}

func TestOversizedFrameIsCountedAndTheSessionReconnects(t *testing.T) {
	f, e, before := connected(t, feedOptions{}, exporterOptions{client: func(c *wsclient.Config) {
		c.ReadLimit = 256 << 10
	}})
	s := e.scrapeDuring()
	big := metricFrame(`"` + strings.Repeat("x", 512<<10) + `"`)
	if n := f.sim.Send(websocket.TextMessage, big); n != 1 {
		t.Fatalf("sent to %d sessions, want 1", n)
	}
	sent := time.Now()
	e.waitMetrics(t, "a too_large frame counted", waitTimeout, func(m metrics) bool {
		return m.get("acqueon_exporter_message_errors_total", "reason", "too_large") == 1
	})
	e.waitLog(t, "disconnected from the feed", "read limit")
	after := e.checkRecovered(t, sent)
	s.check(t)
	if got := after.get("acqueon_exporter_reconnects_total"); got != before.get("acqueon_exporter_reconnects_total")+1 {
		t.Errorf("reconnects_total %v, want %v", got, before.get("acqueon_exporter_reconnects_total")+1)
	}
	checkHeap(t)
}

func TestFloodOfTinyFramesIsKeptUpWith(t *testing.T) {
	const frames = 100_000
	f, e, before := connected(t, feedOptions{}, exporterOptions{})
	s := e.scrapeDuring()
	frame := []byte(`{"MessageType":"Heartbeat","Data":""}`)
	start := time.Now()
	for i := range frames {
		if n := f.sim.Send(websocket.TextMessage, frame); n != 1 {
			t.Fatalf("frame %d reached %d sessions, want 1", i, n)
		}
	}
	m := e.waitMetrics(t, "every frame counted", waitTimeout, func(m metrics) bool {
		return m.get("acqueon_exporter_messages_total", "message_type", "Heartbeat") == frames
	})
	t.Logf("%d frames taken in %s", frames, time.Since(start).Round(time.Millisecond))
	s.check(t)
	if m.get("acqueon_up") != 1 || m.get("acqueon_exporter_reconnects_total") != before.get("acqueon_exporter_reconnects_total") {
		t.Errorf("the flood ended the session")
	}
	checkHeap(t)
}
