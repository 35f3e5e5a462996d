package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

// errMismatch marks a payload that is JSON but does not fit the mapping.
var errMismatch = errors.New("payload does not fit the mapping")

// HandleFrame takes one frame of the feed. Every frame with a message type
// is counted by type; a frame of a type the mapping names replaces the
// sections it carries, all of them or, when any part cannot be used,
// none. It implements wsclient.Handler.
func (c *Collector) HandleFrame(frame []byte, receivedAt time.Time) {
	c.ingest.Lock()
	defer c.ingest.Unlock()
	c.installPending()

	if receivedAt.IsZero() {
		receivedAt = c.now()
	}
	c.lastMessage.Store(math.Float64bits(float64(receivedAt.UnixNano()) / 1e9))

	env, err := protocol.DecodeEnvelope(frame)
	if err != nil {
		c.reject(ReasonMalformed, "", err)
		return
	}
	c.messagesTotal.WithLabelValues(c.messageTypes.value(env.MessageType)).Inc()

	plan := c.messages[env.MessageType]
	if plan == nil {
		return
	}
	u, err := c.decodeMessage(plan, env)
	if err != nil {
		reason := ReasonMalformed
		if errors.Is(err, errMismatch) {
			reason = ReasonMapping
		}
		c.reject(reason, env.MessageType, err)
		return
	}
	c.apply(u, receivedAt)
}

// DiscardFrame counts a frame the session could not hand over. It
// implements wsclient.Handler.
func (c *Collector) DiscardFrame(reason string) {
	c.errorsTotal.WithLabelValues(c.errorReasons.value(reason)).Inc()
}

func (c *Collector) reject(reason, messageType string, err error) {
	c.errorsTotal.WithLabelValues(reason).Inc()
	c.logger.Debug("frame not used", "reason", reason, "message_type", messageType, "err", err)
}

// update is what one message changes, gathered before anything changes.
type update struct {
	plan     *messagePlan
	sections []sectionUpdate
	unmapped int // fields that no rule names, counted per occurrence
	// unmappedNames holds some of those fields, distinct, for the log.
	unmappedNames map[unmappedField]bool
	invalid       int
}

// unmappedField names a field that the mapping lacks: a key of Data when
// section is "", else a field of the section's entities.
type unmappedField struct {
	section, field string
}

func (u *update) noteUnmapped(section, field string) {
	u.unmapped++
	if len(u.unmappedNames) < maxLoggedUnmapped {
		if u.unmappedNames == nil {
			u.unmappedNames = map[unmappedField]bool{}
		}
		u.unmappedNames[unmappedField{section: section, field: field}] = true
	}
}

type sectionUpdate struct {
	index int // into Collector.sections
	state *sectionState
}

// decodeMessage reads a whole message into an update. Errors wrap
// protocol.ErrMalformed or errMismatch.
func (c *Collector) decodeMessage(plan *messagePlan, env protocol.Envelope) (*update, error) {
	payload, err := env.Payload()
	if err != nil {
		return nil, err
	}
	u := &update{plan: plan}
	if payload == nil {
		return u, nil
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(payload, &data); err != nil {
		if syntax := (*json.SyntaxError)(nil); errors.As(err, &syntax) {
			return nil, fmt.Errorf("%w: Data is not JSON: %w", protocol.ErrMalformed, err)
		}
		return nil, fmt.Errorf("%w: Data is not an object", errMismatch)
	}
	if err := c.walk(u, plan.rule.tree, data, ""); err != nil {
		return nil, err
	}
	return u, nil
}

// walk reads the sections below node from obj, the object at path prefix,
// and notes the keys that no section or ignored path names.
func (c *Collector) walk(u *update, node *pathNode, obj map[string]json.RawMessage, prefix string) error {
	for key, raw := range obj {
		child := node.children[key]
		path := prefix + key
		switch {
		case child == nil:
			u.noteUnmapped("", path)
		case child.ignored || isNull(raw):
			// An absent or null section changes nothing.
		case child.section >= 0:
			if err := c.decodeSection(u, u.plan.first+child.section, raw); err != nil {
				return err
			}
		default:
			var inner map[string]json.RawMessage
			if err := json.Unmarshal(raw, &inner); err != nil {
				return fmt.Errorf("%w: %s is not an object", errMismatch, path)
			}
			if err := c.walk(u, child, inner, path+"."); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeSection reads the complete list of one kind of entity.
func (c *Collector) decodeSection(u *update, index int, raw json.RawMessage) error {
	p := c.sections[index]
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Errorf("%w: %s is not a list of objects", errMismatch, p.rule.path)
	}

	st := &sectionState{entities: make([]entity, 0, len(items))}
	// One backing array for all entities of the section: fewer, larger
	// allocations for feeds with many entities.
	labels := make([]string, len(items)*p.slots)
	values := make([]float64, len(items)*len(p.metrics))
	byKey := make(map[string]int, len(items))
	for i, obj := range items {
		if obj == nil {
			return fmt.Errorf("%w: %s[%d] is not an object", errMismatch, p.rule.path, i)
		}
		key, err := p.key(obj)
		if err != nil {
			return fmt.Errorf("%w: %s[%d]: %w", errMismatch, p.rule.path, i, err)
		}
		e := entity{
			labels: labels[i*p.slots : (i+1)*p.slots : (i+1)*p.slots],
			values: values[i*len(p.metrics) : (i+1)*len(p.metrics) : (i+1)*len(p.metrics)],
		}
		p.decodeEntity(u, obj, e)

		// A key listed twice: the later entry wins, as a later message would.
		if j, ok := byKey[key]; ok {
			st.entities[j] = e
			continue
		}
		byKey[key] = len(st.entities)
		st.entities = append(st.entities, e)
	}
	p.sortEntities(st.entities)
	u.sections = append(u.sections, sectionUpdate{index: index, state: st})
	return nil
}

// sortEntities orders entities by their labels in label name order, the
// order in which a registry sorts series: the scrape's sort then finds
// them nearly sorted and is cheap, once per message instead of per scrape.
func (p *sectionPlan) sortEntities(entities []entity) {
	slices.SortFunc(entities, func(a, b entity) int {
		for _, slot := range p.sortSlots {
			if c := strings.Compare(a.labels[slot], b.labels[slot]); c != 0 {
				return c
			}
		}
		return 0
	})
}

// key returns the identity of an entity: its key fields, joined.
func (p *sectionPlan) key(obj map[string]json.RawMessage) (string, error) {
	var key strings.Builder
	for i, field := range p.rule.key {
		s, ok := scalarText(obj[field])
		if !ok || s == "" {
			return "", fmt.Errorf("key field %s missing, empty or not a scalar", field)
		}
		if i > 0 {
			key.WriteByte(0)
		}
		key.WriteString(s)
	}
	return key.String(), nil
}

// decodeEntity fills e, whose slices are sized by the plan, from obj.
func (p *sectionPlan) decodeEntity(u *update, obj map[string]json.RawMessage, e entity) {
	for i := range p.labels {
		e.labels[i] = u.label(&p.labels[i], obj)
	}
	for mi := range p.metrics {
		m := &p.metrics[mi]
		for i := range m.labels {
			e.labels[m.first+i] = u.label(&m.labels[i], obj)
		}
		if m.stateSlot >= 0 {
			e.labels[m.stateSlot] = u.label(&m.rule.state.label, obj)
		}
		e.values[mi] = u.sample(m.rule, obj)
	}
	for field := range obj {
		if !p.rule.known[field] {
			u.noteUnmapped(p.rule.path, field)
		}
	}
}

// label returns the label value of rule's field in obj; "" when the
// field is missing, null or not a scalar (the last counted as invalid).
func (u *update) label(rule *labelRule, obj map[string]json.RawMessage) string {
	s, ok := scalarText(obj[rule.field])
	if !ok {
		u.invalid++
		return ""
	}
	return rule.value(s)
}

// sample returns the value of a metric rule for obj; NaN means no sample.
func (u *update) sample(rule *metricRule, obj map[string]json.RawMessage) float64 {
	if rule.field == "" {
		return 1
	}
	v, ok, invalid := number(obj[rule.field], rule.values)
	if invalid {
		u.invalid++
	}
	if !ok {
		return math.NaN()
	}
	if rule.divisor != 0 {
		v /= rule.divisor
	} else {
		v *= rule.scale
	}
	if math.IsInf(v, 0) {
		u.invalid++
		return math.NaN()
	}
	return v
}

// number reads a sample from a JSON value: a number, a numeric string, a
// string of the value map, or a boolean (1 or 0). Missing, null and ""
// give no sample (ok false); anything else gives no sample either and is
// invalid. NaN and infinities are never samples.
func number(raw json.RawMessage, values map[string]float64) (v float64, ok, invalid bool) {
	if len(raw) == 0 {
		return 0, false, false
	}
	switch raw[0] {
	case 'n':
		return 0, false, false
	case 't':
		return 1, true, false
	case 'f':
		return 0, true, false
	case '{', '[':
		return 0, false, true
	case '"':
		s, _ := scalarText(raw)
		s = strings.TrimSpace(s)
		if s == "" {
			return 0, false, false
		}
		if v, ok := values[s]; ok {
			return v, true, false
		}
		if !isDecimal(s) {
			return 0, false, true
		}
		raw = json.RawMessage(s)
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false, true
	}
	return v, true, false
}

// isDecimal reports whether s holds only what a decimal number may, so
// that ParseFloat's other forms (hexadecimal, "NaN", "Inf", underscores)
// are refused.
func isDecimal(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
		default:
			return false
		}
	}
	return true
}

// scalarText returns the text of a JSON scalar: a string's content, a
// number's digits, true or false; "" for missing and null. ok is false
// for an object or a list.
func scalarText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", true
	}
	switch raw[0] {
	case '{', '[':
		return "", false
	case 'n':
		return "", true
	case '"':
		inner := raw[1 : len(raw)-1]
		if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			return string(inner), true
		}
		// Escapes, or invalid UTF-8 that the decoder replaces.
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	}
	return string(raw), true
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// apply publishes a new snapshot with the update's sections, and drops
// sections that have not been sent for the entity TTL.
func (c *Collector) apply(u *update, receivedAt time.Time) {
	now := c.now()
	old := c.snapshot.Load()
	next := &snapshot{sections: make([]*sectionState, len(old.sections))}
	for i, st := range old.sections {
		if st.live(now, c.ttl) {
			next.sections[i] = st
		}
	}
	for _, s := range u.sections {
		s.state.seen = receivedAt
		next.sections[s.index] = s.state
	}
	c.snapshot.Store(next)

	messageType := u.plan.rule.messageType
	c.unmappedTotal.WithLabelValues(messageType).Add(float64(u.unmapped))
	c.invalidTotal.WithLabelValues(messageType).Add(float64(u.invalid))
	for f := range u.unmappedNames {
		c.logUnmapped(messageType, f)
	}
}

// logUnmapped logs each unmapped field once, so that a deployment can see
// what its mapping misses.
func (c *Collector) logUnmapped(messageType string, f unmappedField) {
	key := messageType + "\x00" + f.section + "\x00" + f.field
	if c.loggedUnmapped[key] || len(c.loggedUnmapped) >= maxLoggedUnmapped {
		return
	}
	c.loggedUnmapped[key] = true
	c.logger.Info("payload field not in the mapping",
		"message_type", messageType, "section", f.section, "field", f.field)
}
