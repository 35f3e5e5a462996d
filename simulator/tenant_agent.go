package simulator

import "strconv"

// agentState is an agent's State inside the model.
type agentState uint8

const (
	stateLoggedOut agentState = iota
	stateReady
	stateTalking
	stateWrapUp
	stateNotReady
	agentStateCount
)

// String returns the State value the feed carries.
func (s agentState) String() string {
	switch s {
	case stateReady:
		return AgentReady
	case stateTalking:
		return AgentTalking
	case stateWrapUp:
		return AgentWrapUp
	case stateNotReady:
		return AgentNotReady
	}
	return AgentLoggedOut
}

// agent is one agent of a campaign group. The agent stays in its state
// until next, when the model picks the next state from the group's
// conditions at that moment.
type agent struct {
	id, name string
	group    int
	state    agentState
	reason   string
	since    int64 // when the state began, Unix ms
	next     int64 // when the state is reconsidered, Unix ms
}

// buildAgents names the agents and assigns them to campaign groups.
func (t *Tenant) buildAgents() {
	initials := "ABCDEFGHJKLMNPRSTVW"
	surnames := agentSurnames()
	t.agents = make([]agent, t.cfg.Agents)
	for i := range t.agents {
		a := &t.agents[i]
		a.id = "a-" + strconv.Itoa(1001+i)
		a.name = initials[t.rng.IntN(len(initials)):][:1] + ". " + surnames[t.rng.IntN(len(surnames))]
		a.group = i % len(t.groups)
		t.groups[a.group].agents[a.state]++
	}
}

// resetAgent logs the agent out at at, to log in again shortly.
func (t *Tenant) resetAgent(a *agent, at int64) {
	g := &t.groups[a.group]
	g.agents[a.state]--
	a.state = stateLoggedOut
	a.reason = ""
	g.agents[a.state]++
	a.since = at
	a.next = at + t.rng.uniformMs(secondMs, 10*minuteMs)
}

// stepAgent moves the agent through every state change due by t1.
func (t *Tenant) stepAgent(a *agent, t1 int64) {
	for a.next <= t1 {
		t.changeAgentState(a, a.next)
	}
}

// changeAgentState picks the agent's next state at the moment at, from
// whether the group is open and dialing, and how long it lasts.
func (t *Tenant) changeAgentState(a *agent, at int64) {
	g := &t.groups[a.group]
	next, reason, lasts := t.nextAgentState(a.state, g)
	if next != a.state || reason != a.reason {
		g.agents[a.state]--
		g.agents[next]++
		a.state, a.reason, a.since = next, reason, at
	}
	a.next = at + lasts
}

// nextAgentState is the agent state machine: an open group's agents log in,
// take calls the dialer paces for them, wrap up and take breaks; a closed
// group's agents log out once their current work ends.
func (t *Tenant) nextAgentState(s agentState, g *campaignGroup) (agentState, string, int64) {
	dialing := g.running > 0
	switch {
	case !g.open && s != stateTalking:
		return stateLoggedOut, "", t.rng.uniformMs(5*minuteMs, 20*minuteMs)
	case s == stateLoggedOut:
		return stateReady, "", t.readyTime(g)
	case s == stateTalking:
		return stateWrapUp, "", t.rng.uniformMs(8*secondMs, 60*secondMs)
	case s == stateNotReady && t.rng.IntN(40) == 0:
		// End of a shift: back after a while.
		return stateLoggedOut, "", t.rng.expMs(30 * minuteMs)
	case s == stateReady && dialing && t.rng.IntN(20) != 0:
		return stateTalking, "", 20*secondMs + min(30*minuteMs, t.rng.expMs(g.talkMean))
	case s == stateReady && !dialing && t.rng.IntN(3) != 0:
		return stateReady, "", t.readyTime(g)
	case s == stateReady || (s == stateWrapUp && t.rng.IntN(20) == 0):
		return t.notReady()
	}
	return stateReady, "", t.readyTime(g)
}

// readyTime is how long an agent of g stays ready before the next call is
// offered, or before looking again when the group does not dial.
func (t *Tenant) readyTime(g *campaignGroup) int64 {
	if g.running == 0 {
		return t.rng.uniformMs(minuteMs, 5*minuteMs)
	}
	return min(10*minuteMs, t.rng.expMs(int64(g.waitMean*1000)))
}

// notReady picks a not-ready reason and how long it lasts.
func (t *Tenant) notReady() (agentState, string, int64) {
	r := t.rng.IntN(100)
	switch {
	case r < 40:
		return stateNotReady, "Break", t.rng.uniformMs(8*minuteMs, 16*minuteMs)
	case r < 60:
		return stateNotReady, "Personal", t.rng.uniformMs(2*minuteMs, 8*minuteMs)
	case r < 75:
		return stateNotReady, "Lunch", t.rng.uniformMs(25*minuteMs, 45*minuteMs)
	case r < 85:
		return stateNotReady, "Meeting", t.rng.uniformMs(15*minuteMs, 30*minuteMs)
	case r < 95:
		return stateNotReady, "Training", t.rng.uniformMs(20*minuteMs, 60*minuteMs)
	}
	return stateNotReady, "Coaching", t.rng.uniformMs(10*minuteMs, 25*minuteMs)
}

// agentSurnames returns the surnames agent names are built from.
func agentSurnames() []string {
	return []string{
		"Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Haddad",
		"Iyer", "Jensen", "Kim", "Lopez", "Murphy", "Nguyen", "Okafor", "Patel",
		"Quinn", "Rossi", "Singh", "Tanaka", "Usman", "Varga", "Walsh", "Xu",
		"Young", "Zimmer", "Brooks", "Costa", "Dubois", "Moreau", "Novak", "Reyes",
		"Sato", "Turner", "Weber", "Ali", "Bianchi", "Cohen", "Das", "Ferreira",
	}
}
