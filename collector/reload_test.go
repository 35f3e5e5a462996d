package collector

import (
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// queueOnlyMapping maps the queues of the sample payload under a metric
// name the default mapping does not have, and reads a renamed field.
const queueOnlyMapping = `
messages:
  AEPerformanceMetrics:
    sections:
      - path: Queues
        key: [QueueId]
        labels:
          - {field: QueueId, label: queue_id}
        metrics:
          - name: acqueon_queue_waiting_now
            help: Calls waiting (vendor field Waiting).
            type: gauge
            field: Waiting
`

func mustParse(t *testing.T, name, text string) *Mapping {
	t.Helper()
	m, err := ParseMapping(name, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// gatherUnchecked returns the exposition of the collector registered
// unchecked in a pedantic registry, failing the test on a gather error.
func gatherUnchecked(t *testing.T, c *Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.Unchecked())
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var names []string
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			names = append(names, mf.GetName()+labelText(m.GetLabel()))
		}
	}
	return strings.Join(names, "\n")
}

func labelText[L interface {
	GetName() string
	GetValue() string
}](labels []L) string {
	var b strings.Builder
	for _, l := range labels {
		b.WriteString("," + l.GetName() + "=" + l.GetValue())
	}
	return "{" + strings.TrimPrefix(b.String(), ",") + "}"
}

func TestSetMappingAppliesFromTheNextFrameAndKeepsTheCounters(t *testing.T) {
	c, _ := newCollector(t, Options{})
	payload := readTestdata(t, "sample_payload.json")
	c.HandleFrame(metricsFrame(payload), t0)

	if err := c.SetMapping(mustParse(t, "queues.yml", queueOnlyMapping)); err != nil {
		t.Fatal(err)
	}
	// Until the next frame, the old mapping's series stay.
	before := gatherUnchecked(t, c)
	if !strings.Contains(before, "acqueon_campaign_records_remaining{campaign=") ||
		strings.Contains(before, "acqueon_queue_waiting_now") {
		t.Fatalf("before the next frame:\n%s", before)
	}
	if c.Mapping().Name() != DefaultMappingName {
		t.Errorf("mapping before the next frame: %s", c.Mapping().Name())
	}

	renamed := strings.ReplaceAll(payload, `"CallsWaiting"`, `"Waiting"`)
	c.HandleFrame(metricsFrame(renamed), t0)
	after := gatherUnchecked(t, c)
	if strings.Contains(after, "acqueon_campaign_") || strings.Contains(after, "acqueon_queue_calls_waiting") {
		t.Errorf("series of the old mapping after the next frame:\n%s", after)
	}
	if !strings.Contains(after, `acqueon_queue_waiting_now{queue_id=7}`) {
		t.Errorf("no series of the new mapping:\n%s", after)
	}
	if c.Mapping().Name() != "queues.yml" {
		t.Errorf("mapping after the next frame: %s", c.Mapping().Name())
	}
	// Counters of the exporter's own go on across the swap.
	if got := testutil.ToFloat64(c.messagesTotal.WithLabelValues("AEPerformanceMetrics")); got != 2 {
		t.Errorf("messages_total = %v, want 2", got)
	}
}

func TestSetMappingRefusesAMappingWithoutAnOptionalLabelThatIsOn(t *testing.T) {
	c, _ := newCollector(t, Options{OptionalLabels: []string{"agent"}})
	err := c.SetMapping(mustParse(t, "queues.yml", queueOnlyMapping))
	if err == nil || !strings.Contains(err.Error(), `optional label "agent"`) {
		t.Fatalf("err = %v, want one naming the optional label", err)
	}

	// Nothing changed: the default mapping, agent names on, still reads frames.
	c.HandleFrame(metricsFrame(readTestdata(t, "sample_payload.json")), t0)
	if got := gatherUnchecked(t, c); !strings.Contains(got, "acqueon_agent_state{agent=J. Doe") {
		t.Errorf("the old mapping does not apply:\n%s", got)
	}
}

func TestSetMappingKeepsOptionalLabelsThatAreOn(t *testing.T) {
	c, _ := newCollector(t, Options{OptionalLabels: []string{"agent"}})
	if err := c.SetMapping(mustParse(t, "copy.yml", string(DefaultMapping()))); err != nil {
		t.Fatal(err)
	}
	c.HandleFrame(metricsFrame(readTestdata(t, "sample_payload.json")), t0)
	if got := gatherUnchecked(t, c); !strings.Contains(got, "acqueon_agent_state{agent=J. Doe") {
		t.Errorf("agent label lost with the new mapping:\n%s", got)
	}
}

func TestAPedanticRegistryNeedsTheUncheckedCollectorForNewMetrics(t *testing.T) {
	c, _ := newCollector(t, Options{})
	checked := prometheus.NewPedanticRegistry()
	checked.MustRegister(c)
	if err := c.SetMapping(mustParse(t, "queues.yml", queueOnlyMapping)); err != nil {
		t.Fatal(err)
	}
	c.HandleFrame(metricsFrame(strings.ReplaceAll(readTestdata(t, "sample_payload.json"), `"CallsWaiting"`, `"Waiting"`)), t0)

	// Registered as itself, the new metric's descriptor is unknown to the registry.
	if _, err := checked.Gather(); err == nil || !strings.Contains(err.Error(), "unregistered descriptor") {
		t.Errorf("checked collector: gather err = %v, want an unregistered descriptor", err)
	}
	if got := gatherUnchecked(t, c); !strings.Contains(got, "acqueon_queue_waiting_now") {
		t.Errorf("unchecked collector:\n%s", got)
	}
}

func TestSetMappingRefusesNil(t *testing.T) {
	c, _ := newCollector(t, Options{})
	if err := c.SetMapping(nil); err == nil {
		t.Error("nil mapping accepted")
	}
}

func TestSetMappingWhileFramesAndScrapesRun(t *testing.T) {
	c, _ := newCollector(t, Options{})
	payload := readTestdata(t, "sample_payload.json")
	mappings := []*Mapping{
		mustParse(t, "queues.yml", queueOnlyMapping),
		mustParse(t, "copy.yml", string(DefaultMapping())),
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.Unchecked())

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				c.HandleFrame(metricsFrame(payload), t0)
			}
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				if _, err := reg.Gather(); err != nil {
					t.Errorf("gather: %v", err)
					return
				}
			}
		}
	})
	for i := range 50 {
		if err := c.SetMapping(mappings[i%2]); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestTheGathererServesTheMetricsOfANewMapping(t *testing.T) {
	c, _ := newCollector(t, Options{})
	payload := readTestdata(t, "sample_payload.json")
	c.HandleFrame(metricsFrame(payload), t0)
	if err := c.SetMapping(mustParse(t, "queues.yml", queueOnlyMapping)); err != nil {
		t.Fatal(err)
	}
	c.HandleFrame(metricsFrame(strings.ReplaceAll(payload, `"CallsWaiting"`, `"Waiting"`)), t0)

	families, done, err := c.Gatherer(prometheus.NewPedanticRegistry()).Gather()
	defer done()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range families {
		names = append(names, mf.GetName())
	}
	got := strings.Join(names, " ")
	if !strings.Contains(got, "acqueon_queue_waiting_now") || strings.Contains(got, "acqueon_campaign_") {
		t.Errorf("families after the new mapping: %s", got)
	}
}
