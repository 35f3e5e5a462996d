package collector

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// familySet holds the vendor metric families of one scrape in the form
// the Prometheus encoders take. Everything is carved out of a few arrays,
// which a Gatherer reuses from one scrape to the next; label values and
// samples are not copied but pointed to in the snapshot, which never
// changes.
type familySet struct {
	families   []dto.MetricFamily
	familyPtrs []*dto.MetricFamily
	metrics    []dto.Metric
	metricPtrs []*dto.Metric
	gauges     []dto.Gauge
	counters   []dto.Counter
	labels     []*dto.LabelPair
	pairs      []dto.LabelPair
	// descs holds the desc of each family, for Collect.
	descs []*prometheus.Desc
	// series is how many series the families hold.
	series int
}

// resize makes s hold n elements, reusing its array when it is big enough
// but not far bigger, so that a scrape does not keep arrays that only a
// larger snapshot needed. The n elements are overwritten before use, so
// they are not cleared; those past them are, so that they keep no old
// snapshot alive.
func resize[T any](s []T, n int) []T {
	if cap(s) < n || cap(s) > 2*n+minSpare {
		return make([]T, n)
	}
	clear(s[n:cap(s)])
	return s[:n]
}

// expose fills x with the series of every section of snap that is live at
// now, family by family in name order, each in the order ingest worked
// out for it.
func (c *Collector) expose(x *familySet, snap *snapshot, now time.Time) {
	pl := snap.plan
	live := make([]bool, len(snap.sections))
	pairBase := make([]int, len(snap.sections))
	series, labelRefs, pairs, counters := 0, 0, 0, 0
	for i, st := range snap.sections {
		if !st.live(now, c.ttl) {
			continue
		}
		live[i] = true
		pairBase[i] = pairs
		pairs += st.entities * pl.sections[i].slots
		series += st.series
		labelRefs += st.labelRefs
		for fi, f := range pl.sections[i].families {
			if pl.families[f.family].typ == dto.MetricType_COUNTER {
				counters += len(st.families[fi])
			}
		}
	}
	x.metrics = resize(x.metrics, series)
	x.metricPtrs = resize(x.metricPtrs, series)
	x.counters = resize(x.counters, counters)
	x.gauges = resize(x.gauges, series-counters)
	x.labels = resize(x.labels, labelRefs)
	x.pairs = resize(x.pairs, pairs)
	x.families = resize(x.families, len(pl.families))
	x.familyPtrs = x.familyPtrs[:0]
	x.descs = x.descs[:0]

	// One label pair per label slot of every entity, shared by all the
	// entity's series.
	for i, st := range snap.sections {
		if !live[i] {
			continue
		}
		p := pl.sections[i]
		pairs := x.pairs[pairBase[i] : pairBase[i]+st.entities*p.slots]
		for k := range pairs {
			pairs[k] = dto.LabelPair{Name: &p.slotNames[k%p.slots], Value: &st.labels[k]}
		}
	}

	b := builder{x: x, c: c}
	for fi, f := range pl.families {
		first := b.metric
		for _, part := range f.parts {
			st := snap.sections[part.section]
			if live[part.section] {
				b.appendPart(pl.sections[part.section], st, st.families[part.local], pairBase[part.section], f.typ)
			}
		}
		if b.metric == first {
			// No series: drop what an earlier scrape left here.
			x.families[fi] = dto.MetricFamily{}
			continue
		}
		metrics := x.metricPtrs[first:b.metric:b.metric]
		if len(f.parts) > 1 {
			metrics = sortMetrics(metrics)
			b.metric = first + len(metrics)
		}
		x.families[fi] = dto.MetricFamily{Name: &f.name, Help: &f.help, Type: &f.typ, Metric: metrics}
		x.familyPtrs = append(x.familyPtrs, &x.families[fi])
		x.descs = append(x.descs, f.desc)
	}
	x.series = b.metric
}

// builder fills an exposition series by series.
type builder struct {
	x                      *familySet
	c                      *Collector
	metric, label, counter int
	gauge                  int
}

// appendPart adds the series of one family that one section holds.
func (b *builder) appendPart(p *sectionPlan, st *sectionState, refs []seriesRef, pairBase int, typ dto.MetricType) {
	x := b.x
	for _, r := range refs {
		m := &p.metrics[r.metric]
		entityPairs := pairBase + int(r.entity)*p.slots
		labels := x.labels[b.label : b.label+len(m.sources) : b.label+len(m.sources)]
		b.label += len(m.sources)
		for i, src := range m.sources {
			switch {
			case i == m.statePos && int(r.state) < len(m.statePairs):
				labels[i] = m.statePairs[r.state]
			case src.slot < 0:
				labels[i] = m.pairs[i]
			default:
				labels[i] = &x.pairs[entityPairs+src.slot]
			}
		}

		var value *float64
		switch {
		case r.state < 0:
			value = &st.values[int(r.entity)*len(p.metrics)+int(r.metric)]
		case int(r.state) < len(m.statePairs) &&
			st.labels[int(r.entity)*p.slots+m.stateSlot] != m.rule.state.known[r.state]:
			value = &b.c.zero
		default:
			value = &b.c.one
		}

		metric := &x.metrics[b.metric]
		if typ == dto.MetricType_COUNTER {
			x.counters[b.counter] = dto.Counter{Value: value}
			*metric = dto.Metric{Label: labels, Counter: &x.counters[b.counter]}
			b.counter++
		} else {
			x.gauges[b.gauge] = dto.Gauge{Value: value}
			*metric = dto.Metric{Label: labels, Gauge: &x.gauges[b.gauge]}
			b.gauge++
		}
		x.metricPtrs[b.metric] = metric
		b.metric++
	}
}

// sortMetrics sorts the series of a family fed by several sections, as a
// registry does, and drops repeats.
func sortMetrics(metrics []*dto.Metric) []*dto.Metric {
	compare := func(a, b *dto.Metric) int {
		for i, l := range a.Label {
			if c := strings.Compare(l.GetValue(), b.Label[i].GetValue()); c != 0 {
				return c
			}
		}
		return 0
	}
	slices.SortStableFunc(metrics, compare)
	return slices.CompactFunc(metrics, func(a, b *dto.Metric) bool { return compare(a, b) == 0 })
}

// builtMetric is one series of an exposition as a prometheus.Metric.
type builtMetric struct {
	desc   *prometheus.Desc
	metric *dto.Metric
}

// Desc returns the metric's desc.
func (m *builtMetric) Desc() *prometheus.Desc { return m.desc }

// Write shares the series' parts, which nothing changes, with out.
func (m *builtMetric) Write(out *dto.Metric) error {
	out.Label, out.Gauge, out.Counter = m.metric.Label, m.metric.Gauge, m.metric.Counter
	return nil
}

// collectVendor sends the series of every live section of the snapshot
// and returns how many it sent. The registry keeps what it is sent, so
// the exposition is a fresh one.
func (c *Collector) collectVendor(ch chan<- prometheus.Metric) int {
	var x familySet
	c.expose(&x, c.snapshot.Load(), c.now())
	metrics := make([]builtMetric, 0, x.series)
	for i, f := range x.familyPtrs {
		for _, m := range f.Metric {
			metrics = append(metrics, builtMetric{desc: x.descs[i], metric: m})
			ch <- &metrics[len(metrics)-1]
		}
	}
	return x.series
}

// maxIdleExpositions is how many expositions a Collector keeps for reuse:
// one per scrape that runs at the same time, as with two Prometheus
// servers of a high-availability pair.
const maxIdleExpositions = 2

func (c *Collector) getExposition() *familySet {
	c.idleMu.Lock()
	defer c.idleMu.Unlock()
	if n := len(c.idle); n > 0 {
		x := c.idle[n-1]
		c.idle = c.idle[:n-1]
		return x
	}
	return &familySet{}
}

func (c *Collector) putExposition(x *familySet) {
	c.idleMu.Lock()
	defer c.idleMu.Unlock()
	if len(c.idle) < maxIdleExpositions {
		c.idle = append(c.idle, x)
	}
}

// ErrGatheredTwice is reported by the Gatherer for a metric family that
// both the registry and the collector gather; the registry's is served.
var ErrGatheredTwice = errors.New("metric family gathered twice")

// Gatherer returns what /metrics should serve: everything reg gathers
// (which must not include the collector itself) together with the
// collector's own metrics and the vendor metrics of the current snapshot.
// Serve it with promhttp.HandlerForTransactional.
//
// It is the fast path for large feeds: the vendor families come straight
// from the snapshot, already in order and free of repeats, into arrays
// reused from one scrape to the next, so a scrape costs little more than
// encoding the response. A registry holding the collector gives the same
// response but checks, hashes and sorts every series on every scrape.
func (c *Collector) Gatherer(reg prometheus.Gatherer) prometheus.TransactionalGatherer {
	return &gatherer{c: c, reg: reg}
}

type gatherer struct {
	c   *Collector
	reg prometheus.Gatherer
}

// Gather returns the merged families; done hands the vendor families'
// memory back for the next scrape, once they have been encoded.
func (g *gatherer) Gather() ([]*dto.MetricFamily, func(), error) {
	var errs []error
	var families []*dto.MetricFamily
	if g.reg != nil {
		regFamilies, err := g.reg.Gather()
		if err != nil {
			errs = append(errs, err)
		}
		families = append(families, regFamilies...)
	}
	own, err := g.c.own.Gather()
	if err != nil {
		errs = append(errs, err)
	}
	families = append(families, own...)

	c := g.c
	x := c.getExposition()
	c.expose(x, c.snapshot.Load(), c.now())
	families = append(families, x.familyPtrs...)
	families = append(families, &dto.MetricFamily{
		Name:   new(seriesMetricName),
		Help:   new(seriesMetricHelp),
		Type:   dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: new(float64(x.series))}}},
	})

	slices.SortStableFunc(families, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	families = slices.CompactFunc(families, func(a, b *dto.MetricFamily) bool {
		if a.GetName() != b.GetName() {
			return false
		}
		errs = append(errs, fmt.Errorf("%w: %s", ErrGatheredTwice, a.GetName()))
		return true
	})
	return families, func() { c.putExposition(x) }, errors.Join(errs...)
}
