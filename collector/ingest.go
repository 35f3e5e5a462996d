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
	"unsafe"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

// errMismatch marks a payload that is JSON but does not fit the mapping.
var errMismatch = errors.New("payload does not fit the mapping")

// errRepeatedKey makes the streaming decoder hand a payload to the
// map-based one, whose last-one-wins reading of a key that Data holds
// twice it does not repeat.
var errRepeatedKey = errors.New("a key of Data is repeated")

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

	messageType, payload, err := c.readEnvelope(frame)
	if err != nil {
		c.reject(ReasonMalformed, "", err)
		return
	}
	c.messagesTotal.WithLabelValues(c.messageTypes.value(messageType)).Inc()

	old := c.snapshot.Load()
	plan := old.plan.messages[messageType]
	if plan == nil {
		return
	}
	u, err := c.decodeMessage(old.plan, plan, payload)
	if err != nil {
		reason := ReasonMalformed
		if errors.Is(err, errMismatch) {
			reason = ReasonMapping
		}
		c.reject(reason, messageType, err)
		return
	}
	c.apply(old, u, receivedAt)
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

// Envelope fields, as readEnvelope tells them apart.
const (
	envelopeOther = iota
	envelopeText  // Sender, Receiver: strings that the collector does not use
	envelopeMessageType
	envelopeData
	envelopeUnsure // a key only encoding/json's rules can place
)

// readEnvelope returns the message type of a frame and the JSON its Data
// holds, nil for none, as protocol.DecodeEnvelope and Envelope.Payload
// would, without copying the frame: it scans the frame once and unquotes
// a string Data into a buffer it reuses. Frames whose keys need
// encoding/json's case folding go through the protocol package instead.
func (c *Collector) readEnvelope(frame []byte) (string, []byte, error) {
	s := newJSONScanner(frame)
	if s.peek() != '{' {
		return slowEnvelope(frame)
	}
	s.open()
	var typeSpan, dataSpan []byte
	typePlain, wrongType := true, false
	for first := true; s.next('}', &first); {
		key, plain := s.key()
		field := envelopeField(key, plain)
		if field == envelopeUnsure {
			return slowEnvelope(frame)
		}
		start, end, ok := s.skip()
		if !ok {
			break
		}
		value := frame[start:end]
		switch field {
		case envelopeText, envelopeMessageType:
			if value[0] != '"' && value[0] != 'n' {
				wrongType = true
			}
			if field == envelopeMessageType && value[0] == '"' {
				typeSpan = value[1 : len(value)-1]
				typePlain = bytes.IndexByte(typeSpan, '\\') < 0 && utf8.Valid(typeSpan)
			}
		case envelopeData:
			dataSpan = value
		}
	}
	if !s.end() {
		return "", nil, fmt.Errorf("%w: %w", protocol.ErrMalformed, s.err())
	}
	if wrongType {
		return slowEnvelope(frame)
	}

	var messageType string
	if typePlain {
		messageType = string(bytes.TrimSpace(typeSpan))
	} else {
		messageType = strings.TrimSpace(string(appendUnquoted(nil, typeSpan)))
	}
	if messageType == "" {
		return "", nil, fmt.Errorf("%w: %w", protocol.ErrMalformed, protocol.ErrNoMessageType)
	}
	return messageType, c.payload(dataSpan), nil
}

// payload returns the JSON that Data holds, as Envelope.Payload does.
func (c *Collector) payload(data []byte) []byte {
	if len(data) == 0 || string(data) == "null" {
		return nil
	}
	if data[0] != '"' {
		return data
	}
	// The unquoted text is at most as long as the quoted one; a buffer
	// that a much larger message grew is given back.
	c.dataBuf = reusable(c.dataBuf, len(data))
	c.dataBuf = appendUnquoted(c.dataBuf, data[1:len(data)-1])
	if text := bytes.TrimSpace(c.dataBuf); len(text) > 0 {
		return text
	}
	return nil
}

// envelopeField tells which field of protocol.Envelope a key sets. As in
// encoding/json, an exact name wins and otherwise case does not matter;
// non-ASCII and escaped keys are left to encoding/json.
func envelopeField(key []byte, plain bool) int {
	switch string(key) {
	case "MessageType":
		return envelopeMessageType
	case "Data":
		return envelopeData
	case "Sender", "Receiver":
		return envelopeText
	}
	if !plain {
		return envelopeUnsure
	}
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return envelopeUnsure
		}
	}
	switch {
	case bytes.EqualFold(key, []byte("MessageType")):
		return envelopeMessageType
	case bytes.EqualFold(key, []byte("Data")):
		return envelopeData
	case bytes.EqualFold(key, []byte("Sender")), bytes.EqualFold(key, []byte("Receiver")):
		return envelopeText
	}
	return envelopeOther
}

// slowEnvelope reads a frame with the protocol package.
func slowEnvelope(frame []byte) (string, []byte, error) {
	env, err := protocol.DecodeEnvelope(frame)
	if err != nil {
		return "", nil, err
	}
	payload, err := env.Payload()
	if err != nil {
		return "", nil, err
	}
	return env.MessageType, payload, nil
}

// update is what one message changes, gathered before anything changes.
type update struct {
	plan *messagePlan
	// maxSeries is the collector's series limit, 0 for none: no section
	// keeps more entities while it is read than could fit under it.
	maxSeries int
	sections  []sectionUpdate
	unmapped  int // fields that no rule names, counted per occurrence
	// unmappedNames holds some of those fields, distinct, not logged yet.
	unmappedNames map[unmappedField]bool
	invalid       int
	truncated     int
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
	index int // into plan.sections
	state *sectionState
	// dropped counts the series of the entities left out while the
	// section was read, because they could not fit under the limit.
	dropped int
}

// decodeMessage reads a whole message into an update. Errors wrap
// protocol.ErrMalformed or errMismatch.
func (c *Collector) decodeMessage(pl *plan, mp *messagePlan, payload []byte) (*update, error) {
	u := &update{plan: mp, maxSeries: max(c.maxSeries, 0)}
	if payload == nil {
		return u, nil
	}
	s := newJSONScanner(payload)
	err := c.walkData(&s, u, pl)
	if s.failed {
		return nil, fmt.Errorf("%w: Data is not JSON: %w", protocol.ErrMalformed, s.err())
	}
	if errors.Is(err, errRepeatedKey) {
		u = &update{plan: mp, maxSeries: u.maxSeries}
		err = c.walkDataMap(u, pl, payload)
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// walkData reads Data with the scanner. A syntax error anywhere wins over
// any mismatch, as with encoding/json, so it reads to the end either way.
func (c *Collector) walkData(s *jsonScanner, u *update, pl *plan) error {
	switch s.peek() {
	case 'n':
		s.literal("null")
		s.end()
		return nil
	case '{':
		err := c.walkObject(s, u, pl, u.plan.rule.tree, "")
		s.end()
		return err
	}
	s.skip()
	s.end()
	return fmt.Errorf("%w: Data is not an object", errMismatch)
}

// walkObject reads the sections below node from the object at pos, the
// object at path prefix, and notes the keys that no section or ignored
// path names.
func (c *Collector) walkObject(s *jsonScanner, u *update, pl *plan, node *pathNode, prefix string) error {
	var firstErr error
	var seen [][]byte
	s.open()
	for first := true; s.next('}', &first); {
		rawKey, plain := s.key()
		if s.failed {
			return nil
		}
		key := string(rawKey)
		if !plain {
			key = string(appendUnquoted(nil, rawKey))
		}
		for _, k := range seen {
			if string(k) == key {
				firstErr = errRepeatedKey
			}
		}
		seen = append(seen, []byte(key))

		child := node.children[key]
		var err error
		switch next := s.peek(); {
		case child == nil:
			u.noteUnmapped("", prefix+key)
			s.skip()
		case child.ignored || next == 'n':
			// An absent or null section changes nothing.
			s.skip()
		case child.section >= 0:
			err = pl.sections[u.plan.first+child.section].decodeSection(s, u, u.plan.first+child.section)
		case next == '{':
			err = c.walkObject(s, u, pl, child, prefix+key+".")
		default:
			s.skip()
			err = fmt.Errorf("%w: %s is not an object", errMismatch, prefix+key)
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// walkDataMap reads Data through maps, as encoding/json sees it; it takes
// the payloads that walkData leaves to it.
func (c *Collector) walkDataMap(u *update, pl *plan, payload []byte) error {
	var data map[string]json.RawMessage
	if err := json.Unmarshal(payload, &data); err != nil {
		return fmt.Errorf("%w: Data is not an object", errMismatch)
	}
	return c.walkMap(u, pl, u.plan.rule.tree, data, "")
}

func (c *Collector) walkMap(u *update, pl *plan, node *pathNode, obj map[string]json.RawMessage, prefix string) error {
	for key, raw := range obj {
		child := node.children[key]
		path := prefix + key
		switch {
		case child == nil:
			u.noteUnmapped("", path)
		case child.ignored || isNull(raw):
			// An absent or null section changes nothing.
		case child.section >= 0:
			s := newJSONScanner(raw)
			index := u.plan.first + child.section
			if err := pl.sections[index].decodeSection(&s, u, index); err != nil {
				return err
			}
		default:
			var inner map[string]json.RawMessage
			if err := json.Unmarshal(raw, &inner); err != nil {
				return fmt.Errorf("%w: %s is not an object", errMismatch, path)
			}
			if err := c.walkMap(u, pl, child, inner, path+"."); err != nil {
				return err
			}
		}
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// sectionDecoder is what ingest keeps of a section from one message to
// the next: caches of label values and scratch space. Only ingest, which
// is serialised, uses it. Nothing in it grows with a message beyond what
// the series limit lets the section keep, and what a large message made
// it hold is given back once messages are small again.
type sectionDecoder struct {
	maxLabelLen int
	// cache holds, per label slot, the label values of the texts seen
	// lately, so that values seen before cost no allocation.
	cache []labelCache
	// lastEntities is the size of the section in the last message, to
	// size the next; entities counts those of this message so far.
	lastEntities int
	entities     int
	raws         [][]byte
	// slotTexts, slotNew, labels and values hold the entity being read:
	// per slot its text, whether that is new to the cache, and its
	// label value; per metric plan its sample.
	slotTexts    []fieldText
	slotNew      []bool
	labels       []string
	values       []float64
	unmappedSeen [][]byte
	// byKey numbers the entities kept so far by their key; byKeyPeak is
	// the most it has held since it was made.
	byKey     map[string]int32
	byKeyPeak int
	// boundary holds the labels of the first entity, in label order, that
	// a full batch left out; none when bounded is false.
	boundary []string
	bounded  bool
	order    []int32
	rank     []int32
	counts   []int32
	logged   map[string]bool
}

// fieldText is a field's text with the label value made of it.
type fieldText struct {
	raw       string
	value     string
	invalid   bool // a list or object, not text
	truncated bool
}

// minLabelCache is how many values a label cache may hold whatever the
// size of the section.
const minLabelCache = 1024

// labelCache maps the text of a field to its label value for one label
// slot. It holds about as many values as the last messages' entities,
// and is emptied when it would hold more, so that values the feed no
// longer sends do not pile up; since an emptied map keeps its memory, it
// is made anew once it has held far more than the section needs.
type labelCache struct {
	values map[string]fieldText
	peak   int // the most values held since values was made
}

// put adds the value of text s; limit is how many values the cache
// holds before it starts again.
func (c *labelCache) put(s string, t fieldText, limit int) {
	if len(c.values) >= limit {
		clear(c.values)
	}
	c.values[s] = t
	c.peak = max(c.peak, len(c.values))
}

// fit makes the cache anew, empty, when it has held far more values than
// n entities need.
func (c *labelCache) fit(n int) {
	if c.peak > 4*n+minLabelCache {
		c.values, c.peak = map[string]fieldText{}, 0
	}
}

func newSectionDecoder(p *sectionPlan, maxLabelLen int) *sectionDecoder {
	d := &sectionDecoder{
		maxLabelLen: maxLabelLen,
		cache:       make([]labelCache, p.slots),
		raws:        make([][]byte, len(p.fieldIndex)),
		slotTexts:   make([]fieldText, p.slots),
		slotNew:     make([]bool, p.slots),
		labels:      make([]string, p.slots),
		values:      make([]float64, len(p.metrics)),
		byKey:       map[string]int32{},
		logged:      map[string]bool{},
	}
	for i := range d.cache {
		d.cache[i].values = map[string]fieldText{}
	}
	return d
}

// startSection readies the decoder for a section of a new message, and
// gives back scratch memory that a much larger earlier message needed.
func (d *sectionDecoder) startSection() {
	if d.byKeyPeak > 4*d.lastEntities+minLabelCache {
		d.byKey, d.byKeyPeak = map[string]int32{}, 0
	}
	clear(d.byKey)
	d.order = reusable(d.order, d.lastEntities)
	d.rank = reusable(d.rank, d.lastEntities)
	d.counts = reusable(d.counts, d.lastEntities)
	d.bounded = false
}

// entityBatch collects the entities of one section of one message.
type entityBatch struct {
	labels []string
	values []float64
	n      int
	// series counts the series the entities make, repeats included.
	series int
	// limit is the most series the section can keep, 0 for no limit;
	// dropped counts the series of the entities left out to keep the
	// batch near it.
	limit   int
	dropped int
}

// full reports whether the batch holds so much more than its limit that
// it is time to leave out what cannot be kept.
func (b *entityBatch) full() bool {
	if b.limit <= 0 {
		return false
	}
	return b.series > b.limit+max(b.limit, minLabelCache)
}

// decodeSection reads the complete list of one kind of entity at pos. On
// a mismatch it still reads to the end of the list, so that a syntax
// error after it is found.
func (p *sectionPlan) decodeSection(s *jsonScanner, u *update, index int) error {
	if s.peek() != '[' {
		s.skip()
		return fmt.Errorf("%w: %s is not a list of objects", errMismatch, p.rule.path)
	}
	d := p.dec
	d.startSection()
	b := &entityBatch{
		labels: make([]string, 0, d.lastEntities*p.slots),
		values: make([]float64, 0, d.lastEntities*len(p.metrics)),
		limit:  u.maxSeries,
	}
	var err error
	s.open()
	for i, first := 0, true; s.next(']', &first); i++ {
		if err != nil || s.peek() != '{' {
			s.skip()
			if err == nil {
				err = fmt.Errorf("%w: %s[%d] is not an object", errMismatch, p.rule.path, i)
			}
			continue
		}
		if !p.readEntity(s) {
			break
		}
		if e := p.addEntity(u, b); e != nil {
			err = fmt.Errorf("%w: %s[%d]: %w", errMismatch, p.rule.path, i, e)
		}
	}
	if err != nil || s.failed {
		return err
	}
	d.lastEntities = b.n
	for i := range d.cache {
		d.cache[i].fit(b.n)
	}
	u.sections = append(u.sections, sectionUpdate{index: index, state: p.finishSection(b), dropped: b.dropped})
	return nil
}

// readEntity reads the object at pos into the decoder's raws, the last
// value of each known field, and its unknown fields into unmappedSeen.
func (p *sectionPlan) readEntity(s *jsonScanner) bool {
	d := p.dec
	clear(d.raws)
	d.unmappedSeen = d.unmappedSeen[:0]
	s.open()
	for first := true; s.next('}', &first); {
		rawKey, plain := s.key()
		if s.failed {
			return false
		}
		key := rawKey
		if !plain {
			key = appendUnquoted(nil, rawKey)
		}
		field, known := p.fieldIndex[string(key)]
		start, end, ok := s.skip()
		if !ok {
			return false
		}
		if known {
			d.raws[field] = s.data[start:end]
		} else if !slices.ContainsFunc(d.unmappedSeen, func(k []byte) bool { return bytes.Equal(k, key) }) {
			d.unmappedSeen = append(d.unmappedSeen, key)
		}
	}
	return !s.failed
}

// addEntity converts the entity in the decoder's raws and adds it to b;
// an entity whose key was seen before in the message replaces the
// earlier one, as a later message would. An entity that makes no series
// is not kept, and one that sorts after an entity that a full batch left
// out is only counted: it could not be kept either.
func (p *sectionPlan) addEntity(u *update, b *entityBatch) error {
	d := p.dec
	d.entities = b.n
	for slot := range p.slots {
		t, isNew := d.labelOf(slot, p.slotRules[slot], d.raws[p.slotField[slot]])
		d.slotTexts[slot], d.slotNew[slot], d.labels[slot] = t, isNew, t.value
		if t.invalid {
			u.invalid++
		}
		if t.truncated {
			u.truncated++
		}
	}
	for mi := range p.metrics {
		d.values[mi] = u.sample(p.metrics[mi].rule, p.rawOf(p.metricField[mi]))
	}
	for _, field := range d.unmappedSeen {
		if !d.logged[string(field)] {
			u.noteUnmapped(p.rule.path, string(field))
		} else {
			u.unmapped++
		}
	}

	key, err := p.key()
	if err != nil {
		return err
	}
	series := p.entitySeries(d.labels, d.values)
	j, listed := d.byKey[key]
	if !listed && (series == 0 || d.bounded && p.compareLabels(d.labels, d.boundary) >= 0) {
		// Nothing to export, or it sorts after an entity already left out.
		b.dropped += series
		return nil
	}
	d.remember()
	if listed {
		// A key listed twice: the later entry wins, in the earlier place.
		labels := b.labels[int(j)*p.slots : int(j+1)*p.slots]
		values := b.values[int(j)*len(p.metrics) : int(j+1)*len(p.metrics)]
		b.series += series - p.entitySeries(labels, values)
		copy(labels, d.labels)
		copy(values, d.values)
		return nil
	}
	b.labels = append(b.labels, d.labels...)
	b.values = append(b.values, d.values...)
	d.byKey[key] = int32(b.n)
	d.byKeyPeak = max(d.byKeyPeak, len(d.byKey))
	b.n++
	b.series += series
	if b.full() {
		p.leaveOut(b)
	}
	return nil
}

// remember adds the label values of the entity being read that are new
// to the caches.
func (d *sectionDecoder) remember() {
	limit := max(2*max(d.lastEntities, d.entities), minLabelCache)
	for slot, isNew := range d.slotNew {
		if isNew {
			d.cache[slot].put(d.slotTexts[slot].raw, d.slotTexts[slot], limit)
		}
	}
}

func (p *sectionPlan) rawOf(field int) []byte {
	if field < 0 {
		return nil
	}
	return p.dec.raws[field]
}

// key returns the identity of the entity in the decoder: its key fields'
// text, joined.
func (p *sectionPlan) key() (string, error) {
	d := p.dec
	var key strings.Builder
	for i, slot := range p.keySlots {
		t := d.slotTexts[slot]
		if t.invalid || t.raw == "" {
			return "", fmt.Errorf("key field %s missing, empty or not a scalar", p.rule.key[i])
		}
		if len(p.keySlots) == 1 {
			return t.raw, nil
		}
		if i > 0 {
			key.WriteByte(0)
		}
		key.WriteString(t.raw)
	}
	return key.String(), nil
}

// labelOf returns the text of a field and the label value of rule for
// it: "" for a missing or null field, and for a list or object (invalid).
// isNew reports a value to remember in the cache.
func (d *sectionDecoder) labelOf(slot int, rule *labelRule, raw []byte) (t fieldText, isNew bool) {
	text, plain := rawText(raw)
	if text == nil {
		return fieldText{invalid: true}, false
	}
	if plain {
		if t, ok := d.cache[slot].values[string(text)]; ok {
			return t, false
		}
	}
	var s string
	if plain {
		s = string(text)
	} else if err := json.Unmarshal(raw, &s); err != nil {
		return fieldText{invalid: true}, false
	}
	t = fieldText{raw: s, value: rule.value(s)}
	if len(t.value) > d.maxLabelLen {
		t.value, t.truncated = truncateUTF8(t.value, d.maxLabelLen), true
	}
	// Only plain texts are cached: the cache is looked up by the text
	// as the message holds it.
	return t, plain
}

// rawText returns the text of a JSON scalar without copying it: a
// string's content, a number's digits, true or false; empty for missing
// and null, nil for a list or object. plain is false for a string whose
// content needs unescaping or is not valid UTF-8.
func rawText(raw []byte) (text []byte, plain bool) {
	if len(raw) == 0 {
		return []byte{}, true
	}
	switch raw[0] {
	case '{', '[':
		return nil, false
	case 'n':
		return []byte{}, true
	case '"':
		inner := raw[1 : len(raw)-1]
		return inner, bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner)
	}
	return raw, true
}

// truncateUTF8 cuts s to at most n bytes, at a rune boundary.
func truncateUTF8(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// sample returns the value of a metric rule for a field; NaN means no
// sample.
func (u *update) sample(rule *metricRule, raw []byte) float64 {
	if rule.field == "" {
		return 1
	}
	v, ok, invalid := number(raw, rule.values)
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
func number(raw []byte, values map[string]float64) (v float64, ok, invalid bool) {
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
		text, plain := rawText(raw)
		s := transient(text)
		if !plain {
			if err := json.Unmarshal(raw, &s); err != nil {
				return 0, false, true
			}
		}
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
		return parseNumber(s)
	}
	return parseNumber(transient(raw))
}

func parseNumber(s string) (v float64, ok, invalid bool) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false, true
	}
	return v, true, false
}

// transient views b as a string without copying, for calls that do not
// keep their argument (strconv copies the text into its errors).
func transient(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
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

// apply publishes a new snapshot with the update's sections, and drops
// sections that have not been sent for the entity TTL.
func (c *Collector) apply(old *snapshot, u *update, receivedAt time.Time) {
	now := c.now()
	next := &snapshot{plan: old.plan, sections: make([]*sectionState, len(old.sections))}
	for i, st := range old.sections {
		if st.live(now, c.ttl) {
			next.sections[i] = st
		}
	}
	for _, s := range u.sections {
		s.state.seen = receivedAt
		next.sections[s.index] = s.state
	}
	dropped := c.capSeries(next, u)
	c.snapshot.Store(next)

	messageType := u.plan.rule.messageType
	c.unmappedTotal.WithLabelValues(messageType).Add(float64(u.unmapped))
	c.invalidTotal.WithLabelValues(messageType).Add(float64(u.invalid))
	c.truncatedTotal.WithLabelValues(messageType).Add(float64(u.truncated))
	c.droppedTotal.WithLabelValues(messageType).Add(float64(dropped))
	for f := range u.unmappedNames {
		c.logUnmapped(old.plan, messageType, f)
	}
}

// logUnmapped logs each unmapped field once, so that a deployment can see
// what its mapping misses.
func (c *Collector) logUnmapped(pl *plan, messageType string, f unmappedField) {
	key := messageType + "\x00" + f.section + "\x00" + f.field
	if c.loggedUnmapped[key] || len(c.loggedUnmapped) >= maxLoggedUnmapped {
		return
	}
	c.loggedUnmapped[key] = true
	if mp := pl.messages[messageType]; mp != nil && f.section != "" {
		// The section's decoder then stops collecting the name.
		for i := range mp.rule.sections {
			if p := pl.sections[mp.first+i]; p.rule.path == f.section && len(p.dec.logged) < maxLoggedUnmapped {
				p.dec.logged[f.field] = true
			}
		}
	}
	c.logger.Info("payload field not in the mapping",
		"message_type", messageType, "section", f.section, "field", f.field)
}
