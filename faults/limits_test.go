package faults

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/acqueon-exporter/acqueon_exporter/collector"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

func TestLabelValuesOfManyKilobytesAreCut(t *testing.T) {
	f, e, _ := connected(t, feedOptions{}, exporterOptions{})
	long := strings.Repeat("Collections East ", 8<<10) // 136 KiB
	f.setPayload([]byte(`{"Campaigns": [{"CampaignId": "101", "CampaignName": "` + long + `",
		"CampaignGroupId": "` + long + `", "Status": "` + long + `", "Attempts": 7}]}`))
	s := e.scrapeDuring()

	m := e.waitMetrics(t, "truncated label values counted", waitTimeout, func(m metrics) bool {
		return m.get("acqueon_exporter_truncated_label_values_total", "message_type", "AEPerformanceMetrics") > 0 &&
			m.get("acqueon_campaign_dial_attempts_total", "campaign_id", "101") == 7
	})
	s.check(t)
	for name, fam := range m {
		for _, series := range fam.GetMetric() {
			for _, l := range series.GetLabel() {
				if len(l.GetValue()) > collector.DefaultMaxLabelValueLength {
					t.Errorf("%s{%s} has a value of %d bytes, over the limit of %d",
						name, l.GetName(), len(l.GetValue()), collector.DefaultMaxLabelValueLength)
				}
			}
		}
	}
	resp, err := http.Get(e.web.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(body) > 256<<10 {
		t.Errorf("/metrics is %d KiB for one campaign", len(body)>>10)
	}
	if m.get("acqueon_up") != 1 {
		t.Error("long label values ended the session")
	}
}

// millionCampaigns is a metric message whose Campaigns list holds n tiny
// campaigns.
func millionCampaigns(n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 24)
	b.WriteString(`{"Sender":"ATIRealTimeService","MessageType":"AEPerformanceMetrics","Data":{"Campaigns":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"CampaignId":"c%d"}`, i)
	}
	b.WriteString(`]}}`)
	return b.Bytes()
}

// TestTenantThatSuddenlySendsAMillionEntitiesIsCapped sends one message
// whose Campaigns list holds a million tiny campaigns (a hundred thousand
// under the race detector, which makes ingest ten times slower).
func TestTenantThatSuddenlySendsAMillionEntitiesIsCapped(t *testing.T) {
	if testing.Short() {
		t.Skip("a 23 MB message")
	}
	entities := 1_000_000
	if raceDetector {
		entities = 100_000
	}
	const maxSeries = 10_000
	f, e, before := connected(t, feedOptions{}, exporterOptions{
		client: func(c *wsclient.Config) {
			c.ReadLimit = 64 << 20
			// Reading 25 MB under the race detector on a busy machine.
			c.PingInterval = 2 * time.Second
		},
		collector: func(o *collector.Options) { o.MaxSeries = maxSeries },
	})
	frame := millionCampaigns(entities)
	t.Logf("message of %d entities, %d MB", entities, len(frame)>>20)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapSys
	s := e.scrapeDuring()
	if n := f.sim.Send(websocket.TextMessage, frame); n != 1 {
		t.Fatalf("sent to %d sessions, want 1", n)
	}
	frame = nil

	m := e.waitMetrics(t, "series over the cap dropped and counted", 2*waitTimeout, func(m metrics) bool {
		return m.get("acqueon_exporter_dropped_series_total", "message_type", "AEPerformanceMetrics") > 0
	})
	s.check(t)
	if got := m.get("acqueon_exporter_series"); got > maxSeries {
		t.Errorf("acqueon_exporter_series %v, over the cap of %d", got, maxSeries)
	}
	if got := m.vendorSeries(); got > maxSeries {
		t.Errorf("%d vendor series exported, over the cap of %d", got, maxSeries)
	}
	if m.get("acqueon_up") != 1 || m.get("acqueon_exporter_reconnects_total") != before.get("acqueon_exporter_reconnects_total") {
		t.Error("the message ended the session")
	}

	// The next ordinary message replaces the huge section.
	m = e.waitMetrics(t, "the ordinary payload back", waitTimeout, func(m metrics) bool {
		_, ok := m.value("acqueon_campaign_info", "campaign_id", "101")
		return ok && m.count("acqueon_campaign_info") == 2
	})
	checkHeap(t)
	runtime.ReadMemStats(&ms)
	// The collector keeps no more entities while it reads a section than
	// the cap lets it hold, so the heap grows with the cap and the frame,
	// not with the entities in it. Heap the process already held may take
	// part of the peak, so the growth is a lower bound of it. Were every
	// entity held until the cap applied, it would grow by about 1.9 GiB.
	// HeapSys can also shrink between the two readings; then nothing grew.
	grew := max(int64(ms.HeapSys)-int64(heapBefore), 0)
	t.Logf("heap after the message and a GC: %d MiB; heap obtained from the system grew by %d MiB",
		ms.HeapAlloc>>20, grew>>20)
	if grew > heapLimit {
		t.Errorf("heap obtained from the system grew by %d MiB for one message, over %d MiB", grew>>20, heapLimit>>20)
	}
}
