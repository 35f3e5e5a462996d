package collector

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestScrapeDuringIngestSeesWholeMessages alternates two messages that
// differ in every section while several scrapes run: each scrape must see
// all of one message and nothing of the other.
func TestScrapeDuringIngestSeesWholeMessages(t *testing.T) {
	messages := []string{
		`{"Campaigns": [{"CampaignId": "101", "CampaignName": "A", "AgentsReady": 1, "AgentsTalking": 9},
		                {"CampaignId": "102", "CampaignName": "A", "AgentsReady": 5, "AgentsTalking": 5}],
		  "Queues": [{"QueueId": "7", "QueueName": "A", "CallsWaiting": 1}]}`,
		`{"Campaigns": [{"CampaignId": "103", "CampaignName": "B", "AgentsReady": 9, "AgentsTalking": 1}],
		  "Queues": [{"QueueId": "7", "QueueName": "B", "CallsWaiting": 2},
		             {"QueueId": "8", "QueueName": "B", "CallsWaiting": 2}]}`,
	}
	frames := [][]byte{metricsFrame(messages[0]), metricsFrame(messages[1])}
	want := []string{
		"campaigns=101,102 queues=7 agents=20 waiting=1 names=A",
		"campaigns=103 queues=7,8 agents=10 waiting=4 names=B",
	}

	c, _ := newCollector(t, Options{})
	c.HandleFrame(frames[0], t0)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)

	done := make(chan struct{})
	var wg sync.WaitGroup
	seen := make([]map[string]int, 4)
	for i := range seen {
		seen[i] = map[string]int{}
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				families, err := reg.Gather()
				if err != nil {
					t.Errorf("gather: %v", err)
					return
				}
				seen[i][summarize(families)]++
			}
		})
	}
	for i := range 1000 {
		c.HandleFrame(frames[i%2], t0.Add(time.Duration(i)*time.Millisecond))
	}
	close(done)
	wg.Wait()

	for _, counts := range seen {
		for summary, n := range counts {
			if !slices.Contains(want, summary) {
				t.Errorf("a scrape saw a mix of messages %d times: %s", n, summary)
			}
		}
	}
}

// summarize reduces a scrape to what tells the two messages apart.
func summarize(families []*dto.MetricFamily) string {
	var campaigns, queues []string
	names := map[string]bool{}
	agents, waiting := 0.0, 0.0
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			switch mf.GetName() {
			case "acqueon_campaign_agents":
				if labels["state"] == "ready" || labels["state"] == "talking" {
					agents += m.GetGauge().GetValue()
				}
				campaigns = append(campaigns, labels["campaign_id"])
				names[labels["campaign"]] = true
			case "acqueon_queue_calls_waiting":
				waiting += m.GetGauge().GetValue()
				queues = append(queues, labels["queue_id"])
				names[labels["queue"]] = true
			}
		}
	}
	sort.Strings(campaigns)
	nameList := make([]string, 0, len(names))
	for n := range names {
		nameList = append(nameList, n)
	}
	sort.Strings(nameList)
	return fmt.Sprintf("campaigns=%s queues=%s agents=%g waiting=%g names=%s",
		strings.Join(slices.Compact(campaigns), ","), strings.Join(queues, ","), agents, waiting,
		strings.Join(nameList, ","))
}
