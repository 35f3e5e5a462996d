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

// DefaultMaxSeries is the most vendor series a Collector holds when
// Options.MaxSeries is zero.
const DefaultMaxSeries = 1_000_000

// DefaultMaxLabelValueLength is the longest label value, in bytes, that a
// Collector exports whole when Options.MaxLabelValueLength is zero.
const DefaultMaxLabelValueLength = 1024

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
	// MaxSeries caps the vendor series held; zero means DefaultMaxSeries,
	// a negative value no cap. A message that would exceed it keeps the
	// first entities of the sections it carries, in label order, and the
	// series left out count in acqueon_exporter_dropped_series_total.
	// While a message is read, a section holds entities for at most about
	// twice MaxSeries series, so the memory ingest takes grows with the
	// cap rather than with the message.
	MaxSeries int
	// MaxLabelValueLength is the longest label value, in bytes, taken
	// from the feed; zero means DefaultMaxLabelValueLength. Longer values
	// are cut at a character boundary and counted in
	// acqueon_exporter_truncated_label_values_total.
	MaxLabelValueLength int
	// Logger receives the collector's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock for expiry; nil means time.Now.
	Now func() time.Time
}

// Collector is a prometheus.Collector of the feed's metrics and of the
// exporter's own counters about the frames it took. HandleFrame must be
// called from one goroutine at a time; Collect, Describe and the
// Gatherer's Gather may run concurrently with it and with each other, and
// never wait for it.
type Collector struct {
	ttl         time.Duration
	maxSeries   int
	maxLabelLen int
	logger      *slog.Logger
	now         func() time.Time

	// snapshot holds the entities and the plan they were read with.
	snapshot atomic.Pointer[snapshot]

	ingest sync.Mutex // serialises HandleFrame, which swaps the snapshot
	// pending is the plan for a mapping that SetMapping accepted and the
	// next frame installs; guarded by ingest.
	pending *plan
	// loggedUnmapped holds the unmapped fields already logged; guarded
	// by ingest.
	loggedUnmapped map[string]bool
	// dataBuf holds the last unquoted Data; guarded by ingest.
	dataBuf []byte

	// idle holds expositions for the next scrapes; guarded by idleMu.
	idleMu sync.Mutex
	idle   []*familySet
	// one and zero are the samples of state series.
	one, zero float64

	messageTypes   *labelCap
	errorReasons   *labelCap
	messagesTotal  *prometheus.CounterVec
	errorsTotal    *prometheus.CounterVec
	unmappedTotal  *prometheus.CounterVec
	invalidTotal   *prometheus.CounterVec
	truncatedTotal *prometheus.CounterVec
	droppedTotal   *prometheus.CounterVec
	// lastMessage holds the float64 bits of the Unix time of the last
	// frame; 0 until one arrives, when the gauge is not exported.
	lastMessage     atomic.Uint64
	lastMessageDesc *prometheus.Desc
	seriesDesc      *prometheus.Desc
	// own gathers the exporter's own metrics but the series gauge, for
	// the Gatherer.
	own *prometheus.Registry
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
		ttl:            positiveOr(opts.EntityTTL, DefaultEntityTTL),
		maxSeries:      opts.MaxSeries,
		maxLabelLen:    opts.MaxLabelValueLength,
		logger:         opts.Logger,
		now:            opts.Now,
		loggedUnmapped: map[string]bool{},
		one:            1,
	}
	if c.maxSeries == 0 {
		c.maxSeries = DefaultMaxSeries
	}
	if c.maxLabelLen <= 0 {
		c.maxLabelLen = DefaultMaxLabelValueLength
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	pl := newPlan(m, on, c.maxLabelLen)
	c.snapshot.Store(&snapshot{plan: pl, sections: make([]*sectionState, len(pl.sections))})
	c.initSelfMetrics()
	return c, nil
}

func positiveOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (c *Collector) initSelfMetrics() {
	c.messageTypes = newLabelCap(maxMessageTypes, maxCappedLabelLen, c.snapshot.Load().plan.mapping.types...)
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
	c.truncatedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "acqueon_exporter_truncated_label_values_total",
		Help: fmt.Sprintf("Label values from the feed cut to the longest allowed (%d bytes), by MessageType.", c.maxLabelLen),
	}, []string{"message_type"})
	c.droppedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "acqueon_exporter_dropped_series_total",
		Help: "Vendor series left out of the snapshot because it would have held more than the limit, " +
			"added up over the messages that published a snapshot, by MessageType.",
	}, []string{"message_type"})
	c.lastMessageDesc = prometheus.NewDesc("acqueon_exporter_last_message_timestamp_seconds",
		"Unix time when the last frame arrived from the feed.", nil, nil)
	c.seriesDesc = prometheus.NewDesc(seriesMetricName, seriesMetricHelp, nil, nil)

	for _, reason := range []string{ReasonMalformed, reasonTooLarge, ReasonMapping} {
		c.errorsTotal.WithLabelValues(reason)
	}
	for _, t := range c.snapshot.Load().plan.mapping.types {
		c.seedMessageType(t)
	}
	c.own = prometheus.NewRegistry()
	c.own.MustRegister(ownMetrics{c})
}

// seedMessageType starts the series of a mapped message type at 0.
func (c *Collector) seedMessageType(t string) {
	for _, v := range c.typeVecs() {
		v.WithLabelValues(t)
	}
}

func (c *Collector) typeVecs() []*prometheus.CounterVec {
	return []*prometheus.CounterVec{c.messagesTotal, c.unmappedTotal, c.invalidTotal, c.truncatedTotal, c.droppedTotal}
}

// ownMetrics are the exporter's own metrics but the series gauge.
type ownMetrics struct{ c *Collector }

// Describe sends the descs of the exporter's own metrics.
func (o ownMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, v := range o.c.selfVecs() {
		v.Describe(ch)
	}
	ch <- o.c.lastMessageDesc
}

// Collect sends the exporter's own metrics.
func (o ownMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, v := range o.c.selfVecs() {
		v.Collect(ch)
	}
	if bits := o.c.lastMessage.Load(); bits != 0 {
		ch <- prometheus.MustNewConstMetric(o.c.lastMessageDesc, prometheus.GaugeValue, math.Float64frombits(bits))
	}
}

// Names of the series gauge, which the Gatherer builds itself.
const (
	seriesMetricName = "acqueon_exporter_series"
	seriesMetricHelp = "Vendor series built from the snapshot by this scrape."
)

// Describe sends the desc of every metric the collector can produce.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ownMetrics{c}.Describe(ch)
	ch <- c.seriesDesc
	for _, d := range c.snapshot.Load().plan.descs {
		ch <- d
	}
}

// Collect sends the exporter's own metrics and the vendor metrics of the
// current snapshot. It never waits for ingest.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ownMetrics{c}.Collect(ch)
	n := c.collectVendor(ch)
	ch <- prometheus.MustNewConstMetric(c.seriesDesc, prometheus.GaugeValue, float64(n))
}

func (c *Collector) selfVecs() []*prometheus.CounterVec {
	return []*prometheus.CounterVec{
		c.messagesTotal, c.errorsTotal, c.unmappedTotal, c.invalidTotal, c.truncatedTotal, c.droppedTotal,
	}
}
