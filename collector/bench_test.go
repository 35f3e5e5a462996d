package collector

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// largeFrame returns a message of about 100,000 series: 2,000 campaigns of
// 37 series each, 1,000 queues and 10,000 agents.
func largeFrame(b *testing.B) []byte {
	b.Helper()
	var sample struct {
		Campaigns, Queues, Agents []map[string]any
	}
	if err := json.Unmarshal([]byte(readTestdata(b, "sample_payload.json")), &sample); err != nil {
		b.Fatal(err)
	}
	var data strings.Builder
	data.WriteString(`{"Timestamp": 1764770645123`)
	section := func(name, key string, proto map[string]any, n int) {
		fmt.Fprintf(&data, `, %q: [`, name)
		for i := range n {
			proto[key] = fmt.Sprint(i)
			entity, _ := json.Marshal(proto)
			if i > 0 {
				data.WriteByte(',')
			}
			data.Write(entity)
		}
		data.WriteByte(']')
	}
	section("Campaigns", "CampaignId", sample.Campaigns[0], 2000)
	section("Queues", "QueueId", sample.Queues[0], 1000)
	section("Agents", "AgentId", sample.Agents[0], 10000)
	data.WriteByte('}')
	return metricsFrame(data.String())
}

func BenchmarkHandleFrame100kSeries(b *testing.B) {
	frame := largeFrame(b)
	c, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		c.HandleFrame(frame, t0)
	}
}

func BenchmarkGather100kSeries(b *testing.B) {
	c, err := New(Options{Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	c.HandleFrame(largeFrame(b), t0)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	b.ReportMetric(float64(c.collectVendor(make(chan prometheus.Metric, 200000))), "series")
	b.ReportAllocs()
	for b.Loop() {
		families, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		if len(families) < 28 {
			b.Fatalf("%d families", len(families))
		}
	}
}
