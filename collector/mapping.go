package collector

import (
	_ "embed"
	"fmt"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed default_mapping.yml
var defaultMappingYAML []byte

// DefaultMappingName is the file name that errors and logs give the
// embedded default mapping.
const DefaultMappingName = "default_mapping.yml"

// DefaultMapping returns the text of the embedded default mapping, as a
// starting point for a deployment's own file.
func DefaultMapping() []byte { return slices.Clone(defaultMappingYAML) }

// Mapping says how the payloads of the feed become metrics: per message
// type, where the entities are, which of their fields identify them, which
// become labels and which become samples. It is built from YAML (see
// MAPPING.md) and never changes once built, so one Mapping may serve any
// number of collectors.
type Mapping struct {
	name     string
	messages map[string]*messageRule
	types    []string // message types, sorted
}

// messageRule maps the Data object of one message type.
type messageRule struct {
	messageType string
	sections    []*sectionRule
	// tree holds the section paths and the ignored paths of Data, so one
	// walk over Data finds the sections and counts what is unmapped.
	tree *pathNode
}

// pathNode is one key on the way down from Data to a section.
type pathNode struct {
	children map[string]*pathNode
	section  int // index into messageRule.sections; -1 for none
	ignored  bool
}

// sectionRule maps one list of entities (campaigns, queues, ...).
type sectionRule struct {
	path    string
	key     []string
	labels  []labelRule
	metrics []*metricRule
	// known holds every field the rule reads or deliberately ignores;
	// the others count as unmapped.
	known map[string]bool
}

// labelRule turns one field into one label.
type labelRule struct {
	field    string
	name     string
	optional bool
	snake    bool
	values   map[string]string
}

// value returns the label value for the field's text: the value map
// first, then the transform.
func (r *labelRule) value(s string) string {
	if v, ok := r.values[s]; ok {
		return v
	}
	if r.snake {
		return snakeCase(s)
	}
	return s
}

// metricRule makes one metric (or, with fixed labels, one part of it)
// from each entity.
type metricRule struct {
	name    string
	help    string
	counter bool
	field   string // "" means the sample is the constant 1
	scale   float64
	// divisor is 1/scale when that is a whole number: dividing by 100
	// gives 0.0132 for 1.32 percent where multiplying by 0.01 would not.
	divisor float64
	values  map[string]float64
	labels  []labelRule
	fixed   []fixedLabel // sorted by name
	state   *stateRule
}

type fixedLabel struct{ name, value string }

// stateRule makes one series per known value of a field, 1 for the
// entity's current value and 0 for the others.
type stateRule struct {
	label labelRule
	known []string // label values, transformed
}

// LoadMapping reads a mapping file; an empty path gives the embedded
// default.
func LoadMapping(path string) (*Mapping, error) {
	if path == "" {
		return ParseMapping(DefaultMappingName, defaultMappingYAML)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read mapping: %w", err)
	}
	return ParseMapping(path, data)
}

// ParseMapping builds a Mapping from YAML. name is the file name used in
// errors, which are *MappingError values reading "name:line: reason".
func ParseMapping(name string, data []byte) (*Mapping, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, mappingError(name, err)
	}
	if len(doc.Content) == 0 {
		return nil, &MappingError{File: name, Line: 1, Reason: "the mapping is empty"}
	}
	var spec fileSpec
	if err := doc.Content[0].Decode(&spec); err != nil {
		return nil, mappingError(name, err)
	}
	m, err := compileMapping(name, &spec)
	if err != nil {
		return nil, mappingError(name, err)
	}
	return m, nil
}

// Name returns the file name the mapping was read from.
func (m *Mapping) Name() string { return m.name }

// MessageTypes returns the message types the mapping turns into metrics.
func (m *Mapping) MessageTypes() []string { return slices.Clone(m.types) }

// MetricNames returns the names of the vendor metrics the mapping makes,
// sorted.
func (m *Mapping) MetricNames() []string {
	var names []string
	m.eachMetric(func(_ *sectionRule, r *metricRule) { names = append(names, r.name) })
	sort.Strings(names)
	return slices.Compact(names)
}

// OptionalLabels returns the names of the labels that are off unless
// Options.OptionalLabels turns them on, sorted.
func (m *Mapping) OptionalLabels() []string {
	var names []string
	m.eachMetric(func(s *sectionRule, r *metricRule) {
		for _, l := range slices.Concat(s.labels, r.labels) {
			if l.optional {
				names = append(names, l.name)
			}
		}
	})
	sort.Strings(names)
	return slices.Compact(names)
}

func (m *Mapping) eachMetric(f func(*sectionRule, *metricRule)) {
	for _, t := range m.types {
		for _, s := range m.messages[t].sections {
			for _, r := range s.metrics {
				f(s, r)
			}
		}
	}
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// reservedLabels are label names that Prometheus or common practice give
// another meaning, so a mapping must not use them.
var reservedLabels = []string{"type", "job", "instance", "cluster", "env"}

// selfMetricPrefix starts the exporter's own metrics, which the mapping
// must not shadow.
const selfMetricPrefix = "acqueon_exporter_"

const transformSnakeCase = "snake_case"

// metricFamily is what all entries sharing a metric name must agree on.
type metricFamily struct {
	line   int
	help   string
	labels string // label names, sorted, optional ones marked
	series map[string]int
}

func compileMapping(name string, spec *fileSpec) (*Mapping, error) {
	if len(spec.Messages) == 0 {
		return nil, errorAt(spec.at.at("messages"), "no message types under messages")
	}
	m := &Mapping{name: name, messages: map[string]*messageRule{}}
	for t := range spec.Messages {
		m.types = append(m.types, t)
	}
	sort.Strings(m.types)

	families := map[string]*metricFamily{}
	for _, t := range m.types {
		rule, err := compileMessage(t, spec.Messages[t], spec.at.at("messages"), families)
		if err != nil {
			return nil, err
		}
		m.messages[t] = rule
	}
	return m, nil
}

func compileMessage(
	messageType string,
	spec *messageSpec,
	line int,
	families map[string]*metricFamily,
) (*messageRule, error) {
	if spec == nil {
		// A type listed without sections: its frames are known, and every
		// key of their Data counts as unmapped.
		spec = &messageSpec{at: position{line: line}}
	}
	if strings.TrimSpace(messageType) != messageType || messageType == "" {
		return nil, errorAt(spec.at.line, "message type %q has surrounding white space or is empty", messageType)
	}
	rule := &messageRule{messageType: messageType, tree: &pathNode{section: -1}}

	for _, p := range spec.Ignore {
		if err := rule.tree.insert(p, -1); err != nil {
			return nil, errorAt(spec.at.at("ignore"), "ignore: %v", err)
		}
	}
	for i, s := range spec.Sections {
		if s == nil {
			return nil, errorAt(spec.at.at("sections"), "empty section")
		}
		if err := rule.tree.insert(s.Path, i); err != nil {
			return nil, errorAt(s.at.at("path"), "path: %v", err)
		}
		section, err := compileSection(s, families)
		if err != nil {
			return nil, err
		}
		rule.sections = append(rule.sections, section)
	}
	return rule, nil
}

// insert adds a section path (section >= 0) or an ignored path.
func (n *pathNode) insert(path string, section int) error {
	keys := strings.Split(path, ".")
	if slices.Contains(keys, "") {
		return fmt.Errorf("%q is not a dotted path of keys", path)
	}
	for i, k := range keys {
		if n.children == nil {
			n.children = map[string]*pathNode{}
		}
		child := n.children[k]
		last := i == len(keys)-1
		switch {
		case child == nil:
			child = &pathNode{section: -1}
			n.children[k] = child
		case last || child.section >= 0 || child.ignored:
			return fmt.Errorf("%q overlaps another section or ignored path", path)
		}
		n = child
	}
	n.section = section
	n.ignored = section < 0
	return nil
}

func compileSection(spec *sectionSpec, families map[string]*metricFamily) (*sectionRule, error) {
	s := &sectionRule{path: spec.Path, known: map[string]bool{}}

	labelNames := map[string]bool{}
	for _, ls := range spec.Labels {
		l, err := compileLabel(ls, spec.at.at("labels"), labelNames)
		if err != nil {
			return nil, err
		}
		s.labels = append(s.labels, l)
		s.known[l.field] = true
	}

	if len(spec.Key) == 0 {
		return nil, errorAt(spec.at.at("key"), "section %q has no key fields", spec.Path)
	}
	for _, k := range spec.Key {
		i := slices.IndexFunc(s.labels, func(l labelRule) bool { return l.field == k })
		switch {
		case slices.Contains(s.key, k):
			return nil, errorAt(spec.at.at("key"), "key field %q is listed twice", k)
		case i < 0 || s.labels[i].optional:
			// Series of two entities would collide if a key field were not a label.
			return nil, errorAt(spec.at.at("key"), "key field %q must also be a label that is not optional", k)
		}
		s.key = append(s.key, k)
	}

	if len(spec.Metrics) == 0 {
		return nil, errorAt(spec.at.line, "section %q has no metrics", spec.Path)
	}
	for _, ms := range spec.Metrics {
		if ms == nil {
			return nil, errorAt(spec.at.at("metrics"), "empty metric")
		}
		r, err := compileMetric(ms, s, labelNames)
		if err != nil {
			return nil, err
		}
		if err := checkFamily(families, s, r, ms.at); err != nil {
			return nil, err
		}
		s.metrics = append(s.metrics, r)
		for _, f := range r.fields() {
			s.known[f] = true
		}
	}

	for _, f := range spec.Ignore {
		if f == "" || s.known[f] {
			return nil, errorAt(spec.at.at("ignore"), "ignored field %q is empty or mapped as well", f)
		}
		s.known[f] = true
	}
	return s, nil
}

// fields returns the fields a metric rule reads.
func (r *metricRule) fields() []string {
	var fields []string
	if r.field != "" {
		fields = append(fields, r.field)
	}
	for _, l := range r.labels {
		fields = append(fields, l.field)
	}
	if r.state != nil {
		fields = append(fields, r.state.label.field)
	}
	return fields
}

func compileLabel(spec *labelSpec, line int, taken map[string]bool) (labelRule, error) {
	if spec == nil {
		return labelRule{}, errorAt(line, "empty label")
	}
	if spec.Field == "" {
		return labelRule{}, errorAt(spec.at.line, "label has no field")
	}
	snake, err := transform(spec.Transform, spec.at.at("transform"))
	if err != nil {
		return labelRule{}, err
	}
	if err := checkLabelName(spec.Label, spec.at.at("label"), taken); err != nil {
		return labelRule{}, err
	}
	return labelRule{
		field:    spec.Field,
		name:     spec.Label,
		optional: spec.Optional,
		snake:    snake,
		values:   spec.Values,
	}, nil
}

func transform(name string, line int) (snake bool, err error) {
	switch name {
	case "":
		return false, nil
	case transformSnakeCase:
		return true, nil
	}
	return false, errorAt(line, "unknown transform %q (want %s)", name, transformSnakeCase)
}

// checkLabelName refuses invalid, reserved and repeated label names; taken
// holds the names already in use on the same series and gets name added.
func checkLabelName(name string, line int, taken map[string]bool) error {
	switch {
	case !labelNameRE.MatchString(name) || strings.HasPrefix(name, "__"):
		return errorAt(line, "invalid label name %q", name)
	case slices.Contains(reservedLabels, name):
		return errorAt(line, "label name %q is reserved", name)
	case taken[name]:
		return errorAt(line, "label name %q is used twice on the same metric", name)
	}
	taken[name] = true
	return nil
}

func compileMetric(spec *metricSpec, s *sectionRule, sectionLabels map[string]bool) (*metricRule, error) {
	r := &metricRule{name: spec.Name, help: spec.Help, field: spec.Field, scale: 1, divisor: 1, values: spec.Values}

	if err := checkMetricName(spec); err != nil {
		return nil, err
	}
	r.counter = spec.Type == "counter"
	if err := r.compileValue(spec); err != nil {
		return nil, err
	}

	taken := maps.Clone(sectionLabels)
	for _, ls := range spec.Labels {
		l, err := compileLabel(ls, spec.at.at("labels"), taken)
		if err != nil {
			return nil, err
		}
		r.labels = append(r.labels, l)
	}
	for _, name := range slices.Sorted(maps.Keys(spec.FixedLabels)) {
		if err := checkLabelName(name, spec.at.at("fixed_labels"), taken); err != nil {
			return nil, err
		}
		r.fixed = append(r.fixed, fixedLabel{name: name, value: spec.FixedLabels[name]})
	}
	if spec.State != nil {
		st, err := compileState(spec.State, taken)
		if err != nil {
			return nil, err
		}
		r.state = st
	}

	return r, r.checkHelp(spec)
}

func checkMetricName(spec *metricSpec) error {
	line := spec.at.at("name")
	switch {
	case !metricNameRE.MatchString(spec.Name):
		return errorAt(line, "invalid metric name %q", spec.Name)
	case strings.HasPrefix(spec.Name, selfMetricPrefix):
		return errorAt(line, "metric name %q is reserved for the exporter's own metrics", spec.Name)
	case spec.Help == "":
		return errorAt(spec.at.line, "metric %q has no help", spec.Name)
	}
	switch spec.Type {
	case "counter":
		if !strings.HasSuffix(spec.Name, "_total") {
			return errorAt(line, "counter %q must end in _total", spec.Name)
		}
	case "gauge":
		if strings.HasSuffix(spec.Name, "_total") {
			return errorAt(line, "gauge %q must not end in _total", spec.Name)
		}
	default:
		return errorAt(spec.at.at("type"), "metric %q has type %q, want gauge or counter", spec.Name, spec.Type)
	}
	return nil
}

// compileValue checks what makes the sample: a field with its scale and
// value map, a state, or neither (the constant 1).
func (r *metricRule) compileValue(spec *metricSpec) error {
	if spec.Field == "" && (spec.Scale != nil || spec.Values != nil) {
		return errorAt(spec.at.line, "metric %q has scale or values but no field", spec.Name)
	}
	if spec.Field != "" && spec.State != nil {
		return errorAt(spec.at.at("state"), "metric %q has both field and state", spec.Name)
	}
	if spec.Scale != nil {
		r.scale = *spec.Scale
		if r.scale == 0 || math.IsNaN(r.scale) || math.IsInf(r.scale, 0) {
			return errorAt(spec.at.at("scale"), "metric %q has scale %v, want a finite number other than 0", spec.Name, r.scale)
		}
		r.divisor = 0
		if d := 1 / r.scale; d == math.Round(d) {
			r.divisor = d
		}
	}
	for k, v := range spec.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return errorAt(spec.at.at("values"), "metric %q maps %q to %v, want a finite number", spec.Name, k, v)
		}
	}
	return nil
}

// checkHelp makes sure the help text names the vendor fields the metric
// comes from, so a reader of /metrics can find them in the feed.
func (r *metricRule) checkHelp(spec *metricSpec) error {
	fields := r.fields()
	if len(fields) == 0 || slices.ContainsFunc(fields, func(f string) bool { return strings.Contains(r.help, f) }) {
		return nil
	}
	return errorAt(spec.at.at("help"), "help of %q must name the vendor field it comes from (%s)",
		r.name, strings.Join(fields, ", "))
}

func compileState(spec *stateSpec, taken map[string]bool) (*stateRule, error) {
	if spec.Field == "" {
		return nil, errorAt(spec.at.line, "state has no field")
	}
	snake, err := transform(spec.Transform, spec.at.at("transform"))
	if err != nil {
		return nil, err
	}
	if err := checkLabelName(spec.Label, spec.at.at("label"), taken); err != nil {
		return nil, err
	}
	st := &stateRule{label: labelRule{field: spec.Field, name: spec.Label, snake: snake, values: spec.Values}}
	if len(spec.Known) == 0 {
		return nil, errorAt(spec.at.line, "state of %q lists no known values", spec.Field)
	}
	for _, k := range spec.Known {
		v := st.label.value(k)
		if v == "" || slices.Contains(st.known, v) {
			return nil, errorAt(spec.at.at("known"), "known value %q gives the label value %q, empty or given twice", k, v)
		}
		st.known = append(st.known, v)
	}
	return st, nil
}

// checkFamily makes all entries sharing a metric name agree on help and
// label names, and tell their series apart by fixed label values. (They
// agree on the type already: only counters end in _total.)
func checkFamily(families map[string]*metricFamily, s *sectionRule, r *metricRule, at position) error {
	var labels, series []string
	for _, l := range slices.Concat(s.labels, r.labels) {
		name := l.name
		if l.optional {
			name += "?"
		}
		labels = append(labels, name)
	}
	for _, f := range r.fixed {
		labels = append(labels, f.name)
		series = append(series, f.name+"="+f.value)
	}
	if r.state != nil {
		labels = append(labels, r.state.label.name)
	}
	sort.Strings(labels)

	key := strings.Join(series, ",")
	f := families[r.name]
	if f == nil {
		families[r.name] = &metricFamily{
			line:   at.line,
			help:   r.help,
			labels: strings.Join(labels, ","),
			series: map[string]int{key: at.line},
		}
		return nil
	}
	switch {
	case f.help != r.help:
		return errorAt(at.at("help"), "metric %q has a help other than at line %d", r.name, f.line)
	case f.labels != strings.Join(labels, ","):
		return errorAt(at.line, "metric %q has label names other than at line %d", r.name, f.line)
	}
	if prev, ok := f.series[key]; ok {
		return errorAt(at.line, "metric %q repeats the series of line %d: tell them apart with fixed_labels", r.name, prev)
	}
	f.series[key] = at.line
	return nil
}
