package collector

import (
	"slices"
	"time"
)

// snapshot is the state of every section at one moment, with the plan it
// was read with. It is never changed once published: each message that
// changes anything publishes a new snapshot that shares the untouched
// sections with the old one, so a scrape reads one whole message's worth
// of state without a lock.
type snapshot struct {
	plan     *plan
	sections []*sectionState // by index of plan.sections; nil for none
}

// sectionState holds the entities of one section as the last message that
// carried it listed them, read and converted when the message arrived,
// and the order in which a scrape exposes their series. A section is
// always sent complete, so all its entities were last sent together, at
// seen.
type sectionState struct {
	seen time.Time
	// entities is how many entities the section holds. labels holds
	// their label values, slots of the sectionPlan per entity; values
	// one sample per metric plan per entity, NaN for no sample.
	entities int
	labels   []string
	values   []float64
	// families holds, per family of the sectionPlan, the series to
	// expose in exposition order; series and labelRefs count them and
	// their labels.
	families  [][]seriesRef
	series    int
	labelRefs int
}

// seriesRef names one series: an entity, one of the section's metric
// plans and, for a state metric, the state value (an index into the
// known values, or their count for the entity's own current value; -1
// for none).
type seriesRef struct {
	entity int32
	metric int16
	state  int16
}

// live reports whether the section's entities are still exported at now.
func (s *sectionState) live(now time.Time, ttl time.Duration) bool {
	return s != nil && now.Sub(s.seen) < ttl
}

// entityLabels returns the label slots of entity i.
func (s *sectionState) entityLabels(p *sectionPlan, i int) []string {
	return s.labels[i*p.slots : (i+1)*p.slots]
}

// minSpare is how many unused elements an array may have whatever its
// size, before fitted or reusable make it anew.
const minSpare = 1024

// fitted returns s, or a copy of it that fits, when s's array is far
// larger than s: a snapshot keeps no memory that only a larger message
// needed.
func fitted[T any](s []T) []T {
	if cap(s) > 2*len(s)+minSpare {
		return slices.Clone(s)
	}
	return s
}

// reusable returns s emptied for reuse by about n elements, or nil when
// its array is far larger than that, so that scratch space does not stay
// at the size of the largest message.
func reusable[T any](s []T, n int) []T {
	if cap(s) > 4*n+minSpare {
		return nil
	}
	return s[:0]
}
