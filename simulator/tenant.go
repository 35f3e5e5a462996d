package simulator

import (
	"bytes"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// MessageTypeMetrics is the MessageType of the performance metric messages
// the server pushes once a session is initialized.
const MessageTypeMetrics = "AEPerformanceMetrics"

// Values of a campaign's Status. A campaign is Running while it dials,
// Paused or Stopped when a supervisor holds it (Paused for minutes, Stopped
// for longer), Stopped as well while its group is outside business hours,
// and Completed once its list has no records left, until a new list is
// loaded (Completed wins over the other three).
const (
	CampaignRunning   = "Running"
	CampaignPaused    = "Paused"
	CampaignStopped   = "Stopped"
	CampaignCompleted = "Completed"
)

// Values of a campaign's DialingMode. Predictive campaigns pace several
// lines per available agent and adjust that pacing to stay near the group's
// MaxAbandonRate; Progressive campaigns dial a fixed number of lines per
// agent; Preview campaigns dial one call at a time once the agent has seen
// the record, and never abandon.
const (
	DialingPredictive  = "Predictive"
	DialingProgressive = "Progressive"
	DialingPreview     = "Preview"
)

// Values of an agent's State. An agent who is LoggedOut still appears in the
// Agents list; only NotReady carries a ReasonCode.
const (
	AgentReady     = "Ready"
	AgentTalking   = "Talking"
	AgentWrapUp    = "WrapUp"
	AgentNotReady  = "NotReady"
	AgentLoggedOut = "LoggedOut"
)

// Default sizes of a tenant, used where TenantConfig leaves a size at zero.
const (
	DefaultCampaignGroups = 3
	DefaultCampaigns      = 8
	DefaultQueues         = 4
	DefaultAgents         = 36
)

// TenantConfig sizes a simulated contact center. Zero (or negative) sizes
// take the defaults, and there are never more groups than campaigns; the same Seed and the same sequence of Payload calls give the
// same payloads.
type TenantConfig struct {
	CampaignGroups int // default 3 when zero
	Campaigns      int // total campaigns, spread over groups; default 8
	Queues         int // default 4
	Agents         int // default 36
	Seed           int64

	// Quirks makes payloads use the looser encodings the feed allows, now
	// and then: a number sent as a numeric string ("12", "1.5"), and an
	// optional value (AvgHandleTime, AvgWaitTime, LongestWaitTime,
	// ServiceLevel) sent as null or "". It changes only how values are
	// written, never the values themselves. Off by default so that tests of
	// the model see plain JSON numbers; a demo should turn it on so that
	// the exporter's handling of both forms is exercised.
	Quirks bool
}

// withDefaults returns cfg with zero or negative sizes replaced by the
// defaults, and never more groups than campaigns.
func (cfg TenantConfig) withDefaults() TenantConfig {
	if cfg.CampaignGroups <= 0 {
		cfg.CampaignGroups = DefaultCampaignGroups
	}
	if cfg.Campaigns <= 0 {
		cfg.Campaigns = DefaultCampaigns
	}
	if cfg.Queues <= 0 {
		cfg.Queues = DefaultQueues
	}
	if cfg.Agents <= 0 {
		cfg.Agents = DefaultAgents
	}
	cfg.CampaignGroups = min(cfg.CampaignGroups, cfg.Campaigns)
	return cfg
}

// Time constants of the model, in milliseconds.
const (
	secondMs  = int64(1000)
	minuteMs  = 60 * secondMs
	quarterMs = 15 * minuteMs
	hourMs    = 60 * minuteMs
	dayMs     = 24 * hourMs

	// maxStepMs bounds one step of the model, so rates and agent
	// conditions are re-evaluated at least this often.
	maxStepMs = minuteMs
	// historyQuarters is how many quarter-hour snapshots of the counters
	// are kept: enough to find the latest midnight of any zone.
	historyQuarters = 24*4 + 1
	// gapLimitMs is the longest span the model simulates in one advance;
	// beyond it the model idles through the gap and simulates only the
	// last gapKeepMs, which still covers a day of counters.
	gapLimitMs = 26 * hourMs
	gapKeepMs  = 25 * hourMs
)

// Tenant is a simulated contact center: campaign groups with their
// campaigns, inbound queues and agents, evolving with time. Its daily
// counters are kept as running totals plus a snapshot at every UTC quarter
// hour of the last day, so that the counts since midnight can be given for
// any zone a client announces (every real zone's midnight falls on a UTC
// quarter hour). Business hours follow the zone of the first announced
// offset. It is safe for concurrent use.
type Tenant struct {
	mu sync.Mutex

	cfg     TenantConfig
	startMs int64
	nowMs   int64 // model time; never goes back
	warm    bool  // the day before start has been simulated

	homeOffset int // minutes, JavaScript convention; set by the first Payload
	rng        tenantRand
	quirkRng   tenantRand // drawn only while encoding, so Quirks leaves the model alone

	groups    []campaignGroup
	campaigns []campaign
	queues    []queue
	agents    []agent

	history [historyQuarters]counterSnapshot
	buf     []byte
}

// counterSnapshot holds the running totals of every daily counter at the
// start of one UTC quarter hour.
type counterSnapshot struct {
	quarter int64
	valid   bool
	values  []uint32
}

// NewTenant returns a contact center whose simulated history begins at
// start. The first Payload also simulates the day before start, so that
// counters since midnight look like a day in progress from the first
// message on.
func NewTenant(cfg TenantConfig, start time.Time) *Tenant {
	cfg = cfg.withDefaults()
	t := &Tenant{
		cfg:      cfg,
		startMs:  start.UnixMilli(),
		rng:      newTenantRand(cfg.Seed, 0x5eed0001),
		quirkRng: newTenantRand(cfg.Seed, 0x5eed0002),
	}
	t.buildGroups()
	t.buildCampaigns()
	t.buildQueues()
	t.buildAgents()
	return t
}

// Payload advances the model to now and returns the Data object of one
// AEPerformanceMetrics message (plain JSON object, NOT string-encoded), per
// protocol.md section 4. Counters reset at midnight of the zone whose
// TimeZoneOffset (JavaScript convention, minutes) the client announced.
// Safe for concurrent use.
//
// A now earlier than a previous call's does not move the model back: the
// payload then describes the latest time the model reached. The returned
// slice belongs to the caller.
func (t *Tenant) Payload(now time.Time, offsetMinutes int) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()

	if !t.warm {
		t.warmUp(offsetMinutes)
	}
	t.advance(now.UnixMilli())

	baseline := t.baseline(offsetMinutes)
	t.buf = t.appendPayload(t.buf[:0], baseline)
	return bytes.Clone(t.buf)
}

// warmUp simulates the day before start, so that the counters of any zone
// have a midnight snapshot to count from.
func (t *Tenant) warmUp(offsetMinutes int) {
	t.warm = true
	t.homeOffset = offsetMinutes
	t.restartAt(floorDiv(t.startMs-dayMs, quarterMs) * quarterMs)
	t.advance(t.startMs)
}

// restartAt puts the model at the quarter hour at, with every agent logged
// out and about to come back, and takes the first snapshot there.
func (t *Tenant) restartAt(at int64) {
	t.nowMs = at
	for i := range t.history {
		t.history[i].valid = false
	}
	for i := range t.agents {
		t.resetAgent(&t.agents[i], at)
	}
	for i := range t.campaigns {
		t.resetCampaignTimers(&t.campaigns[i], at)
	}
	for i := range t.queues {
		t.queues[i].waiting = 0
		t.queues[i].longest = 0
	}
	t.snapshot(at / quarterMs)
}

// advance runs the model forward to the Unix millisecond to, in steps of
// at most maxStepMs that never cross a UTC quarter hour, snapshotting the
// counters at each quarter hour. A gap longer than gapLimitMs is skipped
// except for its last gapKeepMs, so the work per call stays bounded.
func (t *Tenant) advance(to int64) {
	if to <= t.nowMs {
		return
	}
	if to-t.nowMs > gapLimitMs {
		t.restartAt(floorDiv(to-gapKeepMs, quarterMs) * quarterMs)
	}

	for t.nowMs < to {
		nextQuarter := (floorDiv(t.nowMs, quarterMs) + 1) * quarterMs
		end := min(to, t.nowMs+maxStepMs, nextQuarter)
		t.step(t.nowMs, end)
		t.nowMs = end
		if end == nextQuarter {
			t.snapshot(end / quarterMs)
		}
	}
}

// stepDecay holds, for one step's length, the share of each exponential
// process that completes within the step; every entity uses the same ones.
type stepDecay struct {
	callbacksFallDue float64
	callbacksDialed  float64
	recentAbandon    float64
	callerAbandons   float64
	serviceLevel     float64
}

func newStepDecay(dt float64) stepDecay {
	share := func(tau float64) float64 { return 1 - math.Exp(-dt/tau) }
	return stepDecay{
		callbacksFallDue: share(callbackDueSeconds),
		callbacksDialed:  share(callbackDialSeconds),
		recentAbandon:    share(recentAbandonSeconds),
		callerAbandons:   share(patienceSeconds),
		serviceLevel:     share(serviceLevelSeconds),
	}
}

// step moves every entity from t0 to t1.
func (t *Tenant) step(t0, t1 int64) {
	dt := float64(t1-t0) / 1000
	decay := newStepDecay(dt)
	minuteOfDay := t.homeMinuteOfDay(t0)

	for g := range t.groups {
		t.groups[g].open = t.groups[g].openAt(minuteOfDay)
	}
	t.updateCampaignStatuses(t1)
	for i := range t.agents {
		t.stepAgent(&t.agents[i], t1)
	}
	for i := range t.campaigns {
		t.stepCampaign(&t.campaigns[i], dt, decay)
	}
	for i := range t.queues {
		t.stepQueue(&t.queues[i], dt, minuteOfDay, decay)
	}
}

// homeMinuteOfDay returns the local minute of the day at the Unix
// millisecond ms in the zone of the first announced offset.
func (t *Tenant) homeMinuteOfDay(ms int64) int {
	local := ms - int64(t.homeOffset)*minuteMs
	return int(floorMod(local, dayMs) / minuteMs)
}

// counterCount is the number of daily counters the model keeps.
func (t *Tenant) counterCount() int {
	return len(t.campaigns)*campaignCounterCount + len(t.queues)*queueCounterCount
}

// snapshot records the running totals at the start of quarter.
func (t *Tenant) snapshot(quarter int64) {
	s := &t.history[floorMod(quarter, historyQuarters)]
	if cap(s.values) < t.counterCount() {
		s.values = make([]uint32, t.counterCount())
	}
	s.values = s.values[:t.counterCount()]

	n := 0
	for i := range t.campaigns {
		n += copy(s.values[n:], t.campaigns[i].total[:])
	}
	for i := range t.queues {
		n += copy(s.values[n:], t.queues[i].total[:])
	}
	s.quarter = quarter
	s.valid = true
}

// baseline returns the running totals at the latest midnight of the zone
// with the given offset, or nil when the model has no snapshot there (the
// counts then run from the start of the simulated history, whose totals
// are zero). A zone whose midnight is not on a UTC quarter hour counts from
// the quarter hour before it.
func (t *Tenant) baseline(offsetMinutes int) []uint32 {
	offsetMs := int64(offsetMinutes) * minuteMs
	midnight := floorDiv(t.nowMs-offsetMs, dayMs)*dayMs + offsetMs
	quarter := floorDiv(midnight, quarterMs)

	s := &t.history[floorMod(quarter, historyQuarters)]
	if !s.valid || s.quarter != quarter {
		return nil
	}
	return s.values
}

// floorDiv divides rounding towards minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// floorMod is the non-negative remainder of a divided by b (b > 0).
func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// tenantRand is the model's source of randomness, with the distributions
// the model draws from.
type tenantRand struct {
	*rand.Rand
}

func newTenantRand(seed int64, stream uint64) tenantRand {
	return tenantRand{rand.New(rand.NewPCG(uint64(seed), stream))}
}

// uniform returns a number in [lo, hi).
func (r tenantRand) uniform(lo, hi float64) float64 {
	return lo + (hi-lo)*r.Float64()
}

// uniformMs returns a duration in [lo, hi) milliseconds.
func (r tenantRand) uniformMs(lo, hi int64) int64 {
	return lo + r.Int64N(hi-lo)
}

// expMs returns an exponentially distributed duration with the given mean,
// at least one second, in milliseconds.
func (r tenantRand) expMs(mean int64) int64 {
	return max(secondMs, int64(r.ExpFloat64()*float64(mean)))
}

// poisson returns a Poisson-distributed count with the given mean; large
// means use the normal approximation.
func (r tenantRand) poisson(mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 30 {
		return max(0, int(mean+r.NormFloat64()*math.Sqrt(mean)+0.5))
	}
	limit := math.Exp(-mean)
	n, p := 0, r.Float64()
	for p > limit {
		n++
		p *= r.Float64()
	}
	return n
}
