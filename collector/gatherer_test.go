package collector

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

// simulatedFrame returns a frame of a simulated tenant, with the feed's
// looser encodings turned on.
func simulatedFrame(campaigns, queues, agents int) []byte {
	tenant := simulator.NewTenant(simulator.TenantConfig{
		Campaigns: campaigns, Queues: queues, Agents: agents, Seed: 7, Quirks: true,
	}, t0)
	return protocol.Encode("Server", "PerformanceMetrics_test_1", simulator.MessageTypeMetrics,
		string(tenant.Payload(t0, 0)))
}

// scrape returns the body of GET /metrics from h.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestGathererServesWhatARegistryWould(t *testing.T) {
	for name, opts := range map[string]Options{
		"default":    {},
		"agent name": {OptionalLabels: []string{"agent"}},
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := newCollector(t, opts)
			c.HandleFrame(simulatedFrame(40, 10, 300), t0)
			// Names that differ only in case after snake_case would collide.
			c.HandleFrame(metricsFrame(`{"Queues": [{"QueueId": "q1", "QueueName": "A", "CallsWaiting": 1},
				{"QueueId": "q2", "QueueName": "B", "CallsWaiting": 2}]}`), t0)

			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(c)
			want := scrape(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			got := scrape(t, promhttp.HandlerForTransactional(c.Gatherer(prometheus.NewRegistry()), promhttp.HandlerOpts{}))
			if got != want {
				t.Errorf("the Gatherer differs from a registry:\n%s", firstDifference(got, want))
			}
			if !strings.Contains(got, `acqueon_agent_state{`) || !strings.Contains(got, `acqueon_campaign_status{`) {
				t.Errorf("vendor metrics missing:\n%.2000s", got)
			}
		})
	}
}

// firstDifference shows the first line where got and want differ.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return "line " + g[i] + "\nwant " + w[i]
		}
	}
	return "lengths differ"
}

func TestGathererMergesTheRegistryAndReportsFamiliesGatheredTwice(t *testing.T) {
	c, _ := newCollector(t, Options{})
	c.HandleFrame(metricsFrame(readTestdata(t, "sample_payload.json")), t0)
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "acqueon_up", Help: "Session up."},
		func() float64 { return 1 }))

	families, done, err := c.Gatherer(reg).Gather()
	defer done()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var text bytes.Buffer
	for _, mf := range families {
		if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"acqueon_up 1", "acqueon_exporter_series 37",
		`acqueon_exporter_messages_total{message_type="AEPerformanceMetrics"} 1`,
		`acqueon_queue_calls_waiting{queue="Billing",queue_id="7"} 3`} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("want %s in\n%s", want, text.String())
		}
	}

	// The collector registered as well: its families come twice.
	reg.MustRegister(c)
	_, done2, err := c.Gatherer(reg).Gather()
	defer done2()
	if !errors.Is(err, ErrGatheredTwice) {
		t.Errorf("gather with the collector registered too: err = %v, want ErrGatheredTwice", err)
	}
}

func TestMaxSeriesKeepsTheFirstEntitiesInLabelOrder(t *testing.T) {
	// A queue makes 6 series when all its fields are present.
	c, _ := newCollector(t, Options{MaxSeries: 6*2 + 1})
	queue := func(id, name string) string {
		return `{"QueueId": "` + id + `", "QueueName": "` + name + `", "CallsWaiting": 1, "LongestWaitTime": 2,
			"ServiceLevel": 3, "CallsOffered": 4, "CallsAnswered": 5, "CallsAbandoned": 6}`
	}
	c.HandleFrame(metricsFrame(`{"Queues": [`+queue("3", "C")+`,`+queue("1", "A")+`,`+queue("2", "B")+`]}`), t0)

	got := exposition(t, c, "acqueon_queue_calls_waiting", "acqueon_exporter_dropped_series_total", "acqueon_exporter_series")
	for _, want := range []string{
		`acqueon_queue_calls_waiting{queue="A",queue_id="1"} 1`,
		`acqueon_queue_calls_waiting{queue="B",queue_id="2"} 1`,
		`acqueon_exporter_dropped_series_total{message_type="AEPerformanceMetrics"} 6`,
		"acqueon_exporter_series 12",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %s in\n%s", want, got)
		}
	}
	if strings.Contains(got, `queue="C"`) {
		t.Errorf("the third queue in label order is exported:\n%s", got)
	}

	// The queues held keep their room: a campaign of 2 series does not fit.
	c.HandleFrame(metricsFrame(`{"Campaigns": [{"CampaignId": "9", "CampaignName": "Z", "ActiveCalls": 1}]}`), t0)
	got = exposition(t, c, "acqueon_campaign_active_calls", "acqueon_exporter_dropped_series_total", "acqueon_exporter_series")
	if strings.Contains(got, `campaign_id="9"`) || !strings.Contains(got, "acqueon_exporter_series 12") ||
		!strings.Contains(got, `acqueon_exporter_dropped_series_total{message_type="AEPerformanceMetrics"} 8`) {
		t.Errorf("want the campaign dropped and counted:\n%s", got)
	}
}

func TestLongLabelValuesAreCutAndCounted(t *testing.T) {
	c, _ := newCollector(t, Options{MaxLabelValueLength: 8})
	c.HandleFrame(metricsFrame(`{"Queues": [{"QueueId": "7", "QueueName": "Bill\u00e9\u00e9\u00e9ing", "CallsWaiting": 3}]}`), t0)
	got := exposition(t, c, "acqueon_queue_calls_waiting", "acqueon_exporter_truncated_label_values_total")
	// "Bill" and three two-byte letters: the cut falls inside the third.
	for _, want := range []string{
		`acqueon_queue_calls_waiting{queue="Bill` + "\u00e9\u00e9" + `",queue_id="7"} 3`,
		`acqueon_exporter_truncated_label_values_total{message_type="AEPerformanceMetrics"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %s in\n%s", want, got)
		}
	}
}

func TestRepeatedDataKeyKeepsTheLastAsEncodingJSONDoes(t *testing.T) {
	c, _ := newCollector(t, Options{})
	c.HandleFrame(metricsFrame(`{"Queues": {"QueueId": "broken"},
		"Queues": [{"QueueId": "7", "QueueName": "Billing", "CallsWaiting": 3}]}`), t0)
	got := exposition(t, c, "acqueon_queue_calls_waiting", "acqueon_exporter_message_errors_total")
	for _, want := range []string{
		`acqueon_queue_calls_waiting{queue="Billing",queue_id="7"} 3`,
		`acqueon_exporter_message_errors_total{reason="mapping"} 0`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %s in\n%s", want, got)
		}
	}
}

func TestEnvelopeKeysMatchAsEncodingJSONMatchesThem(t *testing.T) {
	c, _ := newCollector(t, Options{})
	data := `"{\"Queues\": [{\"QueueId\": \"7\", \"QueueName\": \"Billing\", \"CallsWaiting\": 3}]}"`
	c.HandleFrame([]byte(`{"messagetype": "AEPerformanceMetrics", "DATA": `+data+`}`), t0)
	c.HandleFrame([]byte(`{"MessageType": " AEPerformance\u004detrics ", "Data": `+data+`, "Extra": [1, {"a": null}]}`), t0)
	c.HandleFrame([]byte(`{"MessageType": "AEPerformanceMetrics", "Sender": 5, "Data": `+data+`}`), t0)
	c.HandleFrame([]byte(`{"MessageType": "AEPerformanceMetrics", "Data": `+data+`} x`), t0)
	got := exposition(t, c, "acqueon_exporter_messages_total", "acqueon_exporter_message_errors_total",
		"acqueon_queue_calls_waiting")
	for _, want := range []string{
		`acqueon_exporter_messages_total{message_type="AEPerformanceMetrics"} 2`,
		`acqueon_exporter_message_errors_total{reason="malformed"} 2`,
		`acqueon_queue_calls_waiting{queue="Billing",queue_id="7"} 3`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %s in\n%s", want, got)
		}
	}
}
