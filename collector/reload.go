package collector

import (
	"errors"
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// SetMapping replaces the collector's mapping without losing anything
// else: the exporter's own counters go on, and the series of the old
// mapping stay exported until the next frame arrives, which is the first
// one read with m. From then on only the sections that frames carry under
// m are exported.
//
// The optional labels that are on must be optional labels of m too;
// otherwise, or when m is nil, SetMapping returns an error and nothing
// changes. A later call before the next frame replaces an earlier one.
//
// The metrics a collector produces change with its mapping, so register
// Unchecked() rather than the collector itself when SetMapping will be
// used: a registry refuses, with pedantic checks, metrics whose
// descriptors it was not told about at registration.
func (c *Collector) SetMapping(m *Mapping) error {
	if m == nil {
		return errors.New("set mapping: no mapping")
	}
	c.ingest.Lock()
	defer c.ingest.Unlock()

	on := c.optionalLabelsOn()
	for name := range on {
		if !slices.Contains(m.OptionalLabels(), name) {
			return fmt.Errorf("set mapping: optional label %q is turned on but mapping %s does not have it (it has %v)",
				name, m.Name(), m.OptionalLabels())
		}
	}
	c.pending = newPlan(m, on, c.maxLabelLen)
	return nil
}

// Mapping returns the mapping the collector reads frames with now; a
// mapping given to SetMapping counts from the next frame.
func (c *Collector) Mapping() *Mapping {
	return c.snapshot.Load().plan.mapping
}

// optionalLabelsOn returns the optional labels that the current plans
// have turned on. It needs ingest (plans change only under it).
func (c *Collector) optionalLabelsOn() map[string]bool {
	on := map[string]bool{}
	note := func(labels []labelRule) {
		for _, l := range labels {
			if l.optional {
				on[l.name] = true
			}
		}
	}
	for _, p := range c.snapshot.Load().plan.sections {
		note(p.labels)
		for _, m := range p.metrics {
			note(m.labels)
		}
	}
	return on
}

// installPending makes the mapping of the last SetMapping the one frames
// are read with. The snapshot starts empty, since its sections belong to
// the old mapping. It needs ingest.
func (c *Collector) installPending() {
	next := c.pending
	if next == nil {
		return
	}
	c.pending = nil

	c.snapshot.Store(&snapshot{plan: next, sections: make([]*sectionState, len(next.sections))})
	for _, t := range next.mapping.types {
		c.messageTypes.seed(t)
		c.seedMessageType(t)
	}
	// The new mapping may miss other fields: log each of them once again.
	clear(c.loggedUnmapped)
	c.logger.Info("Mapping installed", "mapping", next.mapping.Name(), "metrics", len(next.descs))
}

// seed gives v its own series from now on, beyond the limit, as the
// values the cap was made with have.
func (c *labelCap) seed(v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.seen[v] {
		c.seen[v] = true
		c.limit++
	}
}

// Unchecked returns the collector as an unchecked prometheus.Collector:
// its Describe sends nothing, so a registry accepts the metrics of every
// mapping that SetMapping installs later. Register it instead of the
// collector itself when the mapping may be reloaded.
func (c *Collector) Unchecked() prometheus.Collector { return unchecked{c} }

// unchecked is a Collector whose Describe sends no descriptor.
type unchecked struct{ c *Collector }

// Describe sends nothing, which makes the collector unchecked.
func (unchecked) Describe(chan<- *prometheus.Desc) {}

// Collect is the collector's Collect.
func (u unchecked) Collect(ch chan<- prometheus.Metric) { u.c.Collect(ch) }
