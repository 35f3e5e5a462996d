package explain

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/acqueon-exporter/acqueon_exporter/collector"
)

// reservedLabels are label names a mapping must not use.
var reservedLabels = []string{"type", "job", "instance", "cluster", "env"}

// Fragment returns YAML in the schema of the mapping file that maps what
// the mapping lacks: a metric for every unmapped field of a section that
// can be read as one, an ignore entry for the others, whole sections for
// lists of objects the mapping does not name, and whole message types for
// types it does not know. Merge (or an operator's editor) adds it to the
// mapping. It returns nil when there is nothing to add.
func (r *Report) Fragment() []byte {
	messages := mappingNode()
	for _, mr := range r.Messages {
		if node := r.messageFragment(mr); node != nil {
			messages.Content = append(messages.Content, str(mr.Type), node)
		}
	}
	if len(messages.Content) == 0 {
		return nil
	}
	doc := mappingNode("messages", messages)
	doc.HeadComment = fmt.Sprintf("Suggested by acqueon_exporter mapping explain, from %s against %s.\n"+
		"Names, kinds and help are guesses: edit them. Merge it into the mapping:\n"+
		"under a section the mapping has (same path), add the metrics and ignore\n"+
		"entries; add new sections and message types whole.", r.Capture, r.Mapping)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		// Nodes built here always encode; a failure is a bug.
		panic(fmt.Sprintf("encode mapping fragment: %v", err))
	}
	_ = enc.Close()
	return out.Bytes()
}

func (r *Report) messageFragment(mr *MessageReport) *yaml.Node {
	var ignore []string
	for _, k := range mr.UnmappedKeys {
		ignore = append(ignore, k.Name)
	}
	sections := &yaml.Node{Kind: yaml.SequenceNode}
	for _, s := range mr.Sections {
		node, ignored := r.sectionFragment(s)
		if ignored {
			ignore = append(ignore, s.Path)
		}
		if node != nil {
			sections.Content = append(sections.Content, node)
		}
	}
	if len(ignore) == 0 && len(sections.Content) == 0 {
		return nil
	}
	node := mappingNode()
	if len(ignore) > 0 {
		key := str("ignore")
		key.HeadComment = "Keys of Data that hold no usable list of objects: a mapping can only ignore them."
		node.Content = append(node.Content, key, strList(ignore))
	}
	if len(sections.Content) > 0 {
		node.Content = append(node.Content, str("sections"), sections)
	}
	return node
}

// sectionFragment returns the fragment of one section, or ignored true
// when the mapping had better ignore the whole list.
func (r *Report) sectionFragment(s *SectionReport) (node *yaml.Node, ignored bool) {
	if !s.Mapped && (len(s.Key) == 0 || s.Entities == 0) {
		return nil, true
	}
	if s.Mapped && len(s.Unmapped) == 0 {
		return nil, false
	}
	singular := singularOf(s.Path)
	labels := &yaml.Node{Kind: yaml.SequenceNode}
	taken := map[string]bool{}
	if s.Mapped {
		for _, l := range s.info.Labels {
			labels.Content = append(labels.Content, labelNode(l.Field, l.Label, l.Optional))
			taken[l.Label] = true
		}
	} else {
		for _, k := range s.Key {
			labels.Content = append(labels.Content, labelNode(k, labelName(k, singular, taken), false))
		}
	}

	var metrics, ignore []*yaml.Node
	var identity []*FieldReport
	for _, f := range s.Unmapped {
		switch {
		case f.Kind == KindEmpty || f.Kind == KindNested:
			n := str(f.Name)
			n.LineComment = f.Why
			ignore = append(ignore, n)
		case !s.Mapped && f.Kind == KindLabel:
			identity = append(identity, f)
		default:
			m := r.metricNode(singular, f, taken)
			for missing, renamed := range s.Renamed {
				if renamed == f.Name {
					m.HeadComment += fmt.Sprintf("\nThe mapping reads %s, which the capture lacks: if %s is its new name, "+
						"change that entry's field instead of adding this one.", missing, f.Name)
				}
			}
			metrics = append(metrics, m)
		}
	}
	if !s.Mapped {
		metrics = append([]*yaml.Node{r.infoNode(singular, s.Path, identity, taken)}, metrics...)
	}

	node = mappingNode("path", str(s.Path), "key", strList(s.Key), "labels", labels)
	if s.Mapped {
		node.HeadComment = fmt.Sprintf("Section %s of the mapping: add what follows to it (key and labels are the mapping's).", s.Path)
	} else {
		node.HeadComment = fmt.Sprintf("Section %s is not in the mapping; key guessed: %s.", s.Path, strings.Join(s.Key, ", "))
	}
	if len(ignore) > 0 {
		node.Content = append(node.Content, str("ignore"), &yaml.Node{Kind: yaml.SequenceNode, Content: ignore})
	}
	if len(metrics) > 0 {
		node.Content = append(node.Content, str("metrics"), &yaml.Node{Kind: yaml.SequenceNode, Content: metrics})
	}
	return node, false
}

// metricNode suggests a metric for a field of kind counter, gauge, bool,
// state or label.
func (r *Report) metricNode(singular string, f *FieldReport, taken map[string]bool) *yaml.Node {
	words := collector.SnakeCase(f.Name)
	base := "acqueon_" + singular + "_" + strings.TrimPrefix(sanitize(words), singular+"_")
	base = strings.TrimSuffix(base, "_total")
	what := capitalize(strings.ReplaceAll(words, "_", " ")) + " of the " + strings.ReplaceAll(singular, "_", " ")
	comment := fmt.Sprintf("guessed %s: %s; e.g. %s", f.Kind, f.Why, strings.Join(f.Examples, ", "))

	var m *yaml.Node
	switch f.Kind {
	case KindCounter:
		m = mappingNode("name", str(r.uniqueName(base, "_total")),
			"help", str(fmt.Sprintf("%s, counting up from its last reset (vendor field %s).", what, f.Name)),
			"type", str("counter"), "field", str(f.Name))
	case KindGauge:
		m = mappingNode("name", str(r.uniqueName(base, "")),
			"help", str(fmt.Sprintf("%s (vendor field %s).", what, f.Name)),
			"type", str("gauge"), "field", str(f.Name))
	case KindBool:
		m = mappingNode("name", str(r.uniqueName(base, "")),
			"help", str(fmt.Sprintf("%s, 1 for true and 0 for false (vendor field %s).", what, f.Name)),
			"type", str("gauge"), "field", str(f.Name))
	case KindState:
		if known := knownStates(f.Values); len(known) > 0 {
			state := mappingNode("field", str(f.Name), "label", str(labelName(f.Name, singular, maps1(taken))),
				"transform", str("snake_case"), "known", strList(known))
			m = mappingNode("name", str(r.uniqueName(base, "")),
				"help", str(fmt.Sprintf("%s, 1 for the current value (vendor field %s).", what, f.Name)),
				"type", str("gauge"), "state", state)
			break
		}
		fallthrough
	default:
		label := labelNode(f.Name, labelName(f.Name, singular, maps1(taken)), false)
		m = mappingNode("name", str(r.uniqueName(base, "_info")),
			"help", str(fmt.Sprintf("%s as a label, always 1 (vendor field %s).", what, f.Name)),
			"type", str("gauge"), "labels", &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{label}})
	}
	m.HeadComment = comment
	return m
}

// infoNode suggests the info metric of a new section: one series per
// entity, with its identity fields as labels.
func (r *Report) infoNode(singular, path string, identity []*FieldReport, taken map[string]bool) *yaml.Node {
	labels := &yaml.Node{Kind: yaml.SequenceNode}
	var fields []string
	for _, f := range identity {
		labels.Content = append(labels.Content, labelNode(f.Name, labelName(f.Name, singular, taken), false))
		fields = append(fields, f.Name)
	}
	help := fmt.Sprintf("One series for each entry of %s, always 1.", path)
	if len(fields) > 0 {
		help = fmt.Sprintf("Identity of the %s, always 1 (vendor fields %s).",
			strings.ReplaceAll(singular, "_", " "), strings.Join(fields, ", "))
	}
	m := mappingNode("name", str(r.uniqueName("acqueon_"+singular, "_info")), "help", str(help), "type", str("gauge"))
	if len(labels.Content) > 0 {
		m.Content = append(m.Content, str("labels"), labels)
	}
	return m
}

// knownStates returns the state values (JSON text) as the vendor sends
// them, leaving out those whose label value would be empty or repeat one.
func knownStates(values []string) []string {
	var known, labels []string
	for _, v := range values {
		text, err := strconv.Unquote(v)
		if err != nil {
			text = v
		}
		l := collector.SnakeCase(text)
		if l == "" || slices.Contains(labels, l) {
			continue
		}
		known, labels = append(known, text), append(labels, l)
	}
	return known
}

// uniqueName returns base+suffix, or base_2+suffix and so on when the
// mapping or an earlier suggestion uses the name.
func (r *Report) uniqueName(base, suffix string) string {
	name := base + suffix
	for i := 2; r.taken[name]; i++ {
		name = base + "_" + strconv.Itoa(i) + suffix
	}
	r.taken[name] = true
	return name
}

// labelName returns a label name for field that taken does not hold and
// that is not reserved, and adds it to taken.
func labelName(field, singular string, taken map[string]bool) string {
	base := sanitize(collector.SnakeCase(field))
	if slices.Contains(reservedLabels, base) || taken[base] {
		base = singular + "_" + base
	}
	name := base
	for i := 2; taken[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	taken[name] = true
	return name
}

// maps1 copies taken, so that a label of one metric does not keep
// another metric from using the same name.
func maps1(taken map[string]bool) map[string]bool {
	out := make(map[string]bool, len(taken))
	for k, v := range taken {
		out[k] = v
	}
	return out
}

// singularOf returns the snake-case singular of a section path's last
// key: Campaigns gives campaign, AgentStates agent_state, Categories
// category.
func singularOf(path string) string {
	last := path[strings.LastIndex(path, ".")+1:]
	s := sanitize(collector.SnakeCase(last))
	switch {
	case strings.HasSuffix(s, "ies"):
		return strings.TrimSuffix(s, "ies") + "y"
	case strings.HasSuffix(s, "sses"), strings.HasSuffix(s, "xes"),
		strings.HasSuffix(s, "ches"), strings.HasSuffix(s, "shes"):
		return strings.TrimSuffix(s, "es")
	case strings.HasSuffix(s, "ss"):
		return s
	case strings.HasSuffix(s, "s") && len(s) > 1:
		return strings.TrimSuffix(s, "s")
	}
	return s
}

// sanitize keeps lower-case ASCII letters, digits and single
// underscores, so the result is part of a valid metric or label name.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
			b.WriteByte('_')
		}
	}
	out := strings.TrimSuffix(b.String(), "_")
	switch {
	case out == "":
		return "field"
	case out[0] >= '0' && out[0] <= '9':
		return "f" + out
	}
	return out
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// YAML node helpers. Scalars carry their tag, so that a value such as
// "true" or "12" stays a string.

func str(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

func strList(vs []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, v := range vs {
		n.Content = append(n.Content, str(v))
	}
	return n
}

// mappingNode builds a mapping from key, value pairs.
func mappingNode(pairs ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(pairs); i += 2 {
		n.Content = append(n.Content, str(pairs[i].(string)), pairs[i+1].(*yaml.Node))
	}
	return n
}

func labelNode(field, label string, optional bool) *yaml.Node {
	n := mappingNode("field", str(field), "label", str(label))
	if optional {
		n.Content = append(n.Content, str("optional"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
	}
	n.Style = yaml.FlowStyle
	return n
}

// Merge adds a fragment of Fragment to the YAML of a mapping and returns
// the result: a section's ignore entries and metrics go into the section
// of the mapping with the same path, message ignore entries into the
// message's, and sections and message types the mapping lacks are added
// whole. Comments of the mapping are kept.
func Merge(mapping, fragment []byte) ([]byte, error) {
	var base, frag yaml.Node
	if err := yaml.Unmarshal(mapping, &base); err != nil {
		return nil, fmt.Errorf("merge: read mapping: %w", err)
	}
	if err := yaml.Unmarshal(fragment, &frag); err != nil {
		return nil, fmt.Errorf("merge: read fragment: %w", err)
	}
	baseMessages, fragMessages := lookup(root(&base), "messages"), lookup(root(&frag), "messages")
	if baseMessages == nil || fragMessages == nil ||
		baseMessages.Kind != yaml.MappingNode || fragMessages.Kind != yaml.MappingNode {
		return nil, errors.New("merge: mapping and fragment must both have messages")
	}
	for i := 0; i+1 < len(fragMessages.Content); i += 2 {
		mergeMessage(baseMessages, fragMessages.Content[i], fragMessages.Content[i+1])
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&base); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	return out.Bytes(), nil
}

func mergeMessage(messages, key, frag *yaml.Node) {
	msg := lookup(messages, key.Value)
	if msg == nil || msg.Kind != yaml.MappingNode {
		if msg != nil {
			*msg = *frag
			return
		}
		messages.Content = append(messages.Content, key, frag)
		return
	}
	appendList(msg, "ignore", lookup(frag, "ignore"))
	fragSections := lookup(frag, "sections")
	if fragSections == nil {
		return
	}
	sections := lookup(msg, "sections")
	if sections == nil {
		msg.Content = append(msg.Content, str("sections"), fragSections)
		return
	}
	for _, fs := range fragSections.Content {
		path := lookup(fs, "path")
		i := slices.IndexFunc(sections.Content, func(s *yaml.Node) bool {
			p := lookup(s, "path")
			return p != nil && path != nil && p.Value == path.Value
		})
		if i < 0 {
			sections.Content = append(sections.Content, fs)
			continue
		}
		appendList(sections.Content[i], "ignore", lookup(fs, "ignore"))
		appendList(sections.Content[i], "metrics", lookup(fs, "metrics"))
	}
}

// appendList appends the items of list to the list under key of m,
// creating it when absent.
func appendList(m *yaml.Node, key string, list *yaml.Node) {
	if list == nil {
		return
	}
	existing := lookup(m, key)
	if existing == nil {
		m.Content = append(m.Content, str(key), list)
		return
	}
	existing.Content = append(existing.Content, list.Content...)
}

func root(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		return doc.Content[0]
	}
	return doc
}

// lookup returns the value of key in the mapping m, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
