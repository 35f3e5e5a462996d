// Package explain holds a capture of the feed against a mapping: for every
// message type and section it finds the entities, the series the mapping
// makes of them, the fields it leaves out with a guess at what each one
// is, and a mapping fragment that would export them. It works offline, on
// a capture file alone.
package explain

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/acqueon-exporter/acqueon_exporter/capture"
	"github.com/acqueon-exporter/acqueon_exporter/collector"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

// Options configure an analysis.
type Options struct {
	// Mapping is the mapping to hold the capture against; nil means the
	// embedded default.
	Mapping *collector.Mapping
	// Examples is how many example keys, values and series to keep for
	// each item; 0 means 3.
	Examples int
}

// Report is what a capture holds and what the mapping makes of it.
type Report struct {
	// Capture names the capture.
	Capture string
	// Mapping names the mapping.
	Mapping string
	// Frames counts the records of the capture.
	Frames int
	// ConnectionEvents counts the connection events among them.
	ConnectionEvents int
	// Malformed counts frames that are not a JSON envelope.
	Malformed int
	// First and Last are the receive times of the first and last frame.
	First, Last time.Time
	// Messages holds one entry per message type seen, sorted by type.
	Messages []*MessageReport

	examples int
	taken    map[string]bool // metric names of the mapping and the suggestions
}

// MessageReport is what frames of one message type held.
type MessageReport struct {
	// Type is the MessageType.
	Type string
	// Mapped is true when the mapping names the type.
	Mapped bool
	// Frames counts the frames of the type.
	Frames int
	// NotObject counts frames whose Data is not a JSON object, and so
	// cannot be mapped.
	NotObject int
	// Sections holds the sections of the mapping for the type and the
	// lists of objects found in Data that the mapping does not name, in
	// this order, each sorted by path.
	Sections []*SectionReport
	// UnmappedKeys are keys (dotted paths) of Data that are neither a
	// section nor ignored and hold no list of objects, sorted by path.
	// The mapping can only ignore them.
	UnmappedKeys []*FieldReport

	info     *collector.MessageInfo
	sections map[string]*SectionReport
	keys     map[string]*fieldAcc
}

// SectionReport is what one list of entities held.
type SectionReport struct {
	// Path is the key (dotted path) of Data holding the list.
	Path string
	// Mapped is true for a section of the mapping.
	Mapped bool
	// Key holds the fields that identify an entity: the mapping's, or a
	// guess for a section the mapping does not name (empty when no field
	// identifies the entities).
	Key []string
	// Entities counts the distinct entities seen.
	Entities int
	// MostPerMessage is the most entities one message listed.
	MostPerMessage int
	// ExampleKeys holds some entity keys.
	ExampleKeys []string
	// WithoutKey counts entities that lacked a key field (a mapped
	// section drops the whole message then).
	WithoutKey int
	// Series are the metrics the mapping made of the section, in
	// mapping order.
	Series []SeriesReport
	// Missing holds the fields the mapping reads that no entity had,
	// sorted: renamed or absent at this site.
	Missing []string
	// Unmapped holds the fields the mapping neither reads nor ignores,
	// sorted by name.
	Unmapped []*FieldReport
	// Renamed pairs a missing field with an unmapped one whose name looks
	// like it: probably the same field under a new name.
	Renamed map[string]string

	info        *collector.SectionInfo
	occurrences []occurrence
}

// SeriesReport is one metric the mapping made of a section.
type SeriesReport struct {
	// Metric is the metric name.
	Metric string
	// Count is how many series it had after the last frame.
	Count int
	// Examples holds some series, each as name{labels} value.
	Examples []string
}

// occurrence is the list of a section in one message.
type occurrence struct {
	items []map[string]json.RawMessage
}

// AnalyzeFile reads the capture at path and analyzes it.
func AnalyzeFile(path string, opts Options) (*Report, error) {
	var records []capture.Record
	err := capture.ReadFile(path, func(r capture.Record) error {
		records = append(records, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return Analyze(path, records, opts)
}

// Analyze holds the records of the capture called name against the
// options' mapping.
func Analyze(name string, records []capture.Record, opts Options) (*Report, error) {
	m := opts.Mapping
	if m == nil {
		var err error
		if m, err = collector.LoadMapping(""); err != nil {
			return nil, fmt.Errorf("load default mapping: %w", err)
		}
	}
	r := &Report{Capture: name, Mapping: m.Name(), examples: opts.Examples, taken: map[string]bool{}}
	if r.examples <= 0 {
		r.examples = 3
	}
	for _, n := range m.MetricNames() {
		r.taken[n] = true
	}
	infos := map[string]*collector.MessageInfo{}
	for _, mi := range m.Messages() {
		infos[mi.Type] = &mi
	}

	byType := map[string]*MessageReport{}
	for _, rec := range records {
		r.read(rec, infos, byType)
	}
	for _, t := range slices.Sorted(maps.Keys(byType)) {
		mr := byType[t]
		mr.finish(r.examples)
		r.Messages = append(r.Messages, mr)
	}
	if err := r.collectSeries(m, records); err != nil {
		return nil, err
	}
	return r, nil
}

// read takes one record of the capture.
func (r *Report) read(rec capture.Record, infos map[string]*collector.MessageInfo, byType map[string]*MessageReport) {
	r.Frames++
	if r.First.IsZero() || rec.ReceivedAt.Before(r.First) {
		r.First = rec.ReceivedAt
	}
	if rec.ReceivedAt.After(r.Last) {
		r.Last = rec.ReceivedAt
	}
	env, err := protocol.DecodeEnvelope([]byte(rec.Frame))
	if err != nil {
		r.Malformed++
		return
	}
	if env.MessageType == protocol.MessageTypeConnection {
		r.ConnectionEvents++
		return
	}
	mr := byType[env.MessageType]
	if mr == nil {
		mr = &MessageReport{
			Type:     env.MessageType,
			info:     infos[env.MessageType],
			sections: map[string]*SectionReport{},
			keys:     map[string]*fieldAcc{},
		}
		mr.Mapped = mr.info != nil
		if mr.info != nil {
			for i := range mr.info.Sections {
				s := &mr.info.Sections[i]
				mr.sections[s.Path] = &SectionReport{Path: s.Path, Mapped: true, Key: s.Key, info: s}
			}
		}
		byType[env.MessageType] = mr
	}
	mr.Frames++

	payload, err := env.Payload()
	if err != nil || payload == nil {
		if err != nil {
			r.Malformed++
		}
		return
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(payload, &data); err != nil {
		mr.NotObject++
		return
	}
	mr.walk(data, "")
}

// walk files every key of obj, the object at path prefix of Data: into
// the sections of the mapping, lists of objects the mapping lacks, or
// unmapped keys.
func (mr *MessageReport) walk(obj map[string]json.RawMessage, prefix string) {
	for key, raw := range obj {
		path := prefix + key
		if s := mr.sections[path]; s != nil && s.Mapped {
			if !isNull(raw) {
				s.add(raw)
			}
			continue
		}
		if mr.ignored(path) {
			continue
		}
		if items, ok := listOfObjects(raw); ok {
			s := mr.sections[path]
			if s == nil {
				s = &SectionReport{Path: path}
				mr.sections[path] = s
			}
			s.occurrences = append(s.occurrences, occurrence{items: items})
			continue
		}
		var inner map[string]json.RawMessage
		if len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, &inner) == nil {
			mr.walk(inner, path+".")
			continue
		}
		f := mr.keys[path]
		if f == nil {
			f = newFieldAcc(path)
			mr.keys[path] = f
		}
		f.observe("", raw)
	}
}

// ignored reports whether the mapping ignores path or a key above it.
func (mr *MessageReport) ignored(path string) bool {
	if mr.info == nil {
		return false
	}
	return slices.ContainsFunc(mr.info.Ignore, func(p string) bool {
		return path == p || strings.HasPrefix(path, p+".")
	})
}

// add records one occurrence of a mapped section; a value that is no
// list of objects is kept as an empty one (the mapping refuses it).
func (s *SectionReport) add(raw json.RawMessage) {
	items, _ := listOfObjects(raw)
	s.occurrences = append(s.occurrences, occurrence{items: items})
}

// listOfObjects returns raw as a list of objects; an empty list counts.
func listOfObjects(raw json.RawMessage) ([]map[string]json.RawMessage, bool) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil ||
		slices.ContainsFunc(items, func(i map[string]json.RawMessage) bool { return i == nil }) {
		return nil, false
	}
	return items, true
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// finish analyzes what the frames of the type held.
func (mr *MessageReport) finish(examples int) {
	var mapped, found []*SectionReport
	for _, s := range mr.sections {
		if s.Mapped {
			mapped = append(mapped, s)
		} else {
			found = append(found, s)
		}
	}
	byPath := func(a, b *SectionReport) int { return strings.Compare(a.Path, b.Path) }
	slices.SortFunc(mapped, byPath)
	slices.SortFunc(found, byPath)
	mr.Sections = append(mapped, found...)
	for _, s := range mr.Sections {
		s.finish(examples)
	}
	for _, p := range slices.Sorted(maps.Keys(mr.keys)) {
		mr.UnmappedKeys = append(mr.UnmappedKeys, mr.keys[p].report(examples))
	}
}

// finish guesses the key of a section the mapping lacks, then sorts the
// fields of its entities into mapped, missing and unmapped.
func (s *SectionReport) finish(examples int) {
	if !s.Mapped {
		s.Key = guessKey(s.occurrences)
	}
	known := map[string]bool{}
	if s.info != nil {
		for _, f := range s.info.Fields {
			known[f] = true
		}
	}
	fields := map[string]*fieldAcc{}
	entities := map[string]bool{}
	seenFields := map[string]bool{}
	for _, occ := range s.occurrences {
		s.MostPerMessage = max(s.MostPerMessage, len(occ.items))
		for _, item := range occ.items {
			key, ok := entityKey(item, s.Key)
			if !ok {
				s.WithoutKey++
				continue
			}
			if !entities[key] && len(s.ExampleKeys) < examples {
				s.ExampleKeys = append(s.ExampleKeys, strings.ReplaceAll(key, "\x00", "/"))
			}
			entities[key] = true
			for field, raw := range item {
				seenFields[field] = true
				if known[field] {
					continue
				}
				f := fields[field]
				if f == nil {
					f = newFieldAcc(field)
					fields[field] = f
				}
				f.observe(key, raw)
			}
		}
	}
	s.Entities = len(entities)
	if s.info != nil {
		for _, f := range s.info.Read {
			if !seenFields[f] {
				s.Missing = append(s.Missing, f)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if slices.Contains(s.Key, name) {
			continue
		}
		s.Unmapped = append(s.Unmapped, fields[name].report(examples))
	}
	s.Renamed = guessRenames(s.Missing, s.Unmapped)
}

// entityKey returns the key fields of item joined, or false when one is
// missing, empty or not a scalar.
func entityKey(item map[string]json.RawMessage, key []string) (string, bool) {
	if len(key) == 0 {
		return "", false
	}
	parts := make([]string, len(key))
	for i, k := range key {
		text, kind := scalar(item[k])
		if kind == kindEmpty || kind == kindNested {
			return "", false
		}
		parts[i] = text
	}
	return strings.Join(parts, "\x00"), true
}

// guessKey picks the field that identifies the entities of a section:
// present, scalar and distinct in every item of every message. Names
// ending in Id, ID or Key go first.
func guessKey(occs []occurrence) []string {
	candidates := map[string]bool{}
	first := true
	for _, occ := range occs {
		for _, item := range occ.items {
			if first {
				for f := range item {
					candidates[f] = true
				}
				first = false
			}
			for f := range candidates {
				if _, ok := item[f]; !ok {
					delete(candidates, f)
				}
			}
		}
	}
	for _, occ := range occs {
		for f := range candidates {
			seen := map[string]bool{}
			for _, item := range occ.items {
				text, kind := scalar(item[f])
				if kind == kindEmpty || kind == kindNested || seen[text] {
					delete(candidates, f)
					break
				}
				seen[text] = true
			}
		}
	}
	names := slices.Sorted(maps.Keys(candidates))
	sort.SliceStable(names, func(i, j int) bool { return identityName(names[i]) && !identityName(names[j]) })
	if len(names) == 0 {
		return nil
	}
	return names[:1]
}

// guessRenames pairs each missing field with an unmapped one when the
// words of one name hold the words of the other.
func guessRenames(missing []string, unmapped []*FieldReport) map[string]string {
	var out map[string]string
	for _, m := range missing {
		mw := "_" + collector.SnakeCase(m) + "_"
		for _, u := range unmapped {
			uw := "_" + collector.SnakeCase(u.Name) + "_"
			if strings.Contains(uw, mw) || strings.Contains(mw, uw) {
				if out == nil {
					out = map[string]string{}
				}
				out[m] = u.Name
				break
			}
		}
	}
	return out
}
