package collector

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// hostileFrames are frames a broken or hostile feed might send.
func hostileFrames() [][]byte {
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	deepObject := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	return [][]byte{
		nil,
		[]byte(""),
		[]byte("null"),
		[]byte(`"AEPerformanceMetrics"`),
		[]byte(`[{"MessageType": "AEPerformanceMetrics"}]`),
		[]byte(deep),
		[]byte(`{"MessageType": "AEPerformanceMetrics", "Data": ` + deep + `}`),
		metricsFrame(deep),
		metricsFrame(`{"Campaigns": ` + deep + `}`),
		metricsFrame(`{"Campaigns": [{"CampaignId": "1", "ActiveCalls": ` + deepObject + `}]}`),
		metricsFrame(`{"Campaigns": [{"CampaignId": ` + deepObject + `}]}`),
		metricsFrame(`{"Campaigns": "Campaigns"}`),
		metricsFrame(`"just a string"`),
		metricsFrame(`12`),
		metricsFrame(`{"Campaigns": [{"CampaignId": "1", "CampaignName": {"x": [1]}, "Status": ["Running"],
			"DialingMode": 5, "ActiveCalls": 1e308, "LinesPerAgent": -1e308, "AbandonRate": 1e308,
			"TotalRecords": "1e999999", "Attempts": "-Infinity", "Connects": "nan", "Busy": "+",
			"NoAnswer": "1.2.3", "AgentsReady": "", "AgentsTalking": true, "AgentsWrapUp": "\u0000"}]}`),
		metricsFrame(`{"Campaigns": [{"CampaignId": "\ud800", "CampaignName": "bad \ud83d surrogate"}]}`),
		[]byte("{\"MessageType\": \"AEPerformanceMetrics\", \"Data\": {\"Queues\": [{\"QueueId\": \"q\xff\xfe\", " +
			"\"QueueName\": \"\xc3\x28\"}]}}"),
		[]byte("{\"MessageType\": \"\xff\xfe\", \"Data\": 1}"),
		metricsFrame(`{"Agents": [{"AgentId": 1.5e300, "State": "` + strings.Repeat("Ab", 5000) + `"}]}`),
		metricsFrame(`{"Queues": [{"QueueId": true}, {"QueueId": false}]}`),
		metricsFrame(`{"Queues": [{"QueueId": 7, "CallsWaiting": 123456789012345678901234567890}]}`),
	}
}

// TestHostileFramesNeitherPanicNorBreakScrapes sends every hostile frame,
// then checks that scrapes still succeed and a good message still works.
func TestHostileFramesNeitherPanicNorBreakScrapes(t *testing.T) {
	c, _ := newCollector(t, Options{OptionalLabels: []string{"agent"}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	for _, frame := range hostileFrames() {
		c.HandleFrame(frame, t0)
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("gather after %.80q: %v", frame, err)
		}
	}
	c.HandleFrame(metricsFrame(readTestdata(t, "sample_payload.json")), t0)
	// The agent label is on here, so agent metrics differ from the golden file.
	names := slices.DeleteFunc(vendorMetricNames(t), func(n string) bool { return strings.HasPrefix(n, "acqueon_agent_") })
	compareGolden(t, c, "sample.prom", names...)
}

// FuzzHandleFrame checks that no frame panics ingest or breaks a scrape.
func FuzzHandleFrame(f *testing.F) {
	for _, frame := range hostileFrames() {
		f.Add(frame)
	}
	f.Add(metricsFrame(`{"Campaigns": [{"CampaignId": "1", "Status": "Running", "ActiveCalls": "3"}]}`))
	c, err := New(Options{OptionalLabels: []string{"agent"}})
	if err != nil {
		f.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	f.Fuzz(func(t *testing.T, frame []byte) {
		c.HandleFrame(frame, t0)
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("gather: %v", err)
		}
	})
}
