package collector

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MappingError is the error of ParseMapping and LoadMapping for a mapping
// file that cannot be used. Its text reads "file:line: reason".
type MappingError struct {
	// File names the mapping (a path, or the name given to ParseMapping).
	File string
	// Line is the 1-based line the reason refers to; 0 when unknown.
	Line int
	// Reason says what is wrong.
	Reason string
}

// Error returns "file:line: reason".
func (e *MappingError) Error() string {
	if e.Line <= 0 {
		return e.File + ": " + e.Reason
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Reason
}

// lineError is a reason tied to a line of the mapping file; ParseMapping
// turns it into a MappingError that names the file too.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func errorAt(line int, format string, args ...any) error {
	return &lineError{line: line, msg: fmt.Sprintf(format, args...)}
}

// yamlLine matches the line number that yaml.v3 puts into its messages.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// mappingError turns any error of parsing or validating into a
// MappingError for file.
func mappingError(file string, err error) *MappingError {
	var le *lineError
	if errors.As(err, &le) {
		return &MappingError{File: file, Line: le.line, Reason: le.msg}
	}
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		// Report the first problem; the others usually follow from it.
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &MappingError{File: file, Line: line, Reason: m[2]}
	}
	return &MappingError{File: file, Reason: strings.TrimPrefix(msg, "yaml: ")}
}

// position remembers where a YAML mapping and each of its keys stood.
type position struct {
	line int
	keys map[string]int
}

// at returns the line of key, or of the mapping when key is absent.
func (p position) at(key string) int {
	if l, ok := p.keys[key]; ok {
		return l
	}
	return p.line
}

// decodeStrict decodes the mapping node into out, a pointer to a struct,
// and refuses any key that out has no yaml field for. yaml.v3 checks
// unknown keys only for a decoder's own structs, not inside Node.Decode,
// so every schema type calls this from its UnmarshalYAML.
func decodeStrict(node *yaml.Node, out any) (position, error) {
	p := position{line: node.Line, keys: map[string]int{}}
	if node.Kind != yaml.MappingNode {
		return p, errorAt(node.Line, "want a mapping, found %s", nodeKind(node))
	}
	allowed := yamlKeys(reflect.TypeOf(out).Elem())
	for i := 0; i+1 < len(node.Content); i += 2 {
		key := node.Content[i]
		if !allowed[key.Value] {
			return p, errorAt(key.Line, "unknown key %q", key.Value)
		}
		p.keys[key.Value] = key.Line
	}
	return p, node.Decode(out)
}

// yamlKeys returns the keys that the exported fields of struct type t take.
func yamlKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys[name] = true
	}
	return keys
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "something else"
}

// The schema of the mapping file, as it is written. Validation and
// compilation into rules happen in mapping.go.

type fileSpec struct {
	Messages map[string]*messageSpec `yaml:"messages"`
	at       position
}

func (s *fileSpec) UnmarshalYAML(n *yaml.Node) (err error) {
	type plain fileSpec
	s.at, err = decodeStrict(n, (*plain)(s))
	return err
}

type messageSpec struct {
	Ignore   []string       `yaml:"ignore"`
	Sections []*sectionSpec `yaml:"sections"`
	at       position
}

func (s *messageSpec) UnmarshalYAML(n *yaml.Node) (err error) {
	type plain messageSpec
	s.at, err = decodeStrict(n, (*plain)(s))
	return err
}

type sectionSpec struct {
	Path    string        `yaml:"path"`
	Key     []string      `yaml:"key"`
	Labels  []*labelSpec  `yaml:"labels"`
	Ignore  []string      `yaml:"ignore"`
	Metrics []*metricSpec `yaml:"metrics"`
	at      position
}

func (s *sectionSpec) UnmarshalYAML(n *yaml.Node) (err error) {
	type plain sectionSpec
	s.at, err = decodeStrict(n, (*plain)(s))
	return err
}

type labelSpec struct {
	Field     string            `yaml:"field"`
	Label     string            `yaml:"label"`
	Optional  bool              `yaml:"optional"`
	Transform string            `yaml:"transform"`
	Values    map[string]string `yaml:"values"`
	at        position
}

func (s *labelSpec) UnmarshalYAML(n *yaml.Node) (err error) {
	type plain labelSpec
	s.at, err = decodeStrict(n, (*plain)(s))
	return err
}

type stateSpec struct {
	Field     string            `yaml:"field"`
	Label     string            `yaml:"label"`
	Transform string            `yaml:"transform"`
	Values    map[string]string `yaml:"values"`
	Known     []string          `yaml:"known"`
	at        position
}

func (s *stateSpec) UnmarshalYAML(n *yaml.Node) (err error) {
	type plain stateSpec
	s.at, err = decodeStrict(n, (*plain)(s))
	return err
}

type metricSpec struct {
	Name        string             `yaml:"name"`
	Help        string             `yaml:"help"`
	Type        string             `yaml:"type"`
	Field       string             `yaml:"field"`
	Scale       *float64           `yaml:"scale"`
	Values      map[string]float64 `yaml:"values"`
	Labels      []*labelSpec       `yaml:"labels"`
	FixedLabels map[string]string  `yaml:"fixed_labels"`
	State       *stateSpec         `yaml:"state"`
	at          position
}

func (s *metricSpec) UnmarshalYAML(n *yaml.Node) (err error) {
	type plain metricSpec
	s.at, err = decodeStrict(n, (*plain)(s))
	return err
}
