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
		labels:   b.labels,
		values:   b.values,
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

	refs := make([]seriesRef, 0, p.maxSeries(b.n))
	for fi, f := range p.families {
		start := len(refs)
		refs = p.appendFamily(refs, st, f, d.order, ties)
		st.families[fi] = refs[start:len(refs):len(refs)]
		st.series += len(refs) - start
		st.labelRefs += (len(refs) - start) * len(p.metrics[f.metrics[0]].sources)
	}
	return st
}

// maxSeries returns how many series n entities make at most.
func (p *sectionPlan) maxSeries(n int) int {
	per := 0
	for i := range p.metrics {
		per++
		if s := p.metrics[i].rule.state; s != nil {
			per += len(s.known)
		}
	}
	return n * per
}

// compareEntities orders entities by their labels in label name order,
// the order in which a registry sorts series.
func (p *sectionPlan) compareEntities(labels []string, x, y int32) int {
	a, b := int(x)*p.slots, int(y)*p.slots
	for _, slot := range p.sortSlots {
		if c := strings.Compare(labels[a+slot], labels[b+slot]); c != 0 {
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
// fit into limit series. It runs before st is published, while the
// decoder still holds the entity order of its message.
func (p *sectionPlan) truncate(st *sectionState, limit int) {
	d := p.dec
	d.counts = slices.Grow(d.counts[:0], st.entities)[:st.entities]
	clear(d.counts)
	for _, refs := range st.families {
		for _, r := range refs {
			d.counts[r.entity]++
		}
	}
	d.rank = slices.Grow(d.rank[:0], st.entities)[:st.entities]
	total := 0
	kept := len(d.order)
	for i, e := range d.order {
		d.rank[e] = int32(i)
		if kept == len(d.order) {
			if total+int(d.counts[e]) > limit {
				kept = i
			} else {
				total += int(d.counts[e])
			}
		}
	}

	st.series, st.labelRefs = 0, 0
	for fi, refs := range st.families {
		n := 0
		for _, r := range refs {
			if int(d.rank[r.entity]) < kept {
				refs[n] = r
				n++
			}
		}
		st.families[fi] = refs[:n:n]
		st.series += n
		st.labelRefs += n * len(p.metrics[p.families[fi].metrics[0]].sources)
	}
}
