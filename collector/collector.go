// Package collector turns the feed's metric messages into Prometheus
// metrics. A Mapping (YAML, with an embedded default) says which fields of
// which message become which metrics; the Collector takes frames from the
// session (it is a wsclient.Handler), keeps the latest state of every
// entity in an immutable snapshot that each message replaces whole, and
// builds const metrics from that snapshot at scrape time.
package collector

import (
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultEntityTTL is how long an entity stays exported after the last
// message that carried its section, when Options.EntityTTL is zero.
const DefaultEntityTTL = 5 * time.Minute

// Limits on label values that come from the network rather than from the
// mapping, so that a misbehaving feed cannot grow the exporter's own
// series without bound.
const (
	// maxMessageTypes is how many distinct message types, besides those
	// of the mapping, get their own series; later ones count as "other".
	maxMessageTypes = 32
	// maxDiscardReasons is the same for the reasons of DiscardFrame
	// beyond the known ones.
	maxDiscardReasons = 8
	// maxCappedLabelLen is the longest such value kept as it is.
	maxCappedLabelLen = 64
	// maxLoggedUnmapped bounds the unmapped field names remembered so
	// that each is logged once.
	maxLoggedUnmapped = 256
)

// Reasons of acqueon_exporter_message_errors_total set by the collector.
const (
	// ReasonMalformed is a frame, or the Data inside it, that is not JSON.
	ReasonMalformed = "malformed"
	// ReasonMapping is a payload that is JSON but does not fit the
	// mapping: Data not an object, a section not a list of objects, an
	// entity without its key.
	ReasonMapping = "mapping"
	// reasonTooLarge is the session's reason for a frame over its read
	// limit, listed here only so that its series starts at 0.
	reasonTooLarge = "too_large"
)

// Options configure a Collector.
type Options struct {
	// Mapping says how payloads become metrics; nil means the embedded
	// default.
	Mapping *Mapping
	// EntityTTL is how long an entity stays exported after the last
	// message whose section held it; zero means DefaultEntityTTL.
	EntityTTL time.Duration
	// OptionalLabels names the optional labels of the mapping to turn on,
	// such as "agent" for the agent's name.
	OptionalLabels []string
	// Logger receives the collector's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock for expiry; nil means time.Now.
	Now func() time.Time
}

// Collector is a prometheus.Collector of the feed's metrics and of the
// exporter's own counters about the frames it took. HandleFrame must be
// called from one goroutine at a time; Collect and Describe may run
// concurrently with it and with each other.
type Collector struct {
	mapping  *Mapping
	messages map[string]*messagePlan
	sections []*sectionPlan // the plans of all messages; snapshot index
	descs    []*prometheus.Desc
	maxLabel int // the most labels of any vendor metric
	ttl      time.Duration
	logger   *slog.Logger
	now      func() time.Time

	snapshot atomic.Pointer[snapshot]

	// plans guards mapping, messages, sections, descs and maxLabel, which
	// change only when a mapping from SetMapping is installed (under
	// ingest too); scrapes read-lock it.
	plans sync.RWMutex
	// pending is the collector planned for a mapping that SetMapping
	// accepted and the next frame installs; guarded by ingest.
	pending *Collector

	ingest sync.Mutex // serialises HandleFrame, which swaps the snapshot
	// loggedUnmapped holds the unmapped fields already logged; guarded
	// by ingest.
	loggedUnmapped map[string]bool

	messageTypes  *labelCap
	errorReasons  *labelCap
	messagesTotal *prometheus.CounterVec
	errorsTotal   *prometheus.CounterVec
	unmappedTotal *prometheus.CounterVec
	invalidTotal  *prometheus.CounterVec
	// lastMessage holds the float64 bits of the Unix time of the last
	// frame; 0 until one arrives, when the gauge is not exported.
	lastMessage     atomic.Uint64
	lastMessageDesc *prometheus.Desc
	seriesDesc      *prometheus.Desc
}

// messagePlan is a message rule with the place of its sections among the
// collector's.
type messagePlan struct {
	rule  *messageRule
	first int
}

// sectionPlan is a section rule fitted to the options: the labels that are
// on, and where each value is stored in an entity.
type sectionPlan struct {
	rule      *sectionRule
	labels    []labelRule // entity labels that are on; slots 0..len-1
	sortSlots []int       // those slots in label name order
	metrics   []metricPlan
	slots     int // label values stored per entity
}

// metricPlan is a metric rule fitted to the options.
type metricPlan struct {
	rule      *metricRule
	desc      *prometheus.Desc
	valueType prometheus.ValueType
	labels    []labelRule // own labels that are on; slots first..first+len-1
	first     int
	stateSlot int // slot of the current state; -1 for no state
	statePos  int // position of the state label in sources
	sources   []labelSource
}

// labelSource says where the value of one label of a desc comes from:
// a slot of the entity, or a fixed value when slot is -1.
type labelSource struct {
	slot  int
	fixed string
}

// New returns a collector for the options' mapping. It fails when
// OptionalLabels names a label the mapping does not have as optional.
func New(opts Options) (*Collector, error) {
	m := opts.Mapping
	if m == nil {
		var err error
		if m, err = LoadMapping(""); err != nil {
			return nil, fmt.Errorf("load default mapping: %w", err)
		}
	}
	on := map[string]bool{}
	for _, name := range opts.OptionalLabels {
		if !slices.Contains(m.OptionalLabels(), name) {
			return nil, fmt.Errorf("optional label %q is not in mapping %s (it has %v)", name, m.Name(), m.OptionalLabels())
		}
		on[name] = true
	}

	c := &Collector{
		mapping:        m,
		messages:       map[string]*messagePlan{},
		ttl:            positiveOr(opts.EntityTTL, DefaultEntityTTL),
		logger:         opts.Logger,
		now:            opts.Now,
		loggedUnmapped: map[string]bool{},
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.plan(on)
	c.snapshot.Store(&snapshot{sections: make([]*sectionState, len(c.sections))})
	c.initSelfMetrics()
	return c, nil
}

func positiveOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// plan fits every section and metric rule to the optional labels that
// are on, and builds one desc per metric name.
func (c *Collector) plan(on map[string]bool) {
	descs := map[string]*prometheus.Desc{}
	for _, t := range c.mapping.types {
		rule := c.mapping.messages[t]
		c.messages[t] = &messagePlan{rule: rule, first: len(c.sections)}
		for _, s := range rule.sections {
			c.sections = append(c.sections, c.planSection(s, on, descs))
		}
	}
}

func (c *Collector) planSection(rule *sectionRule, on map[string]bool, descs map[string]*prometheus.Desc) *sectionPlan {
	p := &sectionPlan{rule: rule, labels: activeLabels(rule.labels, on)}
	entitySlots := map[string]labelSource{}
	for i, l := range p.labels {
		entitySlots[l.name] = labelSource{slot: i}
	}
	p.slots = len(p.labels)
	for _, name := range slices.Sorted(maps.Keys(entitySlots)) {
		p.sortSlots = append(p.sortSlots, entitySlots[name].slot)
	}

	for _, r := range rule.metrics {
		mp := metricPlan{rule: r, labels: activeLabels(r.labels, on), first: p.slots, stateSlot: -1, statePos: -1}
		mp.valueType = prometheus.GaugeValue
		if r.counter {
			mp.valueType = prometheus.CounterValue
		}
		sources := maps.Clone(entitySlots)
		for i, l := range mp.labels {
			sources[l.name] = labelSource{slot: mp.first + i}
		}
		p.slots += len(mp.labels)
		if r.state != nil {
			mp.stateSlot = p.slots
			sources[r.state.label.name] = labelSource{slot: mp.stateSlot}
			p.slots++
		}
		for _, f := range r.fixed {
			sources[f.name] = labelSource{slot: -1, fixed: f.value}
		}

		// Labels in name order, so that entries sharing a metric name,
		// which the mapping holds to the same label names, share a desc.
		names := slices.Sorted(maps.Keys(sources))
		for i, name := range names {
			mp.sources = append(mp.sources, sources[name])
			if r.state != nil && name == r.state.label.name {
				mp.statePos = i
			}
		}
		c.maxLabel = max(c.maxLabel, len(names))
		mp.desc = descs[r.name]
		if mp.desc == nil {
			mp.desc = prometheus.NewDesc(r.name, r.help, names, nil)
			descs[r.name] = mp.desc
			c.descs = append(c.descs, mp.desc)
		}
		p.metrics = append(p.metrics, mp)
	}
	return p
}

func activeLabels(labels []labelRule, on map[string]bool) []labelRule {
	var active []labelRule
	for _, l := range labels {
		if !l.optional || on[l.name] {
			active = append(active, l)
		}
	}
	return active
}

func (c *Collector) initSelfMetrics() {
	c.messageTypes = newLabelCap(maxMessageTypes, maxCappedLabelLen, c.mapping.types...)
	c.errorReasons = newLabelCap(maxDiscardReasons, maxCappedLabelLen, ReasonMalformed, reasonTooLarge, ReasonMapping)

	c.messagesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "acqueon_exporter_messages_total",
		Help: fmt.Sprintf("Frames received from the feed, by MessageType; past %d types besides the mapped ones, "+
			"new types count as %q.", maxMessageTypes, otherLabelValue),
	}, []string{"message_type"})
	c.errorsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "acqueon_exporter_message_errors_total",
		Help: "Frames that could not be used, by reason: malformed (not JSON), too_large (over the read limit), " +
			"mapping (JSON that does not fit the mapping).",
	}, []string{"reason"})
	c.unmappedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "acqueon_exporter_unmapped_fields_total",
		Help: "Fields present in payloads but absent from the mapping, by MessageType.",
	}, []string{"message_type"})
	c.invalidTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "acqueon_exporter_invalid_values_total",
		Help: "Mapped field values that could not be read (text that is no number, a list or object where a " +
			"value belongs) and so gave no sample or an empty label, by MessageType.",
	}, []string{"message_type"})
	c.lastMessageDesc = prometheus.NewDesc("acqueon_exporter_last_message_timestamp_seconds",
		"Unix time when the last frame arrived from the feed.", nil, nil)
	c.seriesDesc = prometheus.NewDesc("acqueon_exporter_series",
		"Vendor series built from the snapshot by this scrape.", nil, nil)

	for _, reason := range []string{ReasonMalformed, reasonTooLarge, ReasonMapping} {
		c.errorsTotal.WithLabelValues(reason)
	}
	for _, t := range c.mapping.types {
		c.messagesTotal.WithLabelValues(t)
		c.unmappedTotal.WithLabelValues(t)
		c.invalidTotal.WithLabelValues(t)
	}
}

// Describe sends the desc of every metric the collector can produce.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, v := range c.selfVecs() {
		v.Describe(ch)
	}
	ch <- c.lastMessageDesc
	ch <- c.seriesDesc
	c.plans.RLock()
	defer c.plans.RUnlock()
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect sends the exporter's own metrics and builds the vendor metrics
// from the current snapshot. It never waits for ingest.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range c.selfVecs() {
		v.Collect(ch)
	}
	if bits := c.lastMessage.Load(); bits != 0 {
		ch <- prometheus.MustNewConstMetric(c.lastMessageDesc, prometheus.GaugeValue, math.Float64frombits(bits))
	}
	n := c.collectVendor(ch)
	ch <- prometheus.MustNewConstMetric(c.seriesDesc, prometheus.GaugeValue, float64(n))
}

func (c *Collector) selfVecs() []*prometheus.CounterVec {
	return []*prometheus.CounterVec{c.messagesTotal, c.errorsTotal, c.unmappedTotal, c.invalidTotal}
}

// collectVendor sends the series of every live section of the snapshot
// and returns how many it sent.
func (c *Collector) collectVendor(ch chan<- prometheus.Metric) int {
	c.plans.RLock()
	defer c.plans.RUnlock()
	snap := c.snapshot.Load()
	now := c.now()
	values := make([]string, c.maxLabel)
	n := 0
	for i, st := range snap.sections {
		if st.live(now, c.ttl) {
			n += c.sections[i].collect(ch, st, values, c.logger)
		}
	}
	return n
}

func (p *sectionPlan) collect(ch chan<- prometheus.Metric, st *sectionState, scratch []string, logger *slog.Logger) int {
	n := 0
	for ei := range st.entities {
		e := &st.entities[ei]
		for mi := range p.metrics {
			n += p.metrics[mi].collect(ch, e, e.values[mi], scratch, logger)
		}
	}
	return n
}

// collect sends the series of one metric rule for one entity. scratch is
// reused for every series: a const metric copies the label values.
func (m *metricPlan) collect(
	ch chan<- prometheus.Metric,
	e *entity,
	value float64,
	scratch []string,
	logger *slog.Logger,
) int {
	values := scratch[:len(m.sources)]
	for i, s := range m.sources {
		if s.slot < 0 {
			values[i] = s.fixed
		} else {
			values[i] = e.labels[s.slot]
		}
	}
	if m.stateSlot < 0 {
		if math.IsNaN(value) {
			return 0
		}
		return m.send(ch, value, values, logger)
	}

	current := e.labels[m.stateSlot]
	if current == "" {
		return 0
	}
	n := 0
	for _, known := range m.rule.state.known {
		values[m.statePos] = known
		n += m.send(ch, boolValue(known == current), values, logger)
	}
	if !slices.Contains(m.rule.state.known, current) {
		values[m.statePos] = current
		n += m.send(ch, 1, values, logger)
	}
	return n
}

func (m *metricPlan) send(ch chan<- prometheus.Metric, value float64, labels []string, logger *slog.Logger) int {
	metric, err := prometheus.NewConstMetric(m.desc, m.valueType, value, labels...)
	if err != nil {
		logger.Debug("series skipped", "metric", m.rule.name, "err", err)
		return 0
	}
	ch <- metric
	return 1
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
