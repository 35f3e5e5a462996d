package collector

import (
	"maps"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// plan is a mapping fitted to the collector's options: everything ingest
// and scrapes need to know about sections, metrics and label slots. It
// never changes once built, except for the decoders, which only ingest
// touches; a snapshot names the plan it was read with.
type plan struct {
	mapping  *Mapping
	messages map[string]*messagePlan
	sections []*sectionPlan // the plans of all messages; snapshot index
	families []*familyPlan  // one per metric name, sorted by name
	descs    []*prometheus.Desc
}

// messagePlan is a message rule with the place of its sections among the
// plan's.
type messagePlan struct {
	rule  *messageRule
	first int
}

// familyPlan is one vendor metric name and the sections that feed it.
type familyPlan struct {
	name string
	help string
	typ  dto.MetricType
	desc *prometheus.Desc
	// parts lists the sections with entries of this name, as the index
	// of the section and of the family among the section's.
	parts []familyPart
}

type familyPart struct{ section, local int }

// sectionPlan is a section rule fitted to the options: the labels that are
// on, and where each value is stored in an entity.
type sectionPlan struct {
	rule      *sectionRule
	labels    []labelRule // entity labels that are on; slots 0..len-1
	sortSlots []int       // those slots in label name order
	metrics   []metricPlan
	slots     int      // label values stored per entity
	slotNames []string // the label name of each slot
	slotRules []*labelRule
	families  []sectionFamily

	// fieldIndex numbers every field the section knows (reads or
	// ignores); slotField and metricField give the field of each slot
	// and metric plan (-1 for none), keyFields those of the key.
	fieldIndex  map[string]int
	slotField   []int
	metricField []int
	keyFields   []int
	keySlots    []int // the slot of each key field's label

	// dec holds what ingest reuses from one message to the next.
	dec *sectionDecoder
}

// sectionFamily is the part of a metric family that one section feeds.
type sectionFamily struct {
	family  int   // index into plan.families
	metrics []int // metric plans of the section with this name
	// prefix is true when the family's labels, in name order, start with
	// the section's entity labels: entities in label order then give
	// the family's series in order, and only the series of one entity
	// need sorting among themselves.
	prefix bool
}

// metricPlan is a metric rule fitted to the options.
type metricPlan struct {
	rule      *metricRule
	family    int // index into plan.families
	valueType prometheus.ValueType
	labels    []labelRule // own labels that are on; slots first..first+len-1
	first     int
	stateSlot int // slot of the current state; -1 for no state
	statePos  int // position of the state label in sources; -1 for none
	sources   []labelSource
	// pairs holds the label pairs that are the same for every series:
	// fixed labels by position in sources (nil elsewhere).
	pairs []*dto.LabelPair
	// statePairs holds the state label's pair for each known value.
	statePairs []*dto.LabelPair
}

// labelSource says where the value of one label of a desc comes from:
// a slot of the entity, or a fixed value when slot is -1.
type labelSource struct {
	slot  int
	fixed string
}

// newPlan fits every section and metric rule of m to the optional labels
// that are on, and builds one family per metric name.
func newPlan(m *Mapping, on map[string]bool, maxLabelLen int) *plan {
	p := &plan{mapping: m, messages: map[string]*messagePlan{}}
	byName := map[string]*familyPlan{}
	for _, t := range m.types {
		rule := m.messages[t]
		p.messages[t] = &messagePlan{rule: rule, first: len(p.sections)}
		for _, s := range rule.sections {
			p.sections = append(p.sections, planSection(s, on, byName, maxLabelLen))
		}
	}

	names := slices.Sorted(maps.Keys(byName))
	index := map[string]int{}
	for i, name := range names {
		f := byName[name]
		p.families = append(p.families, f)
		p.descs = append(p.descs, f.desc)
		index[name] = i
	}
	for si, s := range p.sections {
		for mi := range s.metrics {
			s.metrics[mi].family = index[s.metrics[mi].rule.name]
		}
		s.planFamilies(si, p.families)
	}
	return p
}

func planSection(rule *sectionRule, on map[string]bool, families map[string]*familyPlan, maxLabelLen int) *sectionPlan {
	p := &sectionPlan{rule: rule, labels: activeLabels(rule.labels, on)}
	entitySlots := map[string]labelSource{}
	for i := range p.labels {
		entitySlots[p.labels[i].name] = labelSource{slot: i}
		p.addSlot(&p.labels[i])
	}
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
		for i := range mp.labels {
			sources[mp.labels[i].name] = labelSource{slot: p.slots}
			p.addSlot(&mp.labels[i])
		}
		if r.state != nil {
			mp.stateSlot = p.slots
			sources[r.state.label.name] = labelSource{slot: mp.stateSlot}
			p.addSlot(&r.state.label)
		}
		for _, f := range r.fixed {
			sources[f.name] = labelSource{slot: -1, fixed: f.value}
		}

		// Labels in name order, so that entries sharing a metric name,
		// which the mapping holds to the same label names, share a desc.
		names := slices.Sorted(maps.Keys(sources))
		for i, name := range names {
			src := sources[name]
			mp.sources = append(mp.sources, src)
			var pair *dto.LabelPair
			if src.slot < 0 {
				pair = &dto.LabelPair{Name: new(name), Value: new(src.fixed)}
			}
			mp.pairs = append(mp.pairs, pair)
			if r.state != nil && name == r.state.label.name {
				mp.statePos = i
			}
		}
		if r.state != nil {
			for _, known := range r.state.known {
				mp.statePairs = append(mp.statePairs, &dto.LabelPair{Name: new(r.state.label.name), Value: new(known)})
			}
		}
		if families[r.name] == nil {
			typ := dto.MetricType_GAUGE
			if r.counter {
				typ = dto.MetricType_COUNTER
			}
			families[r.name] = &familyPlan{
				name: r.name,
				help: r.help,
				typ:  typ,
				desc: prometheus.NewDesc(r.name, r.help, names, nil),
			}
		}
		p.metrics = append(p.metrics, mp)
	}
	p.planFields()
	p.dec = newSectionDecoder(p, maxLabelLen)
	return p
}

func (p *sectionPlan) addSlot(rule *labelRule) {
	p.slotNames = append(p.slotNames, rule.name)
	p.slotRules = append(p.slotRules, rule)
	p.slots++
}

// planFields numbers the fields of the section for the decoder.
func (p *sectionPlan) planFields() {
	p.fieldIndex = map[string]int{}
	for _, f := range slices.Sorted(maps.Keys(p.rule.known)) {
		p.fieldIndex[f] = len(p.fieldIndex)
	}
	for _, r := range p.slotRules {
		p.slotField = append(p.slotField, p.fieldIndex[r.field])
	}
	for _, m := range p.metrics {
		field := -1
		if m.rule.field != "" {
			field = p.fieldIndex[m.rule.field]
		}
		p.metricField = append(p.metricField, field)
	}
	for _, k := range p.rule.key {
		p.keyFields = append(p.keyFields, p.fieldIndex[k])
		p.keySlots = append(p.keySlots, slices.IndexFunc(p.labels, func(l labelRule) bool { return l.field == k }))
	}
}

// planFamilies groups the section's metric plans by name and records the
// section in each family it feeds.
func (p *sectionPlan) planFamilies(section int, families []*familyPlan) {
	entityNames := make([]string, len(p.sortSlots))
	for i, slot := range p.sortSlots {
		entityNames[i] = p.slotNames[slot]
	}
	local := map[int]int{}
	for mi := range p.metrics {
		m := &p.metrics[mi]
		i, ok := local[m.family]
		if !ok {
			i = len(p.families)
			local[m.family] = i
			p.families = append(p.families, sectionFamily{family: m.family, prefix: p.labelsStartWith(m, entityNames)})
			families[m.family].parts = append(families[m.family].parts, familyPart{section: section, local: i})
		}
		p.families[i].metrics = append(p.families[i].metrics, mi)
	}
}

// labelsStartWith reports whether the metric's labels in name order begin
// with the entity labels.
func (p *sectionPlan) labelsStartWith(m *metricPlan, entityNames []string) bool {
	if len(m.sources) < len(entityNames) {
		return false
	}
	for i, name := range entityNames {
		if m.sources[i].slot < 0 || p.slotNames[m.sources[i].slot] != name {
			return false
		}
	}
	return true
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

// seriesLabel returns the value of the i-th label (in name order) of the
// series r of metric plan m, whose entity labels are in labels.
func (p *sectionPlan) seriesLabel(labels []string, r seriesRef, m *metricPlan, i int) string {
	if i == m.statePos && r.state >= 0 {
		if int(r.state) < len(m.rule.state.known) {
			return m.rule.state.known[r.state]
		}
		return labels[int(r.entity)*p.slots+m.stateSlot]
	}
	src := m.sources[i]
	if src.slot < 0 {
		return src.fixed
	}
	return labels[int(r.entity)*p.slots+src.slot]
}

// compareSeries orders two series of one family as a registry does: by
// their label values in label name order.
func (p *sectionPlan) compareSeries(labels []string, a, b seriesRef) int {
	ma, mb := &p.metrics[a.metric], &p.metrics[b.metric]
	for i := range ma.sources {
		if c := strings.Compare(p.seriesLabel(labels, a, ma, i), p.seriesLabel(labels, b, mb, i)); c != 0 {
			return c
		}
	}
	return 0
}
