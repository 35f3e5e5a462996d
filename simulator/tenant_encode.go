package simulator

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// appendPayload writes the Data object of one metric message for the
// model's current time, counting the daily counters from baseline.
func (t *Tenant) appendPayload(buf []byte, baseline []uint32) []byte {
	w := payloadWriter{buf: buf, first: true, quirks: t.cfg.Quirks, rng: t.quirkRng}

	w.openObject()
	w.integer("Timestamp", t.nowMs)
	w.key("Campaigns")
	w.openArray()
	for i := range t.campaigns {
		var base []uint32
		if baseline != nil {
			base = baseline[i*campaignCounterCount:][:campaignCounterCount]
		}
		t.appendCampaign(&w, &t.campaigns[i], base)
	}
	w.closeArray()

	w.key("Queues")
	w.openArray()
	offset := len(t.campaigns) * campaignCounterCount
	for i := range t.queues {
		var base []uint32
		if baseline != nil {
			base = baseline[offset+i*queueCounterCount:][:queueCounterCount]
		}
		appendQueue(&w, &t.queues[i], base)
	}
	w.closeArray()

	w.key("Agents")
	w.openArray()
	for i := range t.agents {
		t.appendAgent(&w, &t.agents[i])
	}
	w.closeArray()
	w.closeObject()
	return w.buf
}

// sinceMidnight returns the counts of total since the baseline. The
// subtraction wraps like the running totals do, so it stays right after a
// total passes 2^32.
func sinceMidnight(total []uint32, base []uint32, i int) int64 {
	if base == nil {
		return int64(total[i])
	}
	return int64(total[i] - base[i])
}

// appendCampaign writes one campaign with its group's figures.
func (t *Tenant) appendCampaign(w *payloadWriter, c *campaign, base []uint32) {
	g := &t.groups[c.group]
	daily := func(i int) int64 { return sinceMidnight(c.total[:], base, i) }

	connects, abandoned := daily(counterConnects), daily(counterAbandoned)
	abandonRate := 0.0
	if connects > 0 {
		abandonRate = 100 * float64(abandoned) / float64(connects)
	}

	w.openObject()
	w.str("CampaignId", c.id)
	w.str("CampaignName", c.name)
	w.str("CampaignGroupId", g.id)
	w.str("CampaignGroupName", g.name)
	w.str("Status", c.status)
	w.str("DialingMode", c.mode)
	w.boolean("BusinessHourOpen", g.open)
	w.integer("TotalRecords", int64(c.totalRecords))
	w.integer("RecordsRemaining", int64(c.remaining))
	w.integer("ContactsDelivered", daily(counterDelivered))
	w.integer("Attempts", daily(counterAttempts))
	w.integer("Connects", connects)
	w.integer("RightPartyContacts", daily(counterRightParty))
	w.integer("Abandoned", abandoned)
	w.number("AbandonRate", abandonRate, 2)
	w.number("MaxAbandonRate", g.maxAbandon, 2)
	w.integer("AnsweringMachine", daily(counterAnsweringMachine))
	w.integer("NoAnswer", daily(counterNoAnswer))
	w.integer("Busy", daily(counterBusy))
	w.integer("CallbacksScheduled", int64(math.Round(c.callbacksPending+c.callbacksDue)))
	w.integer("CallbacksDue", int64(math.Round(c.callbacksDue)))
	w.number("LinesPerAgent", c.linesPerAgent, 2)
	w.integer("ActiveCalls", int64(c.activeCalls))
	w.integer("AgentsLoggedIn", int64(g.loggedIn()))
	w.integer("AgentsReady", int64(g.agents[stateReady]))
	w.integer("AgentsTalking", int64(g.agents[stateTalking]))
	w.integer("AgentsWrapUp", int64(g.agents[stateWrapUp]))
	w.integer("AgentsNotReady", int64(g.agents[stateNotReady]))
	w.optional("AvgHandleTime", c.handleTime, 1)
	w.optional("AvgWaitTime", c.waitTime, 1)
	w.closeObject()
}

// appendQueue writes one queue.
func appendQueue(w *payloadWriter, q *queue, base []uint32) {
	w.openObject()
	w.str("QueueId", q.id)
	w.str("QueueName", q.name)
	w.integer("CallsWaiting", int64(q.waiting))
	// A call that is waiting has waited some part of a second at least.
	w.optional("LongestWaitTime", math.Ceil(q.longest), 0)
	w.optional("ServiceLevel", q.serviceLevel, 1)
	w.integer("CallsOffered", sinceMidnight(q.total[:], base, counterOffered))
	w.integer("CallsAnswered", sinceMidnight(q.total[:], base, counterAnswered))
	w.integer("CallsAbandoned", sinceMidnight(q.total[:], base, counterQueueAbandoned))
	w.closeObject()
}

// appendAgent writes one agent.
func (t *Tenant) appendAgent(w *payloadWriter, a *agent) {
	w.openObject()
	w.str("AgentId", a.id)
	w.str("AgentName", a.name)
	w.str("State", a.state.String())
	w.str("ReasonCode", a.reason)
	w.integer("StateDuration", (t.nowMs-a.since)/secondMs)
	w.str("CampaignGroupId", t.groups[a.group].id)
	w.closeObject()
}

// payloadWriter appends JSON to a buffer without reflection or per-value
// allocations. With quirks on it writes some numbers as numeric strings and
// some optional values as null or "", drawing those choices from its own
// source so that the model's course does not depend on them.
type payloadWriter struct {
	buf    []byte
	first  bool // no member written yet in the open object or array
	quirks bool
	rng    tenantRand
}

func (w *payloadWriter) separate() {
	if !w.first {
		w.buf = append(w.buf, ',')
	}
	w.first = false
}

func (w *payloadWriter) openObject() {
	w.separate()
	w.buf = append(w.buf, '{')
	w.first = true
}

func (w *payloadWriter) closeObject() {
	w.buf = append(w.buf, '}')
	w.first = false
}

func (w *payloadWriter) openArray() {
	w.buf = append(w.buf, '[')
	w.first = true
}

func (w *payloadWriter) closeArray() {
	w.buf = append(w.buf, ']')
	w.first = false
}

// key writes a member name and the colon; the value follows. Names are
// the fixed ASCII field names of the payload and need no escaping.
func (w *payloadWriter) key(name string) {
	w.separate()
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '"', ':')
}

func (w *payloadWriter) str(name, value string) {
	w.key(name)
	w.buf = appendJSONString(w.buf, value)
}

func (w *payloadWriter) boolean(name string, value bool) {
	w.key(name)
	w.buf = strconv.AppendBool(w.buf, value)
}

// Odds, out of 1000, of each quirk on a value.
const (
	quirkStringPerMille = 20
	quirkNullPerMille   = 15
	quirkEmptyPerMille  = 15
)

func (w *payloadWriter) integer(name string, value int64) {
	w.key(name)
	quoted := w.quirks && w.rng.IntN(1000) < quirkStringPerMille
	w.quote(quoted)
	w.buf = strconv.AppendInt(w.buf, value, 10)
	w.quote(quoted)
}

// number writes value rounded to the given decimals.
func (w *payloadWriter) number(name string, value float64, decimals int) {
	w.key(name)
	quoted := w.quirks && w.rng.IntN(1000) < quirkStringPerMille
	w.quote(quoted)
	w.buf = appendRounded(w.buf, value, decimals)
	w.quote(quoted)
}

// optional writes a value the feed may leave out: with quirks on it is now
// and then null or "".
func (w *payloadWriter) optional(name string, value float64, decimals int) {
	if !w.quirks {
		w.number(name, value, decimals)
		return
	}
	switch r := w.rng.IntN(1000); {
	case r < quirkNullPerMille:
		w.key(name)
		w.buf = append(w.buf, "null"...)
	case r < quirkNullPerMille+quirkEmptyPerMille:
		w.key(name)
		w.buf = append(w.buf, `""`...)
	default:
		w.number(name, value, decimals)
	}
}

func (w *payloadWriter) quote(on bool) {
	if on {
		w.buf = append(w.buf, '"')
	}
}

// appendRounded appends value rounded to the given decimals, in the
// shortest form that reads back as that rounded value; values JSON cannot
// hold are written as 0.
func appendRounded(buf []byte, value float64, decimals int) []byte {
	scale := math.Pow10(decimals)
	value = math.Round(value*scale) / scale
	if math.IsNaN(value) || math.IsInf(value, 0) {
		value = 0
	}
	if value == 0 {
		value = 0 // no "-0"
	}
	return strconv.AppendFloat(buf, value, 'f', -1, 64)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(buf []byte, s string) []byte {
	if jsonStringIsPlain(s) {
		buf = append(buf, '"')
		buf = append(buf, s...)
		return append(buf, '"')
	}

	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b >= 0x20 && b != '"' && b != '\\' && b < utf8.RuneSelf {
			i++
			continue
		}
		if b >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
		}
		buf = append(buf, s[start:i]...)
		switch {
		case b == '"' || b == '\\':
			buf = append(buf, '\\', b)
		case b < 0x20:
			buf = append(buf, `\u00`...)
			buf = append(buf, "0123456789abcdef"[b>>4], "0123456789abcdef"[b&0xf])
		default:
			buf = append(buf, `\ufffd`...)
		}
		i++
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// jsonStringIsPlain tells whether s is printable ASCII without quotes or
// backslashes, as every generated name is, and can be written as it is.
func jsonStringIsPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= utf8.RuneSelf || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}
