package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// testStart is a quarter hour in UTC, so that steps of quarter hours from it
// land on the midnight of every real zone.
var testStart = time.Date(2025, 12, 3, 10, 0, 0, 0, time.UTC)

// Field names of protocol.md section 4, by the JSON kind they carry.
var (
	campaignStrings = []string{
		"CampaignId", "CampaignName", "CampaignGroupId", "CampaignGroupName",
		"Status", "DialingMode",
	}
	campaignBools   = []string{"BusinessHourOpen"}
	campaignNumbers = []string{
		"TotalRecords", "RecordsRemaining", "ContactsDelivered", "Attempts", "Connects",
		"RightPartyContacts", "Abandoned", "AbandonRate", "MaxAbandonRate",
		"AnsweringMachine", "NoAnswer", "Busy", "CallbacksScheduled", "CallbacksDue",
		"LinesPerAgent", "ActiveCalls", "AgentsLoggedIn", "AgentsReady", "AgentsTalking",
		"AgentsWrapUp", "AgentsNotReady", "AvgHandleTime", "AvgWaitTime",
	}
	queueStrings = []string{"QueueId", "QueueName"}
	queueNumbers = []string{
		"CallsWaiting", "LongestWaitTime", "ServiceLevel", "CallsOffered",
		"CallsAnswered", "CallsAbandoned",
	}
	agentStrings = []string{"AgentId", "AgentName", "State", "ReasonCode", "CampaignGroupId"}
	agentNumbers = []string{"StateDuration"}
)

// campaignCounterFields and queueCounterFields count since midnight.
var (
	campaignCounterFields = []string{
		"ContactsDelivered", "Attempts", "Connects", "RightPartyContacts", "Abandoned",
		"AnsweringMachine", "NoAnswer", "Busy",
	}
	queueCounterFields = []string{"CallsOffered", "CallsAnswered", "CallsAbandoned"}
)

// testPayload is a payload decoded with quirks off: every number a number.
type testPayload struct {
	Timestamp int64
	Campaigns []map[string]any
	Queues    []map[string]any
	Agents    []map[string]any
}

func decodePayload(t testing.TB, data []byte) testPayload {
	t.Helper()
	var p testPayload
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("payload is not the section 4 object: %v\n%s", err, data)
	}
	return p
}

// num returns the numeric field of an entity, failing on anything else.
func num(t testing.TB, entity map[string]any, field string) float64 {
	t.Helper()
	n, ok := entity[field].(json.Number)
	if !ok {
		t.Fatalf("%s is %T %v, want a JSON number, in %v", field, entity[field], entity[field], entity)
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatalf("%s: %v", field, err)
	}
	return f
}

func str(t testing.TB, entity map[string]any, field string) string {
	t.Helper()
	s, ok := entity[field].(string)
	if !ok {
		t.Fatalf("%s is %T %v, want a string, in %v", field, entity[field], entity[field], entity)
	}
	return s
}

// checkKinds asserts that entity has exactly the given fields, each of its
// kind.
func checkKinds(t *testing.T, entity map[string]any, strs, bools, nums []string) {
	t.Helper()
	want := slices.Concat(strs, bools, nums)
	if len(entity) != len(want) {
		t.Errorf("entity has %d fields, want %d (%v): %v", len(entity), len(want), want, entity)
	}
	for _, f := range strs {
		str(t, entity, f)
	}
	for _, f := range bools {
		if _, ok := entity[f].(bool); !ok {
			t.Errorf("%s is %T, want a boolean", f, entity[f])
		}
	}
	for _, f := range nums {
		num(t, entity, f)
	}
}

func TestPayloadHasSectionFourFieldsAndTypes(t *testing.T) {
	tenant := NewTenant(TenantConfig{Seed: 7}, testStart)
	now := testStart.Add(90 * time.Minute)
	tenant.Payload(testStart, 0)

	raw := tenant.Payload(now, 0)
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatalf("payload is not a JSON object: %v", err)
	}
	for _, key := range []string{"Timestamp", "Campaigns", "Queues", "Agents"} {
		if _, ok := top[key]; !ok {
			t.Errorf("payload lacks %s", key)
		}
	}
	if len(top) != 4 {
		t.Errorf("payload has %d members, want 4", len(top))
	}

	p := decodePayload(t, raw)
	if p.Timestamp != now.UnixMilli() {
		t.Errorf("Timestamp = %d, want Unix milliseconds %d", p.Timestamp, now.UnixMilli())
	}
	for _, c := range p.Campaigns {
		checkKinds(t, c, campaignStrings, campaignBools, campaignNumbers)
	}
	for _, q := range p.Queues {
		checkKinds(t, q, queueStrings, nil, queueNumbers)
	}
	for _, a := range p.Agents {
		checkKinds(t, a, agentStrings, nil, agentNumbers)
	}
}

func TestTenantSizes(t *testing.T) {
	tests := []struct {
		cfg                                    TenantConfig
		groups, campaigns, queues, agentsCount int
	}{
		{TenantConfig{}, 3, 8, 4, 36},
		{TenantConfig{CampaignGroups: 5, Campaigns: 20, Queues: 7, Agents: 50}, 5, 20, 7, 50},
		{TenantConfig{CampaignGroups: 1, Campaigns: 1, Queues: 1, Agents: 1}, 1, 1, 1, 1},
		{TenantConfig{CampaignGroups: 9, Campaigns: 120, Queues: 30, Agents: 400}, 9, 120, 30, 400},
		{TenantConfig{CampaignGroups: 7, Campaigns: 400, Queues: 3, Agents: 7}, 7, 400, 3, 7},
		{TenantConfig{CampaignGroups: 12, Campaigns: 5, Queues: 2, Agents: 2}, 5, 5, 2, 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.cfg), func(t *testing.T) {
			p := decodePayload(t, NewTenant(tt.cfg, testStart).Payload(testStart, 0))
			if len(p.Campaigns) != tt.campaigns || len(p.Queues) != tt.queues ||
				len(p.Agents) != tt.agentsCount {
				t.Fatalf("got %d campaigns, %d queues, %d agents; want %d, %d, %d",
					len(p.Campaigns), len(p.Queues), len(p.Agents),
					tt.campaigns, tt.queues, tt.agentsCount)
			}
			groups := map[string]bool{}
			for _, c := range p.Campaigns {
				groups[str(t, c, "CampaignGroupId")] = true
			}
			if len(groups) != tt.groups {
				t.Errorf("campaigns belong to %d groups, want %d", len(groups), tt.groups)
			}
			assertUnique(t, p.Campaigns, "CampaignId")
			assertUnique(t, p.Campaigns, "CampaignName")
			assertUnique(t, p.Queues, "QueueId")
			assertUnique(t, p.Queues, "QueueName")
			assertUnique(t, p.Agents, "AgentId")
		})
	}
}

func assertUnique(t *testing.T, entities []map[string]any, field string) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range entities {
		v := str(t, e, field)
		if seen[v] {
			t.Errorf("%s %q appears twice", field, v)
		}
		seen[v] = true
	}
}

// localMidnight returns the latest midnight at or before now in the zone a
// client with offsetMinutes lives in.
func localMidnight(now time.Time, offsetMinutes int) time.Time {
	zone := time.FixedZone("announced", -offsetMinutes*60)
	l := now.In(zone)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, zone)
}

// counters returns every daily counter of a payload, keyed by entity and
// field.
func counters(t testing.TB, p testPayload) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, c := range p.Campaigns {
		for _, f := range campaignCounterFields {
			out["campaign "+str(t, c, "CampaignId")+" "+f] = num(t, c, f)
		}
	}
	for _, q := range p.Queues {
		for _, f := range queueCounterFields {
			out["queue "+str(t, q, "QueueId")+" "+f] = num(t, q, f)
		}
	}
	return out
}

func sumField(t testing.TB, entities []map[string]any, field string) float64 {
	t.Helper()
	s := 0.0
	for _, e := range entities {
		s += num(t, e, field)
	}
	return s
}

func TestDailyCountersGrowAndResetAtAnnouncedMidnight(t *testing.T) {
	for _, offset := range []int{-330, 300, 0, -345} {
		t.Run(strconv.Itoa(offset), func(t *testing.T) {
			t.Parallel()
			tenant := NewTenant(TenantConfig{Seed: 3}, testStart)
			var prev map[string]float64
			var prevAt time.Time
			resets, grewOverUTCMidnight := 0, false

			for now := testStart; now.Before(testStart.Add(50 * time.Hour)); now = now.Add(15 * time.Minute) {
				p := decodePayload(t, tenant.Payload(now, offset))
				cur := counters(t, p)
				midnight := localMidnight(now, offset)

				if now.Equal(midnight) {
					resets++
					for k, v := range cur {
						if v != 0 {
							t.Fatalf("%v is local midnight for offset %d but %s = %v",
								now, offset, k, v)
						}
					}
				}
				if prev != nil && !prevAt.Before(midnight) {
					for k, v := range cur {
						if v < prev[k] {
							t.Fatalf("%s fell from %v to %v between %v and %v, within one local day",
								k, prev[k], v, prevAt, now)
						}
					}
					if now.UTC().Hour() == 0 && now.UTC().Minute() == 0 && offset != 0 &&
						sumField(t, p.Campaigns, "Attempts") > 0 {
						grewOverUTCMidnight = true
					}
				}
				if prev != nil && prevAt.Before(midnight) && !now.Equal(midnight) {
					t.Fatalf("steps missed the local midnight %v", midnight)
				}
				prev, prevAt = cur, now
			}

			if resets != 2 {
				t.Errorf("saw %d local midnights, want 2", resets)
			}
			if offset != 0 && !grewOverUTCMidnight {
				t.Errorf("counters did not carry on over UTC midnight for offset %d", offset)
			}
		})
	}
}

func TestCountersAreNonZeroBeforeMidnightAndZeroAtIt(t *testing.T) {
	for _, offset := range []int{-330, 300} {
		tenant := NewTenant(TenantConfig{Seed: 11}, testStart)
		midnight := localMidnight(testStart, offset).Add(24 * time.Hour)
		for now := testStart; now.Before(midnight); now = now.Add(time.Hour) {
			tenant.Payload(now, offset)
		}

		before := decodePayload(t, tenant.Payload(midnight.Add(-time.Second), offset))
		if sumField(t, before.Campaigns, "Attempts") == 0 || sumField(t, before.Queues, "CallsOffered") == 0 {
			t.Fatalf("offset %d: no attempts or calls in the day before %v", offset, midnight)
		}
		at := decodePayload(t, tenant.Payload(midnight, offset))
		for k, v := range counters(t, at) {
			if v != 0 {
				t.Errorf("offset %d: %s = %v at local midnight %v, want 0", offset, k, v, midnight)
			}
		}
		after := decodePayload(t, tenant.Payload(midnight.Add(time.Hour), offset))
		if sumField(t, after.Campaigns, "Attempts") == 0 {
			t.Errorf("offset %d: nothing counted in the hour after midnight", offset)
		}
	}
}

func TestRecordsRunOutCompleteTheCampaignAndANewListFollows(t *testing.T) {
	tenant := NewTenant(TenantConfig{Seed: 5}, testStart)
	completed := map[string]time.Time{}
	reloaded := 0
	var prev map[string]map[string]any

	for now := testStart; now.Before(testStart.Add(96 * time.Hour)); now = now.Add(20 * time.Minute) {
		p := decodePayload(t, tenant.Payload(now, 0))
		cur := map[string]map[string]any{}
		for _, c := range p.Campaigns {
			id := str(t, c, "CampaignId")
			cur[id] = c
			remaining, total := num(t, c, "RecordsRemaining"), num(t, c, "TotalRecords")
			status := str(t, c, "Status")
			if remaining < 0 || remaining > total {
				t.Fatalf("campaign %s: RecordsRemaining %v outside [0, %v]", id, remaining, total)
			}
			if (remaining == 0) != (status == CampaignCompleted) {
				t.Fatalf("campaign %s: RecordsRemaining %v with Status %s", id, remaining, status)
			}

			was, seen := prev[id]
			switch {
			case status == CampaignCompleted:
				if _, ok := completed[id]; !ok {
					completed[id] = now
				}
				if seen && str(t, was, "Status") == CampaignCompleted &&
					localMidnight(now, 0).Equal(localMidnight(now.Add(-20*time.Minute), 0)) &&
					num(t, was, "Attempts") != num(t, c, "Attempts") {
					t.Errorf("completed campaign %s kept dialing", id)
				}
			case seen && str(t, was, "Status") == CampaignCompleted:
				reloaded++
			}
		}
		prev = cur
	}

	if len(completed) == 0 {
		t.Fatal("no campaign ran out of records in four days")
	}
	if reloaded == 0 {
		t.Error("no completed campaign got a new list")
	}
}

func TestCampaignAgentCountsMatchTheAgentList(t *testing.T) {
	tenant := NewTenant(TenantConfig{Seed: 9, CampaignGroups: 4, Campaigns: 10, Agents: 60}, testStart)
	statesSeen := map[string]bool{}

	for now := testStart; now.Before(testStart.Add(30 * time.Hour)); now = now.Add(47 * time.Minute) {
		p := decodePayload(t, tenant.Payload(now, 0))
		byGroup := map[string]map[string]float64{}
		for _, a := range p.Agents {
			state, reason := str(t, a, "State"), str(t, a, "ReasonCode")
			statesSeen[state] = true
			if !slices.Contains([]string{AgentReady, AgentTalking, AgentWrapUp, AgentNotReady, AgentLoggedOut}, state) {
				t.Fatalf("agent state %q is not one of the documented set", state)
			}
			if (state == AgentNotReady) != (reason != "") {
				t.Errorf("agent in %s has ReasonCode %q", state, reason)
			}
			if num(t, a, "StateDuration") < 0 {
				t.Errorf("negative StateDuration: %v", a)
			}
			g := str(t, a, "CampaignGroupId")
			if byGroup[g] == nil {
				byGroup[g] = map[string]float64{}
			}
			byGroup[g][state]++
			if state != AgentLoggedOut {
				byGroup[g]["LoggedIn"]++
			}
		}

		for _, c := range p.Campaigns {
			want := byGroup[str(t, c, "CampaignGroupId")]
			for field, state := range map[string]string{
				"AgentsLoggedIn": "LoggedIn", "AgentsReady": AgentReady,
				"AgentsTalking": AgentTalking, "AgentsWrapUp": AgentWrapUp,
				"AgentsNotReady": AgentNotReady,
			} {
				if got := num(t, c, field); got != want[state] {
					t.Fatalf("at %v campaign %s %s = %v, the agent list has %v",
						now, str(t, c, "CampaignId"), field, got, want[state])
				}
			}
		}
	}

	for _, s := range []string{AgentReady, AgentTalking, AgentWrapUp, AgentNotReady, AgentLoggedOut} {
		if !statesSeen[s] {
			t.Errorf("no agent was ever %s", s)
		}
	}
}

func TestAgentsMoveBetweenStatesAndDurationsRun(t *testing.T) {
	tenant := NewTenant(TenantConfig{Seed: 2}, testStart)
	first := decodePayload(t, tenant.Payload(testStart, 0))
	second := decodePayload(t, tenant.Payload(testStart.Add(2*time.Second), 0))
	later := decodePayload(t, tenant.Payload(testStart.Add(10*time.Minute), 0))

	ran := 0
	for i, a := range second.Agents {
		if str(t, a, "State") == str(t, first.Agents[i], "State") {
			if d := num(t, a, "StateDuration") - num(t, first.Agents[i], "StateDuration"); d == 2 {
				ran++
			}
		}
	}
	if ran == 0 {
		t.Error("no agent's StateDuration grew by the 2 seconds that passed")
	}

	changed := 0
	for i, a := range later.Agents {
		if str(t, a, "State") != str(t, first.Agents[i], "State") ||
			num(t, a, "StateDuration") < num(t, first.Agents[i], "StateDuration") {
			changed++
		}
	}
	if changed < len(later.Agents)/3 {
		t.Errorf("only %d of %d agents changed state in 10 minutes", changed, len(later.Agents))
	}
}

func TestCampaignFiguresAreConsistent(t *testing.T) {
	tenant := NewTenant(TenantConfig{Seed: 4, Campaigns: 16}, testStart)
	statuses, modes := map[string]bool{}, map[string]bool{}
	closedSeen := false
	carriedOver, carriedDay := map[string]float64{}, map[string]time.Time{}
	var prev testPayload

	for now := testStart; now.Before(testStart.Add(48 * time.Hour)); now = now.Add(20 * time.Minute) {
		p := decodePayload(t, tenant.Payload(now, 0))
		for i, c := range p.Campaigns {
			id := str(t, c, "CampaignId")
			status, mode := str(t, c, "Status"), str(t, c, "DialingMode")
			statuses[status], modes[mode] = true, true
			if !slices.Contains([]string{CampaignRunning, CampaignPaused, CampaignStopped, CampaignCompleted}, status) {
				t.Fatalf("campaign status %q is not one of the documented set", status)
			}
			if !slices.Contains([]string{DialingPredictive, DialingProgressive, DialingPreview}, mode) {
				t.Fatalf("dialing mode %q is not one of the documented set", mode)
			}

			attempts, connects := num(t, c, "Attempts"), num(t, c, "Connects")
			abandoned, rpc := num(t, c, "Abandoned"), num(t, c, "RightPartyContacts")
			if connects > attempts || rpc > connects || abandoned > connects {
				t.Fatalf("campaign %s: attempts %v, connects %v, right party %v, abandoned %v",
					id, attempts, connects, rpc, abandoned)
			}
			want := 0.0
			if connects > 0 {
				want = 100 * abandoned / connects
			}
			if rate := num(t, c, "AbandonRate"); rate < want-0.006 || rate > want+0.006 {
				t.Fatalf("campaign %s: AbandonRate %v, want %v percent", id, rate, want)
			}
			if m := num(t, c, "MaxAbandonRate"); m < 1 || m > 15 {
				t.Fatalf("campaign %s: MaxAbandonRate %v outside 1-15 percent", id, m)
			}
			if num(t, c, "CallbacksDue") > num(t, c, "CallbacksScheduled") {
				t.Fatalf("campaign %s: more callbacks due than scheduled", id)
			}

			if c["BusinessHourOpen"] == false {
				closedSeen = true
				if status != CampaignStopped && status != CampaignCompleted {
					t.Fatalf("campaign %s outside business hours is %s", id, status)
				}
				if prev.Campaigns != nil && prev.Campaigns[i]["BusinessHourOpen"] == false &&
					localMidnight(now, 0).Equal(localMidnight(now.Add(-20*time.Minute), 0)) &&
					num(t, prev.Campaigns[i], "Attempts") != attempts {
					t.Fatalf("campaign %s dialed outside business hours", id)
				}
			}
		}
		for _, q := range p.Queues {
			if sl := num(t, q, "ServiceLevel"); sl < 0 || sl > 100 {
				t.Fatalf("queue ServiceLevel %v outside 0-100", sl)
			}
			// Every call offered today is answered, abandoned or still
			// waiting, besides those already waiting at midnight.
			id := str(t, q, "QueueId")
			carried := num(t, q, "CallsAnswered") + num(t, q, "CallsAbandoned") +
				num(t, q, "CallsWaiting") - num(t, q, "CallsOffered")
			day := localMidnight(now, 0)
			if before, ok := carriedOver[id]; ok && carriedDay[id].Equal(day) && before != carried {
				t.Fatalf("queue %s lost or made calls: %v carried over, then %v", id, before, carried)
			}
			if carried < 0 {
				t.Fatalf("queue %s resolved fewer calls than it was offered: %v", id, q)
			}
			carriedOver[id], carriedDay[id] = carried, day
			if (num(t, q, "CallsWaiting") == 0) != (num(t, q, "LongestWaitTime") == 0) {
				t.Fatalf("queue with %v calls waiting has LongestWaitTime %v",
					num(t, q, "CallsWaiting"), num(t, q, "LongestWaitTime"))
			}
		}
		prev = p
	}

	for _, s := range []string{CampaignRunning, CampaignPaused, CampaignStopped, CampaignCompleted} {
		if !statuses[s] {
			t.Errorf("no campaign was ever %s", s)
		}
	}
	if len(modes) != 3 {
		t.Errorf("dialing modes seen: %v, want all three", modes)
	}
	if !closedSeen {
		t.Error("no campaign was ever outside business hours")
	}
}

func TestSameSeedAndTimesGiveTheSamePayloads(t *testing.T) {
	steps := []time.Duration{0, time.Second, 7 * time.Second, 3 * time.Minute, 2 * time.Hour,
		13 * time.Hour, time.Second, 40 * time.Hour, 1500 * time.Millisecond}
	run := func(seed int64) [][]byte {
		tenant := NewTenant(TenantConfig{Seed: seed, Quirks: true}, testStart)
		now := testStart
		var out [][]byte
		for _, d := range steps {
			now = now.Add(d)
			out = append(out, tenant.Payload(now, -330))
		}
		return out
	}

	a, b, c := run(42), run(42), run(43)
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("payload %d differs between two tenants with the same seed", i)
		}
	}
	if bytes.Equal(a[len(a)-1], c[len(c)-1]) {
		t.Error("different seeds gave the same payload")
	}
}

func TestQuirksChangeOnlyHowValuesAreWritten(t *testing.T) {
	plain := NewTenant(TenantConfig{Seed: 8}, testStart)
	quirky := NewTenant(TenantConfig{Seed: 8, Quirks: true}, testStart)
	optional := []string{"AvgHandleTime", "AvgWaitTime", "LongestWaitTime", "ServiceLevel"}
	var strs, nulls, empties int

	for now := testStart; now.Before(testStart.Add(time.Hour)); now = now.Add(time.Minute) {
		var want, got struct{ Campaigns, Queues, Agents []map[string]any }
		if err := json.Unmarshal(plain.Payload(now, 0), &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(quirky.Payload(now, 0), &got); err != nil {
			t.Fatalf("quirky payload is not JSON: %v", err)
		}

		sections := map[string][2][]map[string]any{
			"Campaigns": {want.Campaigns, got.Campaigns},
			"Queues":    {want.Queues, got.Queues},
			"Agents":    {want.Agents, got.Agents},
		}
		for section, pair := range sections {
			for i, w := range pair[0] {
				for field, wv := range w {
					gv := pair[1][i][field]
					if wn, isNum := wv.(float64); isNum {
						switch g := gv.(type) {
						case float64:
							if g != wn {
								t.Fatalf("%s %s = %v, want %v", section, field, g, wn)
							}
						case string:
							if g == "" {
								empties++
								if !slices.Contains(optional, field) {
									t.Fatalf("%s %s written as \"\" but is not optional", section, field)
								}
								continue
							}
							strs++
							if f, err := strconv.ParseFloat(g, 64); err != nil || f != wn {
								t.Fatalf("%s %s = %q, want %v", section, field, g, wn)
							}
						case nil:
							nulls++
							if !slices.Contains(optional, field) {
								t.Fatalf("%s %s written as null but is not optional", section, field)
							}
						default:
							t.Fatalf("%s %s is %T", section, field, gv)
						}
						continue
					}
					if gv != wv {
						t.Fatalf("%s %s = %v, want %v", section, field, gv, wv)
					}
				}
			}
		}
	}

	if strs == 0 || nulls == 0 || empties == 0 {
		t.Errorf("quirks gave %d numeric strings, %d nulls, %d empty strings; want some of each",
			strs, nulls, empties)
	}
}

func TestLongGapsAndClockSteppingBack(t *testing.T) {
	tenant := NewTenant(TenantConfig{Seed: 6}, testStart)
	tenant.Payload(testStart, 0)

	far := testStart.Add(30 * 24 * time.Hour)
	began := time.Now()
	p := decodePayload(t, tenant.Payload(far, 0))
	if elapsed := time.Since(began); elapsed > 5*time.Second {
		t.Errorf("a 30-day step took %v", elapsed)
	}
	if p.Timestamp != far.UnixMilli() {
		t.Errorf("Timestamp = %d, want %d", p.Timestamp, far.UnixMilli())
	}
	if sumField(t, p.Campaigns, "Attempts") == 0 {
		t.Error("nothing counted on the day reached after a long gap")
	}

	back := decodePayload(t, tenant.Payload(far.Add(-time.Hour), 0))
	if back.Timestamp != far.UnixMilli() {
		t.Errorf("after the clock stepped back Timestamp = %d, want the model to stay at %d",
			back.Timestamp, far.UnixMilli())
	}
	for k, v := range counters(t, back) {
		if v < counters(t, p)[k] {
			t.Fatalf("%s went back with the clock", k)
		}
	}
}

func TestPayloadIsSafeForConcurrentUse(t *testing.T) {
	tenant := NewTenant(TenantConfig{Seed: 1}, testStart)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				data := tenant.Payload(testStart.Add(time.Duration(i)*time.Second), g*60)
				if !json.Valid(data) {
					t.Error("invalid JSON under concurrent use")
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkTenantPayload(b *testing.B) {
	sizes := []struct {
		name string
		cfg  TenantConfig
	}{
		{"default", TenantConfig{Seed: 1}},
		{"large", TenantConfig{Seed: 1, Campaigns: 1000, Queues: 500, Agents: 5000}},
		{"large_quirks", TenantConfig{Seed: 1, Campaigns: 1000, Queues: 500, Agents: 5000, Quirks: true}},
	}
	for _, s := range sizes {
		b.Run(s.name, func(b *testing.B) {
			tenant := NewTenant(s.cfg, testStart)
			tenant.Payload(testStart, -330)
			now := testStart
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				now = now.Add(time.Second)
				b.SetBytes(int64(len(tenant.Payload(now, -330))))
			}
		})
	}
}
