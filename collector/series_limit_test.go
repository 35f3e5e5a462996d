package collector

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// queueEntry is a queue of the default mapping that makes 6 series.
func queueEntry(i, waiting int) string {
	return fmt.Sprintf(`{"QueueId": "q%05d", "QueueName": "Q%05d", "CallsWaiting": %d, "LongestWaitTime": 2,
		"ServiceLevel": 3, "CallsOffered": 4, "CallsAnswered": 5, "CallsAbandoned": 6}`, i, i, waiting)
}

// queuesFrame is a metric message whose Queues list holds the queues
// numbered by order, in that order.
func queuesFrame(order []int, extra ...string) []byte {
	entries := make([]string, 0, len(order)+len(extra))
	for _, i := range order {
		entries = append(entries, queueEntry(i, 1))
	}
	entries = append(entries, extra...)
	return metricsFrame(`{"Queues": [` + strings.Join(entries, ",") + `]}`)
}

func TestMaxSeriesKeepsTheFirstInLabelOrderOfAMessageFarOverIt(t *testing.T) {
	const queues, kept = 5000, 5
	ascending := make([]int, queues)
	for i := range ascending {
		ascending[i] = i
	}
	descending := make([]int, queues)
	for i := range descending {
		descending[i] = queues - 1 - i
	}
	shuffled := append([]int(nil), ascending...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })

	for name, order := range map[string][]int{"ascending": ascending, "descending": descending, "shuffled": shuffled} {
		t.Run(name, func(t *testing.T) {
			c, _ := newCollector(t, Options{MaxSeries: kept * 6})
			// The last entry repeats a queue that is kept: it wins.
			c.HandleFrame(queuesFrame(order, queueEntry(2, 9)), t0)

			got := exposition(t, c, "acqueon_queue_calls_waiting", "acqueon_exporter_dropped_series_total",
				"acqueon_exporter_series")
			want := []string{
				fmt.Sprintf(`acqueon_exporter_dropped_series_total{message_type="AEPerformanceMetrics"} %d`, (queues-kept)*6),
				fmt.Sprintf("acqueon_exporter_series %d", kept*6),
			}
			for i := range kept {
				waiting := 1
				if i == 2 {
					waiting = 9
				}
				want = append(want, fmt.Sprintf(`acqueon_queue_calls_waiting{queue="Q%05d",queue_id="q%05d"} %d`, i, i, waiting))
			}
			for _, line := range want {
				if !strings.Contains(got, line+"\n") {
					t.Errorf("want %s in\n%s", line, got)
				}
			}
			if n := strings.Count(got, "acqueon_queue_calls_waiting{"); n != kept {
				t.Errorf("%d queues exported, want %d:\n%s", n, kept, got)
			}
		})
	}
}

func TestAMessageFarOverMaxSeriesLeavesNoLargeArraysBehind(t *testing.T) {
	const queues = 50_000
	c, _ := newCollector(t, Options{MaxSeries: 600})
	gatherer := c.Gatherer(nil)
	scrape := func() {
		_, done, err := gatherer.Gather()
		if err != nil {
			t.Fatal(err)
		}
		done()
	}
	order := make([]int, queues)
	for i := range order {
		order[i] = queues - 1 - i
	}
	c.HandleFrame(queuesFrame(order), t0)
	scrape()

	// Smaller messages, whose values keep changing.
	for i := range 3 {
		c.HandleFrame(queuesFrame([]int{queues + i}), t0)
		scrape()
	}

	const bound = 4 * minSpare
	snap := c.snapshot.Load()
	var st *sectionState
	var p *sectionPlan
	for i, s := range snap.sections {
		if s != nil {
			st, p = s, snap.plan.sections[i]
		}
	}
	if st == nil || st.entities != 1 {
		t.Fatalf("want one queue held, got %+v", st)
	}
	d := p.dec
	for what, size := range map[string]int{
		"snapshot label values": cap(st.labels),
		"snapshot samples":      cap(st.values),
		"keys":                  d.byKeyPeak,
		"entity order":          cap(d.order),
		"ranks":                 cap(d.rank),
		"series counts":         cap(d.counts),
	} {
		if size > bound {
			t.Errorf("%s: room for %d kept after a message of %d queues", what, size, queues)
		}
	}
	for slot, cache := range d.cache {
		if cache.peak > bound {
			t.Errorf("label cache of %s: %d values kept", p.slotNames[slot], cache.peak)
		}
	}
	x := c.getExposition()
	defer c.putExposition(x)
	if cap(x.metrics) > bound || cap(x.pairs) > bound || cap(x.labels) > bound {
		t.Errorf("the Gatherer keeps room for %d series, %d label pairs, %d labels",
			cap(x.metrics), cap(x.pairs), cap(x.labels))
	}
}
