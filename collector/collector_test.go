package collector

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestSampleMessageBecomesEveryMetric(t *testing.T) {
	payload := readTestdata(t, "sample_payload.json")
	frames := map[string][]byte{
		"Data as a JSON string": metricsFrame(payload),
		"Data as an object":     objectFrame("AEPerformanceMetrics", payload),
	}
	for name, frame := range frames {
		t.Run(name, func(t *testing.T) {
			c, _ := newCollector(t, Options{})
			c.HandleFrame(frame, t0)
			// The session may reuse the frame's memory once HandleFrame returns.
			for i := range frame {
				frame[i] = 'x'
			}
			compareGolden(t, c, "sample.prom")
		})
	}
}

func TestNumericStringsAreNumbers(t *testing.T) {
	// Every number of the sample as a string: the same metrics result.
	payload := regexp.MustCompile(`: (-?[0-9][0-9.]*)`).ReplaceAllString(readTestdata(t, "sample_payload.json"), `: "$1"`)
	if !strings.Contains(payload, `"TotalRecords": "50000"`) {
		t.Fatalf("numbers not quoted: %s", payload)
	}
	c, _ := newCollector(t, Options{})
	c.HandleFrame(metricsFrame(payload), t0)
	compareGolden(t, c, "sample.prom")
}

func TestNullAndEmptyFieldsGiveNoSample(t *testing.T) {
	c, _ := newCollector(t, Options{})
	c.HandleFrame(metricsFrame(`{"Campaigns": [
		{"CampaignId": "101", "CampaignName": "Collections East", "Status": "",
		 "TotalRecords": null, "RecordsRemaining": "", "AvgHandleTime": " ",
		 "Attempts": 0, "ActiveCalls": "0", "BusinessHourOpen": false}]}`), t0)
	compareGolden(t, c, "null_and_empty.prom")
}

func TestPresentSectionReplacesAndAbsentSectionKeeps(t *testing.T) {
	c, _ := newCollector(t, Options{})
	c.HandleFrame(metricsFrame(`{
		"Campaigns": [{"CampaignId": "101", "CampaignName": "East", "ActiveCalls": 5},
		              {"CampaignId": "102", "CampaignName": "West", "ActiveCalls": 7}],
		"Queues": [{"QueueId": "7", "QueueName": "Billing", "CallsWaiting": 3}]}`), t0)
	c.HandleFrame(metricsFrame(`{
		"Campaigns": [{"CampaignId": "102", "CampaignName": "West", "ActiveCalls": 8}]}`), t0.Add(time.Second))
	compareGolden(t, c, "replace_and_keep.prom",
		"acqueon_campaign_active_calls", "acqueon_queue_calls_waiting", "acqueon_exporter_series")
}

func TestEmptySectionRemovesAllItsEntities(t *testing.T) {
	c, _ := newCollector(t, Options{})
	c.HandleFrame(metricsFrame(`{"Queues": [{"QueueId": "7", "QueueName": "Billing", "CallsWaiting": 3}]}`), t0)
	c.HandleFrame(metricsFrame(`{"Queues": []}`), t0)
	if got := exposition(t, c, "acqueon_queue_calls_waiting"); got != "" {
		t.Errorf("queue still exported after an empty Queues section:\n%s", got)
	}
}

func TestEntitiesExpireAfterTTL(t *testing.T) {
	c, clk := newCollector(t, Options{EntityTTL: 5 * time.Minute})
	c.HandleFrame(metricsFrame(`{
		"Campaigns": [{"CampaignId": "101", "CampaignName": "East", "ActiveCalls": 5}],
		"Queues": [{"QueueId": "7", "QueueName": "Billing", "CallsWaiting": 3}]}`), t0)
	// Only Queues is sent again: it lives on, the campaign ages.
	c.HandleFrame(metricsFrame(`{"Queues": [{"QueueId": "7", "QueueName": "Billing", "CallsWaiting": 4}]}`),
		t0.Add(3*time.Minute))

	clk.Set(t0.Add(5*time.Minute - time.Millisecond))
	compareGolden(t, c, "ttl_before.prom",
		"acqueon_campaign_active_calls", "acqueon_queue_calls_waiting", "acqueon_exporter_series")

	clk.Set(t0.Add(5 * time.Minute))
	compareGolden(t, c, "ttl_after.prom",
		"acqueon_campaign_active_calls", "acqueon_queue_calls_waiting", "acqueon_exporter_series")

	// The next message prunes the expired section from the snapshot.
	c.HandleFrame(metricsFrame(`{}`), clk.Now())
	if st := c.snapshot.Load().sections[0]; st != nil {
		t.Errorf("expired campaigns still held: %d entities", st.entities)
	}
}

func TestUnusableFramesAreCountedAndChangeNothing(t *testing.T) {
	cases := []struct {
		name   string
		frame  []byte
		reason string
	}{
		{"frame not JSON", []byte(`{"MessageType": "AEPerformanceMetrics", "Data": `), ReasonMalformed},
		{"frame without MessageType", []byte(`{"Data": "{}"}`), ReasonMalformed},
		{"Data string not JSON", metricsFrame(`{"Campaigns": [`), ReasonMalformed},
		{"Data neither string nor object", []byte(`{"MessageType": "AEPerformanceMetrics", "Data": 12}`), ReasonMapping},
		{"Data a list", metricsFrame(`[1, 2]`), ReasonMapping},
		{"section not a list", metricsFrame(`{"Queues": [], "Campaigns": {"CampaignId": "101"}}`), ReasonMapping},
		{"section a list of numbers", metricsFrame(`{"Campaigns": [1]}`), ReasonMapping},
		{"section holds null", metricsFrame(`{"Campaigns": [null]}`), ReasonMapping},
		{"entity without key", metricsFrame(`{"Queues": [], "Campaigns": [{"CampaignName": "East"}]}`), ReasonMapping},
		{"entity with an object key", metricsFrame(`{"Campaigns": [{"CampaignId": {"a": 1}}]}`), ReasonMapping},
		{"second section broken", metricsFrame(`{"Queues": [], "Agents": "none"}`), ReasonMapping},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newCollector(t, Options{})
			c.HandleFrame(metricsFrame(readTestdata(t, "sample_payload.json")), t0)
			before := exposition(t, c, vendorMetricNames(t)...)

			c.HandleFrame(tc.frame, t0.Add(time.Second))

			if after := exposition(t, c, vendorMetricNames(t)...); after != before {
				t.Errorf("vendor metrics changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			want := fmt.Sprintf(`acqueon_exporter_message_errors_total{reason=%q} 1`, tc.reason)
			if got := exposition(t, c, "acqueon_exporter_message_errors_total"); !strings.Contains(got, want) {
				t.Errorf("want %s in\n%s", want, got)
			}
		})
	}
}

func TestErrorCountersAndDiscardedFrames(t *testing.T) {
	c, _ := newCollector(t, Options{})
	c.HandleFrame([]byte("not json"), t0)
	c.HandleFrame(metricsFrame(`{"Campaigns": 5}`), t0)
	c.DiscardFrame("too_large")
	c.DiscardFrame("malformed")
	compareGolden(t, c, "errors.prom",
		"acqueon_exporter_message_errors_total", "acqueon_exporter_messages_total",
		"acqueon_exporter_last_message_timestamp_seconds")
}

func TestUnmappedFieldsAreCounted(t *testing.T) {
	c, _ := newCollector(t, Options{})
	c.HandleFrame(metricsFrame(`{"Timestamp": 1, "Version": 2, "Extra": {"Deep": [1]},
		"Campaigns": [
			{"CampaignId": "101", "CampaignName": "East", "Colour": "red", "Priority": 3},
			{"CampaignId": "102", "CampaignName": "West", "Colour": "blue"}],
		"Queues": [{"QueueId": "7", "QueueName": "Billing", "Skill": "billing"}]}`), t0)
	// Version and Extra at Data level, Colour twice, Priority, Skill.
	compareGolden(t, c, "unmapped.prom", "acqueon_exporter_unmapped_fields_total")
}

func TestInvalidValuesGiveNoSampleAndAreCounted(t *testing.T) {
	c, _ := newCollector(t, Options{})
	c.HandleFrame(metricsFrame(`{"Campaigns": [{"CampaignId": "101", "CampaignName": ["East"],
		"TotalRecords": "lots", "RecordsRemaining": "NaN", "ActiveCalls": "Inf", "CallbacksDue": "0x10",
		"Attempts": 1e400, "Connects": {"n": 1}, "AgentsReady": "1_000", "CallbacksScheduled": "12 "}]}`), t0)
	compareGolden(t, c, "invalid.prom",
		"acqueon_campaign_records", "acqueon_campaign_records_remaining", "acqueon_campaign_active_calls",
		"acqueon_campaign_callbacks_due", "acqueon_campaign_callbacks_scheduled",
		"acqueon_campaign_dial_attempts_total", "acqueon_campaign_connects_total", "acqueon_campaign_agents",
		"acqueon_exporter_invalid_values_total")
}

func TestAgentNameIsOffByDefault(t *testing.T) {
	frame := metricsFrame(readTestdata(t, "sample_payload.json"))

	off, _ := newCollector(t, Options{})
	off.HandleFrame(frame, t0)
	compareGolden(t, off, "agent_name_off.prom", "acqueon_agent_state", "acqueon_agent_state_duration_seconds")

	on, _ := newCollector(t, Options{OptionalLabels: []string{"agent"}})
	on.HandleFrame(frame, t0)
	compareGolden(t, on, "agent_name_on.prom", "acqueon_agent_state", "acqueon_agent_state_duration_seconds")
}

func TestUnknownOptionalLabelIsRefused(t *testing.T) {
	_, err := New(Options{OptionalLabels: []string{"agent_name"}})
	if err == nil || !strings.Contains(err.Error(), `"agent_name"`) {
		t.Fatalf("New with an unknown optional label: err = %v", err)
	}
}

func TestUnknownMessageTypesAreCountedAndIgnored(t *testing.T) {
	c, _ := newCollector(t, Options{})
	c.HandleFrame(stringFrame("OpenID", "0123456789abcdef0123456789abcdef"), t0)
	c.HandleFrame(stringFrame("Heartbeat", `{"Campaigns": [{"CampaignId": "1", "ActiveCalls": 3}]}`), t0)
	c.HandleFrame(stringFrame("Heartbeat", "x"), t0)
	compareGolden(t, c, "unknown_type.prom",
		"acqueon_exporter_messages_total", "acqueon_exporter_message_errors_total",
		"acqueon_campaign_active_calls", "acqueon_exporter_series")
}

func TestMessageTypeLabelIsCapped(t *testing.T) {
	c, _ := newCollector(t, Options{})
	for i := range maxMessageTypes + 10 {
		c.HandleFrame(stringFrame(fmt.Sprintf("Notice%02d", i), ""), t0)
	}
	c.HandleFrame(stringFrame(strings.Repeat("L", maxCappedLabelLen+1), ""), t0)
	c.HandleFrame(metricsFrame(`{}`), t0)

	got := exposition(t, c, "acqueon_exporter_messages_total")
	for _, want := range []string{
		`acqueon_exporter_messages_total{message_type="Notice00"} 1`,
		fmt.Sprintf(`acqueon_exporter_messages_total{message_type="Notice%02d"} 1`, maxMessageTypes-1),
		`acqueon_exporter_messages_total{message_type="other"} 11`,
		`acqueon_exporter_messages_total{message_type="AEPerformanceMetrics"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %s in\n%s", want, got)
		}
	}
	if strings.Contains(got, fmt.Sprintf(`"Notice%02d"`, maxMessageTypes)) {
		t.Errorf("type past the cap has its own series:\n%s", got)
	}
}

func TestStatusGivesOneSeriesPerKnownValue(t *testing.T) {
	c, _ := newCollector(t, Options{})
	c.HandleFrame(metricsFrame(`{"Campaigns": [
		{"CampaignId": "101", "CampaignName": "East", "Status": "Paused"},
		{"CampaignId": "102", "CampaignName": "West", "Status": "OnHold"}]}`), t0)
	compareGolden(t, c, "status.prom", "acqueon_campaign_status")
}

func TestRepeatedKeyKeepsTheLaterEntity(t *testing.T) {
	c, _ := newCollector(t, Options{})
	c.HandleFrame(metricsFrame(`{"Campaigns": [
		{"CampaignId": "101", "CampaignName": "East", "ActiveCalls": 1},
		{"CampaignId": 102, "CampaignName": "West", "ActiveCalls": 2},
		{"CampaignId": "101", "CampaignName": "East", "ActiveCalls": 3}]}`), t0)
	compareGolden(t, c, "repeated_key.prom", "acqueon_campaign_active_calls")
}

// vendorMetricNames returns the metric names of the default mapping.
func vendorMetricNames(t *testing.T) []string {
	t.Helper()
	m, err := LoadMapping("")
	if err != nil {
		t.Fatal(err)
	}
	return m.MetricNames()
}

func TestMessageTypeWithoutSectionsCountsItsFieldsUnmapped(t *testing.T) {
	m, err := ParseMapping("heartbeat.yml", []byte(validMapping+"  Heartbeat:\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newCollector(t, Options{Mapping: m})
	c.HandleFrame(stringFrame("Heartbeat", `{"Sequence": 4, "Load": {"Cpu": 1}}`), t0)
	got := exposition(t, c, "acqueon_exporter_unmapped_fields_total")
	if want := `acqueon_exporter_unmapped_fields_total{message_type="Heartbeat"} 2`; !strings.Contains(got, want) {
		t.Errorf("want %s in\n%s", want, got)
	}
}
