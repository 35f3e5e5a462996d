package simulator

import (
	"math"
	"strconv"
)

// campaignGroup is the unit the dialer sees: a set of campaigns sharing
// agents, an abandon limit and business hours.
type campaignGroup struct {
	id, name   string
	maxAbandon float64 // percent
	// opensAt and closesAt are local minutes of the day; equal means the
	// group never closes.
	opensAt, closesAt int

	open     bool
	running  int     // campaigns of the group dialing in the current step
	waitMean float64 // seconds a ready agent waits for the next call
	agents   [agentStateCount]int
	talkMean int64 // mean talk time of the group's calls, ms
}

// openAt tells whether the group's business hours include the local minute.
func (g *campaignGroup) openAt(minuteOfDay int) bool {
	if g.opensAt == g.closesAt {
		return true
	}
	return minuteOfDay >= g.opensAt && minuteOfDay < g.closesAt
}

// loggedIn is how many of the group's agents are logged in.
func (g *campaignGroup) loggedIn() int {
	return g.agents[stateReady] + g.agents[stateTalking] + g.agents[stateWrapUp] +
		g.agents[stateNotReady]
}

// dialingAgents is how many of the group's agents the dialer can pace for:
// those ready, talking or wrapping up.
func (g *campaignGroup) dialingAgents() int {
	return g.agents[stateReady] + g.agents[stateTalking] + g.agents[stateWrapUp]
}

// Daily counters of a campaign, in the order of campaign.total.
const (
	counterDelivered = iota
	counterAttempts
	counterConnects
	counterRightParty
	counterAbandoned
	counterAnsweringMachine
	counterNoAnswer
	counterBusy
	campaignCounterCount
)

// campaign is one contact list inside a campaign group.
type campaign struct {
	id, name string
	group    int
	mode     string

	totalRecords, remaining int
	completed               bool
	reloadAt                int64 // when a completed campaign gets a new list

	held       bool
	heldStatus string
	holdUntil  int64
	nextHold   int64
	status     string

	linesPerAgent float64
	abandonScale  float64 // abandon percent per (lines per agent)^2
	recentAbandon float64 // smoothed abandon percent the pacing reacts to
	connectShare  float64
	rightParty    float64

	total [campaignCounterCount]uint32  // running totals since the model began
	frac  [campaignCounterCount]float64 // fractions not yet counted

	callbacksPending, callbacksDue float64
	handleTime, handleTimeBase     float64 // seconds
	waitTime                       float64 // seconds
	activeCalls                    int
}

// Pacing constants: a dialed line produces an attempt about every
// lineCycleSeconds; a preview agent takes previewCycleSeconds per record.
const (
	lineCycleSeconds    = 25.0
	previewCycleSeconds = 90.0
)

// Time constants of a campaign's current values: a scheduled callback falls
// due after callbackDueSeconds on average and is dialed within
// callbackDialSeconds once due; pacing reacts to the abandon rate of about
// the last recentAbandonSeconds.
const (
	callbackDueSeconds   = 7200.0
	callbackDialSeconds  = 240.0
	recentAbandonSeconds = 900.0
)

// buildGroups names the campaign groups and sets their limits and hours.
func (t *Tenant) buildGroups() {
	themes := campaignThemes()
	t.groups = make([]campaignGroup, t.cfg.CampaignGroups)
	for i := range t.groups {
		g := &t.groups[i]
		g.id = strconv.Itoa(11 + i)
		g.name = themes[i%len(themes)].group + cycleSuffix(i/len(themes))
		g.maxAbandon = 2
		if i == 1 {
			g.maxAbandon = 3
		}
		// Every third group works around the clock, so something dials
		// whatever the time of day; the others keep day hours.
		if i%3 != 2 {
			g.opensAt = (7 + i%3) * 60
			g.closesAt = (20+i%4)*60 + 30*(i%2)
		}
		g.talkMean = t.rng.uniformMs(180*secondMs, 300*secondMs)
		g.waitMean = 30
	}
}

// buildCampaigns spreads the campaigns over the groups and gives each a
// list, a dialing mode and its outcome mix.
func (t *Tenant) buildCampaigns() {
	themes := campaignThemes()
	regions := campaignRegions()
	t.campaigns = make([]campaign, t.cfg.Campaigns)
	for i := range t.campaigns {
		c := &t.campaigns[i]
		c.id = strconv.Itoa(101 + i)
		c.group = i % len(t.groups)

		// Names repeat once a group has used every theme and region, or
		// once groups reuse a theme; the suffix tells both cases apart.
		k := i / len(t.groups) // index of the campaign inside its group
		theme := themes[c.group%len(themes)]
		groupCycles := (len(t.groups) + len(themes) - 1) / len(themes)
		nameCycle := k / (len(theme.campaigns) * len(regions))
		c.name = theme.campaigns[k%len(theme.campaigns)] + " " +
			regions[(k/len(theme.campaigns))%len(regions)] +
			cycleSuffix(nameCycle*groupCycles+c.group/len(themes))

		switch i % 8 {
		case 5, 6:
			c.mode = DialingProgressive
			c.linesPerAgent = []float64{1, 1.2, 1.5}[t.rng.IntN(3)]
			c.abandonScale = t.rng.uniform(0.1, 0.3)
		case 7:
			c.mode = DialingPreview
			c.linesPerAgent = 1
		default:
			c.mode = DialingPredictive
			c.linesPerAgent = t.rng.uniform(1.8, 2.6)
			c.abandonScale = t.groups[c.group].maxAbandon / 4 * t.rng.uniform(0.8, 1.3)
		}

		c.totalRecords = t.listSize()
		c.remaining = int(float64(c.totalRecords) * t.rng.uniform(0.4, 1))
		c.connectShare = t.rng.uniform(0.2, 0.32)
		c.rightParty = t.rng.uniform(0.38, 0.58)
		c.handleTimeBase = t.rng.uniform(200, 420)
		c.handleTime = c.handleTimeBase
		c.waitTime = c.waitBase()
		c.status = CampaignRunning
	}
}

// listSize draws the number of records of a newly loaded list.
func (t *Tenant) listSize() int {
	return 2500 * (2 + t.rng.IntN(15))
}

// waitBase is the average seconds an agent waits between calls at the
// campaign's pacing: more lines per agent, shorter waits.
func (c *campaign) waitBase() float64 {
	if c.mode == DialingPreview {
		return 35
	}
	return 25 / (c.linesPerAgent * math.Sqrt(c.linesPerAgent))
}

// resetCampaignTimers schedules the next supervisor hold after at.
func (t *Tenant) resetCampaignTimers(c *campaign, at int64) {
	c.held = false
	c.nextHold = at + t.rng.expMs(2*hourMs)
	if c.completed {
		c.reloadAt = at + t.rng.uniformMs(30*minuteMs, 90*minuteMs)
	}
}

// updateCampaignStatuses applies the holds, resumes and list reloads due by
// at, derives each campaign's Status and the groups' dialing figures.
func (t *Tenant) updateCampaignStatuses(at int64) {
	for g := range t.groups {
		t.groups[g].running = 0
	}
	for i := range t.campaigns {
		c := &t.campaigns[i]
		g := &t.groups[c.group]
		t.applyCampaignTimers(c, g, at)
		if c.status == CampaignRunning {
			g.running++
		}
	}

	// Ready agents wait as long as the group's running campaigns pace
	// them for; the group keeps its last figure while nothing runs.
	for g := range t.groups {
		if t.groups[g].running > 0 {
			t.groups[g].waitMean = 0
		}
	}
	for i := range t.campaigns {
		c := &t.campaigns[i]
		g := &t.groups[c.group]
		if c.status == CampaignRunning {
			g.waitMean += c.waitTime / float64(g.running)
		}
	}
}

// applyCampaignTimers moves one campaign through list reloads and holds.
func (t *Tenant) applyCampaignTimers(c *campaign, g *campaignGroup, at int64) {
	if c.completed && at >= c.reloadAt {
		c.completed = false
		c.totalRecords = t.listSize()
		c.remaining = c.totalRecords
	}
	if c.held && at >= c.holdUntil {
		c.held = false
		c.nextHold = at + t.rng.expMs(2*hourMs)
	}
	if !c.completed && !c.held && at >= c.nextHold {
		// A hold that fell due while the campaign could not dial is
		// forgotten rather than applied the moment it reopens.
		if g.open && at-c.nextHold <= 2*maxStepMs {
			c.held = true
			c.heldStatus = CampaignPaused
			c.holdUntil = at + t.rng.uniformMs(3*minuteMs, 20*minuteMs)
			if t.rng.IntN(5) == 0 {
				c.heldStatus = CampaignStopped
				c.holdUntil = at + t.rng.uniformMs(30*minuteMs, 2*hourMs)
			}
		} else {
			c.nextHold = at + t.rng.expMs(2*hourMs)
		}
	}

	switch {
	case c.completed:
		c.status = CampaignCompleted
	case !g.open:
		c.status = CampaignStopped
	case c.held:
		c.status = c.heldStatus
	default:
		c.status = CampaignRunning
	}
}

// stepCampaign dials for dt seconds if the campaign is running, and moves
// its current values (pacing, callbacks, averages) along.
func (t *Tenant) stepCampaign(c *campaign, dt float64, decay stepDecay) {
	g := &t.groups[c.group]
	t.moveCallbacks(c, decay)
	if c.status != CampaignRunning {
		c.activeCalls = 0
		return
	}

	share := 1 / float64(g.running)
	dialing := float64(g.dialingAgents())
	expected := dialing * c.linesPerAgent * dt / lineCycleSeconds * share
	if c.mode == DialingPreview {
		expected = dialing * dt / previewCycleSeconds * share
	}
	expected *= t.rng.uniform(0.85, 1.15)

	t.dial(c, expected)
	t.pace(c, g, dt, decay)

	c.activeCalls = int(math.Round((float64(g.agents[stateTalking]) +
		float64(g.agents[stateReady])*c.linesPerAgent) * share))
	c.handleTime += (c.handleTimeBase-c.handleTime)*min(1, dt/1800) +
		t.rng.NormFloat64()*math.Sqrt(dt)*0.3
	c.waitTime += (c.waitBase()-c.waitTime)*min(1, dt/600) +
		t.rng.NormFloat64()*math.Sqrt(dt)*0.05
	c.waitTime = max(0.5, c.waitTime)
}

// dial places about expected attempts: each consumes a record, and their
// outcomes split over the counters. The list running out completes the
// campaign.
func (t *Tenant) dial(c *campaign, expected float64) {
	delivered := c.count(counterDelivered, expected*t.rng.uniform(1, 1.03), c.remaining)
	c.remaining -= delivered
	attempts := c.count(counterAttempts, expected, math.MaxInt)
	if c.remaining == 0 {
		c.completed = true
		c.status = CampaignCompleted
		c.reloadAt = t.nowMs + t.rng.uniformMs(30*minuteMs, 90*minuteMs)
	}

	n := float64(attempts)
	connects := c.count(counterConnects, n*c.connectShare*t.rng.uniform(0.9, 1.1), attempts)
	c.count(counterAnsweringMachine, n*t.rng.uniform(0.12, 0.18), math.MaxInt)
	c.count(counterNoAnswer, n*t.rng.uniform(0.36, 0.44), math.MaxInt)
	c.count(counterBusy, n*t.rng.uniform(0.04, 0.07), math.MaxInt)

	m := float64(connects)
	rightParty := c.count(counterRightParty, m*c.rightParty, connects)
	c.count(counterAbandoned, m*c.abandonPercent(t.rng.uniform(0.6, 1.4))/100, connects)
	c.callbacksPending += float64(rightParty) * 0.06
}

// count adds x to the counter i, carrying fractions over to later steps,
// and returns how many whole events that made, at most limit.
func (c *campaign) count(i int, x float64, limit int) int {
	c.frac[i] += x
	n := math.Floor(c.frac[i])
	c.frac[i] -= n
	k := min(int(n), limit)
	if k < int(n) {
		c.frac[i] = 0
	}
	c.total[i] += uint32(k)
	return k
}

// abandonPercent is the share of connects the campaign abandons at its
// current pacing, times noise.
func (c *campaign) abandonPercent(noise float64) float64 {
	if c.mode == DialingPreview {
		return 0
	}
	return c.abandonScale * c.linesPerAgent * c.linesPerAgent * noise
}

// pace lets a predictive campaign raise its lines per agent while its
// recent abandon rate stays under the group's limit, and lower it when the
// rate comes near.
func (t *Tenant) pace(c *campaign, g *campaignGroup, dt float64, decay stepDecay) {
	if c.mode != DialingPredictive {
		return
	}
	c.recentAbandon += (c.abandonPercent(1) - c.recentAbandon) * decay.recentAbandon
	if c.recentAbandon > 0.9*g.maxAbandon {
		c.linesPerAgent -= 0.2 * dt / 60
	} else {
		c.linesPerAgent += 0.05 * dt / 60
	}
	c.linesPerAgent = min(3.2, max(1.2, c.linesPerAgent))
}

// moveCallbacks lets scheduled callbacks fall due and, while the campaign
// runs, dials the due ones.
func (t *Tenant) moveCallbacks(c *campaign, decay stepDecay) {
	due := c.callbacksPending * decay.callbacksFallDue
	c.callbacksPending -= due
	c.callbacksDue += due
	if c.status == CampaignRunning {
		c.callbacksDue -= c.callbacksDue * decay.callbacksDialed
	}
}

// campaignTheme names a campaign group and the campaigns it may hold.
type campaignTheme struct {
	group     string
	campaigns []string
}

// campaignThemes returns the names groups and campaigns are built from.
func campaignThemes() []campaignTheme {
	return []campaignTheme{
		{"Collections", []string{"Collections", "Early Delinquency", "Late Stage Recovery", "Payment Reminder"}},
		{"Sales", []string{"Win-Back", "Upsell", "Lead Follow-up", "Cross-Sell"}},
		{"Customer Care", []string{"Welcome Calls", "Appointment Reminder", "Satisfaction Survey", "Renewal Notice"}},
		{"Renewals", []string{"Policy Renewal", "Contract Renewal", "Lapsed Members"}},
		{"Health Outreach", []string{"Flu Shot Reminder", "Annual Checkup", "Prescription Refill"}},
		{"Fundraising", []string{"Donor Renewal", "Year-End Appeal", "Pledge Follow-up"}},
	}
}

// campaignRegions returns the regions that tell a theme's campaigns apart.
func campaignRegions() []string {
	return []string{
		"East", "West", "North", "South", "Central", "Midwest", "Pacific",
		"Northeast", "Southeast", "Southwest", "Northwest", "Mountain", "Gulf Coast",
	}
}

// cycleSuffix tells apart names that repeat after the lists run out.
func cycleSuffix(cycle int) string {
	if cycle == 0 {
		return ""
	}
	return " " + strconv.Itoa(cycle+1)
}
