package collector

import (
	"math"
	"slices"
	"strings"
)

// finishSection turns the entities of one message into a section state:
// it sorts them by their labels and lists, per metric family, the series
// in the order a registry would expose them, so that scrapes neither sort
// nor check for duplicates. That work is done once per message, off the
// scrape path.
func (p *sectionPlan) finishSection(b *entityBatch) *sectionState {
	d := p.dec
	st := &sectionState{
		entities: b.n,
		labels:   fitted(b.labels),
		values:   fitted(b.values),
		families: make([][]seriesRef, len(p.families)),
	}

	d.order = d.order[:0]
	for i := range b.n {
		d.order = append(d.order, int32(i))
	}
	slices.SortFunc(d.order, func(x, y int32) int { return p.compareEntities(st.labels, x, y) })
	// Entities whose labels are all equal (keys that differ only in text
	// a transform or truncation removes) make the same series: their
	// families need the full sort, which drops the repeats.
	ties := false
	for i := 1; i < len(d.order) && !ties; i++ {
		ties = p.compareEntities(st.labels, d.order[i-1], d.order[i]) == 0
	}

	refs := make([]seriesRef, 0, b.series)
	for fi, f := range p.families {
		start := len(refs)
		refs = p.appendFamily(refs, st, f, d.order, ties)
		st.families[fi] = refs[start:len(refs):len(refs)]
		st.series += len(refs) - start
		st.labelRefs += (len(refs) - start) * len(p.metrics[f.metrics[0]].sources)
	}
	return st
}

// entitySeries returns how many series an entity with these label slots
// and samples makes, as appendVariants lists them.
func (p *sectionPlan) entitySeries(labels []string, values []float64) int {
	n := 0
	for mi := range p.metrics {
		m := &p.metrics[mi]
		if m.stateSlot < 0 {
			if !math.IsNaN(values[mi]) {
				n++
			}
			continue
		}
		current := labels[m.stateSlot]
		if current == "" {
			continue
		}
		n += len(m.rule.state.known)
		if !slices.Contains(m.rule.state.known, current) {
			n++
		}
	}
	return n
}

// compareEntities orders entities by their labels in label name order,
// the order in which a registry sorts series.
func (p *sectionPlan) compareEntities(labels []string, x, y int32) int {
	a, b := int(x)*p.slots, int(y)*p.slots
	return p.compareLabels(labels[a:a+p.slots], labels[b:b+p.slots])
}

// compareLabels orders the label slots of two entities as
// compareEntities does.
func (p *sectionPlan) compareLabels(a, b []string) int {
	for _, slot := range p.sortSlots {
		if c := strings.Compare(a[slot], b[slot]); c != 0 {
			return c
		}
	}
	return 0
}

// appendFamily appends the series of one family in exposition order.
func (p *sectionPlan) appendFamily(refs []seriesRef, st *sectionState, f sectionFamily, order []int32, ties bool) []seriesRef {
	start := len(refs)
	compare := func(a, b seriesRef) int { return p.compareSeries(st.labels, a, b) }
	for _, e := range order {
		first := len(refs)
		for _, mi := range f.metrics {
			refs = p.appendVariants(refs, st, e, mi)
		}
		if f.prefix && !ties && len(refs)-first > 1 {
			insertionSort(refs[first:], compare)
		}
	}
	if f.prefix && !ties {
		return refs
	}

	family := refs[start:]
	slices.SortStableFunc(family, compare)
	// A series made twice keeps its first making, as a registry would.
	kept := start
	for i := range family {
		if i == 0 || compare(family[i-1], family[i]) != 0 {
			refs[kept] = family[i]
			kept++
		}
	}
	return refs[:kept]
}

// appendVariants appends the series of one metric plan for entity e.
func (p *sectionPlan) appendVariants(refs []seriesRef, st *sectionState, e int32, mi int) []seriesRef {
	m := &p.metrics[mi]
	if m.stateSlot < 0 {
		if math.IsNaN(st.values[int(e)*len(p.metrics)+mi]) {
			return refs
		}
		return append(refs, seriesRef{entity: e, metric: int16(mi), state: -1})
	}
	current := st.labels[int(e)*p.slots+m.stateSlot]
	if current == "" {
		return refs
	}
	known := m.rule.state.known
	for k := range known {
		refs = append(refs, seriesRef{entity: e, metric: int16(mi), state: int16(k)})
	}
	if !slices.Contains(known, current) {
		refs = append(refs, seriesRef{entity: e, metric: int16(mi), state: int16(len(known))})
	}
	return refs
}

// insertionSort sorts the few series of one entity.
func insertionSort(refs []seriesRef, compare func(a, b seriesRef) int) {
	for i := 1; i < len(refs); i++ {
		for j := i; j > 0 && compare(refs[j-1], refs[j]) > 0; j-- {
			refs[j-1], refs[j] = refs[j], refs[j-1]
		}
	}
}

// capSeries holds the vendor series of next to the collector's limit.
// The sections the update carries share what the others leave, in the
// mapping's order, each keeping its first entities in label order. It
// returns how many series it left out.
func (c *Collector) capSeries(next *snapshot, u *update) int {
	if c.maxSeries <= 0 {
		return 0
	}
	carries := make([]bool, len(next.sections))
	for _, s := range u.sections {
		carries[s.index] = true
	}
	budget := c.maxSeries
	for i, st := range next.sections {
		if st != nil && !carries[i] {
			budget -= st.series
		}
	}

	dropped := 0
	for _, s := range u.sections {
		dropped += s.dropped
	}
	for i, st := range next.sections {
		if st == nil || !carries[i] {
			continue
		}
		if st.series > budget {
			before := st.series
			next.plan.sections[i].truncate(st, max(budget, 0))
			dropped += before - st.series
		}
		budget -= st.series
	}
	return dropped
}

// truncate keeps the series of the first entities, in label order, that
// fit into limit series, and the entities' labels and samples that these
// series point to. It runs before st is published, while the decoder
// still holds the entity order of its message.
func (p *sectionPlan) truncate(st *sectionState, limit int) {
	d := p.dec
	d.counts = slices.Grow(d.counts[:0], st.entities)[:st.entities]
	clear(d.counts)
	for _, refs := range st.families {
		for _, r := range refs {
			d.counts[r.entity]++
		}
	}
	kept, total := 0, 0
	for _, e := range d.order {
		if total+int(d.counts[e]) > limit {
			break
		}
		total += int(d.counts[e])
		kept++
	}

	// Number the entities kept in their order in the message, the others
	// -1, and keep only theirs.
	d.rank = slices.Grow(d.rank[:0], st.entities)[:st.entities]
	for i := range d.rank {
		d.rank[i] = -1
	}
	for _, e := range d.order[:kept] {
		d.rank[e] = 0
	}
	labels := make([]string, 0, kept*p.slots)
	values := make([]float64, 0, kept*len(p.metrics))
	for e := range st.entities {
		if d.rank[e] < 0 {
			continue
		}
		d.rank[e] = int32(len(labels) / p.slots)
		labels = append(labels, st.labels[e*p.slots:(e+1)*p.slots]...)
		values = append(values, st.values[e*len(p.metrics):(e+1)*len(p.metrics)]...)
	}
	st.entities, st.labels, st.values = kept, labels, values

	refs := make([]seriesRef, 0, total)
	st.series, st.labelRefs = 0, 0
	for fi, family := range st.families {
		start := len(refs)
		for _, r := range family {
			if d.rank[r.entity] >= 0 {
				r.entity = d.rank[r.entity]
				refs = append(refs, r)
			}
		}
		n := len(refs) - start
		st.families[fi] = refs[start:len(refs):len(refs)]
		st.series += n
		st.labelRefs += n * len(p.metrics[p.families[fi].metrics[0]].sources)
	}
}

// leaveOut keeps, of the entities in b, the first in label order that
// make at most b.limit series, and
// counts the series of the others as dropped. Whatever limit capSeries
// later applies to the whole section is at most b.limit and keeps a
// label-order prefix, so it can only keep entities that leaveOut keeps
// or that sort before the first one it left out: boundary holds that
// one's labels, and later entities that sort after it are only counted.
func (p *sectionPlan) leaveOut(b *entityBatch) {
	d := p.dec
	d.counts = slices.Grow(d.counts[:0], b.n)[:b.n]
	d.order = slices.Grow(d.order[:0], b.n)[:b.n]
	for e := range b.n {
		d.counts[e] = int32(p.entitySeries(b.labels[e*p.slots:(e+1)*p.slots],
			b.values[e*len(p.metrics):(e+1)*len(p.metrics)]))
		d.order[e] = int32(e)
	}
	slices.SortFunc(d.order, func(x, y int32) int { return p.compareEntities(b.labels, x, y) })
	kept, total := 0, 0
	for kept < b.n && total+int(d.counts[d.order[kept]]) <= b.limit {
		total += int(d.counts[d.order[kept]])
		kept++
	}
	if kept == b.n {
		return
	}
	first := int(d.order[kept])
	d.boundary = append(d.boundary[:0], b.labels[first*p.slots:(first+1)*p.slots]...)
	d.bounded = true

	// Move the entities kept to the front, in their order in the message.
	d.rank = slices.Grow(d.rank[:0], b.n)[:b.n]
	for i := range d.rank {
		d.rank[i] = -1
	}
	for _, e := range d.order[:kept] {
		d.rank[e] = 0
	}
	n := 0
	for e := range b.n {
		if d.rank[e] < 0 {
			b.dropped += int(d.counts[e])
			continue
		}
		copy(b.labels[n*p.slots:], b.labels[e*p.slots:(e+1)*p.slots])
		copy(b.values[n*len(p.metrics):], b.values[e*len(p.metrics):(e+1)*len(p.metrics)])
		d.rank[e] = int32(n)
		n++
	}
	for key, e := range d.byKey {
		if d.rank[e] < 0 {
			delete(d.byKey, key)
		} else {
			d.byKey[key] = d.rank[e]
		}
	}
	// The strings left behind are not needed any more.
	clear(b.labels[n*p.slots:])
	b.labels, b.values = b.labels[:n*p.slots], b.values[:n*len(p.metrics)]
	b.n, b.series = n, total
}
