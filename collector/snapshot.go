package collector

import "time"

// snapshot is the state of every section at one moment. It is never
// changed once published: each message that changes anything publishes a
// new snapshot that shares the untouched sections with the old one, so a
// scrape reads one whole message's worth of state without a lock.
type snapshot struct {
	sections []*sectionState // by index of Collector.sections; nil for none
}

// sectionState holds the entities of one section as the last message that
// carried it listed them. A section is always sent complete, so all its
// entities were last sent together, at seen.
type sectionState struct {
	seen     time.Time
	entities []entity
}

// live reports whether the section's entities are still exported at now.
func (s *sectionState) live(now time.Time, ttl time.Duration) bool {
	return s != nil && now.Sub(s.seen) < ttl
}

// entity is what a scrape needs of one campaign, queue or agent, read and
// converted when the message arrived.
type entity struct {
	// labels holds label values by the slots of its sectionPlan: entity
	// labels, then each metric's own labels and current state.
	labels []string
	// values holds one sample per metric plan; NaN means no sample.
	values []float64
}
