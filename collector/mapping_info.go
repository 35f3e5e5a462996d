package collector

import (
	"maps"
	"slices"
	"sort"
	"strings"
)

// MessageInfo describes what a mapping does with one message type, for
// tools that hold a mapping against what a feed really sends.
type MessageInfo struct {
	// Type is the MessageType.
	Type string
	// Ignore holds the keys (dotted paths) of Data the mapping ignores.
	Ignore []string
	// Sections are the lists of entities the mapping reads, in mapping
	// order.
	Sections []SectionInfo
}

// SectionInfo describes one section of a mapping.
type SectionInfo struct {
	// Path is the key (dotted path) of Data that holds the entities.
	Path string
	// Key holds the fields that identify an entity.
	Key []string
	// Labels are the labels every metric of the section carries.
	Labels []LabelInfo
	// Fields holds every entity field the section reads or ignores,
	// sorted; the others count as unmapped.
	Fields []string
	// Read holds the fields the section reads, sorted: Fields without
	// the ignored ones.
	Read []string
	// Metrics are the section's metrics, in mapping order, one for each
	// name.
	Metrics []MetricInfo
}

// MetricInfo describes a metric of a section.
type MetricInfo struct {
	// Name is the metric name.
	Name string
	// Counter is true for a counter, false for a gauge.
	Counter bool
	// Fields holds the fields the metric reads, over all entries that
	// share its name in the section.
	Fields []string
}

// LabelInfo describes a label that comes from a field.
type LabelInfo struct {
	// Field is the vendor field.
	Field string
	// Label is the label name.
	Label string
	// Optional is true for a label that is off unless turned on.
	Optional bool
}

// Messages describes every message type of the mapping, sorted by type.
func (m *Mapping) Messages() []MessageInfo {
	out := make([]MessageInfo, 0, len(m.types))
	for _, t := range m.types {
		rule := m.messages[t]
		info := MessageInfo{Type: t, Ignore: rule.tree.ignoredPaths("")}
		for _, s := range rule.sections {
			info.Sections = append(info.Sections, s.info())
		}
		out = append(out, info)
	}
	return out
}

func (s *sectionRule) info() SectionInfo {
	info := SectionInfo{
		Path:   s.path,
		Key:    slices.Clone(s.key),
		Fields: slices.Sorted(maps.Keys(s.known)),
	}
	for _, l := range s.labels {
		info.Labels = append(info.Labels, LabelInfo{Field: l.field, Label: l.name, Optional: l.optional})
	}
	read := map[string]bool{}
	for _, l := range s.labels {
		read[l.field] = true
	}
	for _, r := range s.metrics {
		i := slices.IndexFunc(info.Metrics, func(mi MetricInfo) bool { return mi.Name == r.name })
		if i < 0 {
			info.Metrics = append(info.Metrics, MetricInfo{Name: r.name, Counter: r.counter})
			i = len(info.Metrics) - 1
		}
		for _, f := range r.fields() {
			read[f] = true
			if !slices.Contains(info.Metrics[i].Fields, f) {
				info.Metrics[i].Fields = append(info.Metrics[i].Fields, f)
			}
		}
	}
	info.Read = slices.Sorted(maps.Keys(read))
	return info
}

// ignoredPaths returns the ignored paths below n, sorted.
func (n *pathNode) ignoredPaths(prefix string) []string {
	var out []string
	for key, child := range n.children {
		path := prefix + key
		if child.ignored {
			out = append(out, path)
			continue
		}
		out = append(out, child.ignoredPaths(path+".")...)
	}
	sort.Strings(out)
	return out
}

// SnakeCase turns a vendor name such as CallsWaiting, NotReady or
// "Not Ready" into calls_waiting, not_ready, as the snake_case transform
// of a mapping does.
func SnakeCase(s string) string { return snakeCase(strings.TrimSpace(s)) }
