package explain

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Kind is the guess at what a field is.
type Kind string

// The kinds of field.
const (
	// KindCounter is numeric and never went down within the capture,
	// except for resets to (near) zero.
	KindCounter Kind = "counter"
	// KindGauge is numeric otherwise.
	KindGauge Kind = "gauge"
	// KindState is a small set of strings, such as a status.
	KindState Kind = "state"
	// KindLabel is an identity or a name: many distinct strings or ids.
	KindLabel Kind = "label"
	// KindBool is true or false.
	KindBool Kind = "bool"
	// KindEmpty had only null or empty values: nothing to tell.
	KindEmpty Kind = "empty"
	// KindNested holds lists or objects, which no metric can read.
	KindNested Kind = "nested"
)

// FieldReport is what the capture held in one field the mapping lacks.
type FieldReport struct {
	// Name is the field's name (a dotted path for a key of Data).
	Name string
	// Kind is the guess at what the field is.
	Kind Kind
	// Why says what the guess rests on.
	Why string
	// Examples holds some distinct values, as JSON text.
	Examples []string
	// Values lists every distinct value of a state, sorted.
	Values []string
	// Seen counts the values that were not null or empty.
	Seen int
}

// The JSON kinds of a single value.
const (
	kindEmpty = iota // missing, null, "" or white space
	kindNumber
	kindNumericString
	kindBool
	kindString
	kindNested
)

// maxStates is the most distinct strings a state field takes.
const maxStates = 12

// maxDistinct bounds the distinct values remembered per field.
const maxDistinct = 1000

// fieldAcc gathers the values of one field over a capture.
type fieldAcc struct {
	name     string
	counts   [kindNested + 1]int
	distinct map[string]bool
	order    []string // distinct values in order of appearance (JSON text)
	entities map[string]bool
	whole    bool // every number is a whole number
	negative bool
	// last holds the previous number of each entity; rises, falls and
	// resets count the changes between them.
	last                 map[string]float64
	rises, falls, resets int
}

func newFieldAcc(name string) *fieldAcc {
	return &fieldAcc{
		name:     name,
		distinct: map[string]bool{},
		entities: map[string]bool{},
		last:     map[string]float64{},
		whole:    true,
	}
}

// observe takes the value raw of the field in the entity with key.
func (f *fieldAcc) observe(key string, raw json.RawMessage) {
	text, kind := scalar(raw)
	f.counts[kind]++
	if kind == kindEmpty {
		return
	}
	f.entities[key] = true
	shown := text
	if kind == kindString || kind == kindNumericString {
		shown = strconv.Quote(text)
	}
	if kind == kindNested {
		shown = string(raw)
	}
	if !f.distinct[shown] && len(f.distinct) < maxDistinct {
		f.distinct[shown] = true
		f.order = append(f.order, shown)
	}
	if kind != kindNumber && kind != kindNumericString {
		return
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil {
		return
	}
	f.whole = f.whole && v == math.Trunc(v)
	f.negative = f.negative || v < 0
	if prev, ok := f.last[key]; ok {
		switch {
		case v > prev:
			f.rises++
		case v < prev && v <= prev/10:
			f.resets++
		case v < prev:
			f.falls++
		}
	}
	f.last[key] = v
}

// scalar returns the text and kind of a JSON value.
func scalar(raw json.RawMessage) (string, int) {
	if isNull(raw) {
		return "", kindEmpty
	}
	switch raw[0] {
	case '{', '[':
		return "", kindNested
	case 't', 'f':
		return string(raw), kindBool
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", kindNested
		}
		t := strings.TrimSpace(s)
		switch {
		case t == "":
			return "", kindEmpty
		case isNumeric(t):
			return s, kindNumericString
		}
		return s, kindString
	}
	return string(raw), kindNumber
}

// isNumeric reports whether s is a decimal number, as the collector
// reads numeric strings.
func isNumeric(s string) bool {
	if strings.ContainsFunc(s, func(r rune) bool { return !strings.ContainsRune("0123456789+-.eE", r) }) {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// identityName reports whether a field's name says it identifies
// something: it ends in Id, ID, Key or Name (or _id, _key, _name).
func identityName(name string) bool {
	for _, suffix := range []string{"Id", "ID", "Key", "Name", "_id", "_key", "_name"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// report guesses the field's kind.
func (f *fieldAcc) report(examples int) *FieldReport {
	r := &FieldReport{Name: f.name, Examples: f.order[:min(examples, len(f.order))]}
	c := f.counts
	r.Seen = c[kindNumber] + c[kindNumericString] + c[kindBool] + c[kindString] + c[kindNested]
	numeric := c[kindNumber] + c[kindNumericString]
	switch {
	case r.Seen == 0:
		r.Kind, r.Why = KindEmpty, "only null or empty values"
	case c[kindNested] > 0:
		r.Kind, r.Why = KindNested, "holds lists or objects"
	case c[kindBool] == r.Seen:
		r.Kind, r.Why = KindBool, "true or false"
	case identityName(f.name):
		r.Kind, r.Why = KindLabel, fmt.Sprintf("named as an identity, %s", f.distinctText())
	case numeric == r.Seen:
		r.Kind, r.Why = f.numericKind()
	default:
		r.Kind, r.Why = f.textKind()
		if r.Kind == KindState {
			r.Values = slices.Clone(f.order)
			slices.Sort(r.Values)
		}
	}
	return r
}

func (f *fieldAcc) distinctText() string {
	if len(f.distinct) >= maxDistinct {
		return fmt.Sprintf("%d+ distinct values", maxDistinct)
	}
	return fmt.Sprintf("%d distinct values over %d entities", len(f.distinct), len(f.entities))
}

// numericKind tells a counter from a gauge: a counter holds whole numbers
// that are never negative, rose at least once and never went down except
// to a tenth or less of the value before (a reset), and at most once for
// every ten rises.
func (f *fieldAcc) numericKind() (Kind, string) {
	changes := fmt.Sprintf("%d rises, %d falls, %d resets", f.rises, f.falls, f.resets)
	switch {
	case !f.whole:
		return KindGauge, "numbers with fractions"
	case f.negative:
		return KindGauge, "negative numbers"
	case f.falls > 0:
		return KindGauge, "numeric, went down: " + changes
	case f.rises == 0 && f.resets == 0:
		return KindGauge, "numeric, never changed within one entity (a counter would need to rise)"
	case f.rises == 0:
		return KindGauge, "numeric, only dropped: " + changes
	case f.resets*10 > f.rises:
		// A counter resets once a day or on a restart, not every few rises.
		return KindGauge, "numeric, dropped to near zero too often for a counter: " + changes
	}
	return KindCounter, "numeric, never went down except resets: " + changes
}

// textKind tells a state (few values) from a label (many).
func (f *fieldAcc) textKind() (Kind, string) {
	d, n := len(f.distinct), len(f.entities)
	switch {
	case d > maxStates:
		return KindLabel, f.distinctText()
	case d == n && n > 5:
		return KindLabel, "a value of its own for each entity: " + f.distinctText()
	}
	return KindState, f.distinctText()
}
