package explain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/acqueon-exporter/acqueon_exporter/capture"
	"github.com/acqueon-exporter/acqueon_exporter/collector"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var start = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

func frame(messageType string, data any) string {
	b, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	return string(protocol.Encode("ATIRealTimeService", "PerformanceMetrics_SITE_1", messageType, string(b)))
}

// siteCapture is a capture of a feed that differs from the default
// mapping: Attempts is called DialAttempts and CallsWaiting Waiting,
// campaigns carry a Region, Data carries a ServerVersion and a Skills
// list, and two message types are new: AEQueueStatistics with a list, and
// a Heartbeat without one.
func siteCapture(t *testing.T) []capture.Record {
	t.Helper()
	tenant := simulator.NewTenant(simulator.TenantConfig{Seed: 7}, start)
	records := []capture.Record{{
		ReceivedAt: start,
		Frame:      string(protocol.ConnectionEvent("PerformanceMetrics_SITE_1", "0123456789abcdef0123456789abcdef")),
	}}
	for i := range 40 {
		now := start.Add(time.Duration(i) * 10 * time.Second)
		var data map[string]any
		if err := json.Unmarshal(tenant.Payload(now, 0), &data); err != nil {
			t.Fatal(err)
		}
		for j, c := range data["Campaigns"].([]any) {
			c := c.(map[string]any)
			c["DialAttempts"] = c["Attempts"]
			delete(c, "Attempts")
			c["Region"] = []string{"East", "West"}[j%2]
		}
		for _, q := range data["Queues"].([]any) {
			q := q.(map[string]any)
			q["Waiting"] = q["CallsWaiting"]
			delete(q, "CallsWaiting")
		}
		var skills []any
		for k := range 3 {
			skills = append(skills, map[string]any{
				"SkillId":   fmt.Sprintf("sk-%d", k),
				"SkillName": fmt.Sprintf("Skill %d", k),
				"Handled":   i*3 + k,
				"Available": (i + k) % 4,
				"Enabled":   k != 1,
			})
		}
		data["Skills"] = skills
		data["ServerVersion"] = "9.1.2"
		records = append(records, capture.Record{ReceivedAt: now, Frame: frame("AEPerformanceMetrics", data)})

		if i%5 == 0 {
			stats := map[string]any{"Timestamp": now.UnixMilli(), "QueueStats": []any{
				map[string]any{"QueueId": "q1", "Offered": i * 2, "Mood": "Calm"},
				map[string]any{"QueueId": "q2", "Offered": i * 5, "Mood": "Busy"},
			}}
			records = append(records, capture.Record{ReceivedAt: now, Frame: frame("AEQueueStatistics", stats)})
			records = append(records, capture.Record{ReceivedAt: now, Frame: frame("Heartbeat", "")})
		}
	}
	return records
}

func analyze(t *testing.T, records []capture.Record, m *collector.Mapping) *Report {
	t.Helper()
	r, err := Analyze("site.jsonl", records, Options{Mapping: m})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func messageOf(t *testing.T, r *Report, messageType string) *MessageReport {
	t.Helper()
	for _, mr := range r.Messages {
		if mr.Type == messageType {
			return mr
		}
	}
	t.Fatalf("no message type %s in the report", messageType)
	return nil
}

func sectionOf(t *testing.T, mr *MessageReport, path string) *SectionReport {
	t.Helper()
	for _, s := range mr.Sections {
		if s.Path == path {
			return s
		}
	}
	t.Fatalf("no section %s in %s", path, mr.Type)
	return nil
}

func names(fields []*FieldReport) []string {
	var out []string
	for _, f := range fields {
		out = append(out, f.Name)
	}
	return out
}

func kinds(fields []*FieldReport) map[string]Kind {
	out := map[string]Kind{}
	for _, f := range fields {
		out[f.Name] = f.Kind
	}
	return out
}

func TestExplainListsExactlyWhatTheMappingLacks(t *testing.T) {
	r := analyze(t, siteCapture(t), nil)
	if r.Frames != 57 || r.ConnectionEvents != 1 || r.Malformed != 0 {
		t.Errorf("frames %d, connection events %d, malformed %d", r.Frames, r.ConnectionEvents, r.Malformed)
	}
	metrics := messageOf(t, r, "AEPerformanceMetrics")
	if got := names(metrics.UnmappedKeys); !slices.Equal(got, []string{"ServerVersion"}) {
		t.Errorf("unmapped Data keys %v", got)
	}

	campaigns := sectionOf(t, metrics, "Campaigns")
	if got := names(campaigns.Unmapped); !slices.Equal(got, []string{"DialAttempts", "Region"}) {
		t.Errorf("unmapped campaign fields %v", got)
	}
	if !slices.Equal(campaigns.Missing, []string{"Attempts"}) || campaigns.Renamed["Attempts"] != "DialAttempts" {
		t.Errorf("missing %v, renamed %v", campaigns.Missing, campaigns.Renamed)
	}
	if k := kinds(campaigns.Unmapped); k["DialAttempts"] != KindCounter || k["Region"] != KindState {
		t.Errorf("campaign field kinds %v", k)
	}
	if campaigns.Entities != 8 || len(campaigns.ExampleKeys) != 3 {
		t.Errorf("campaigns: %d entities, examples %v", campaigns.Entities, campaigns.ExampleKeys)
	}

	queues := sectionOf(t, metrics, "Queues")
	if got := names(queues.Unmapped); !slices.Equal(got, []string{"Waiting"}) || !slices.Equal(queues.Missing, []string{"CallsWaiting"}) {
		t.Errorf("queues: unmapped %v, missing %v", got, queues.Missing)
	}
	if agents := sectionOf(t, metrics, "Agents"); len(agents.Unmapped) != 0 || len(agents.Missing) != 0 {
		t.Errorf("agents: unmapped %v, missing %v", names(agents.Unmapped), agents.Missing)
	}

	skills := sectionOf(t, metrics, "Skills")
	if skills.Mapped || !slices.Equal(skills.Key, []string{"SkillId"}) || skills.Entities != 3 {
		t.Errorf("skills: mapped %v, key %v, %d entities", skills.Mapped, skills.Key, skills.Entities)
	}
	want := map[string]Kind{"Available": KindGauge, "Enabled": KindBool, "Handled": KindCounter, "SkillName": KindLabel}
	if got := kinds(skills.Unmapped); !maps.Equal(got, want) {
		t.Errorf("skill field kinds %v, want %v", got, want)
	}

	stats := messageOf(t, r, "AEQueueStatistics")
	if stats.Mapped || stats.Frames != 8 {
		t.Errorf("AEQueueStatistics: mapped %v, %d frames", stats.Mapped, stats.Frames)
	}
	qs := sectionOf(t, stats, "QueueStats")
	if !slices.Equal(qs.Key, []string{"QueueId"}) || !maps.Equal(kinds(qs.Unmapped), map[string]Kind{"Offered": KindCounter, "Mood": KindState}) {
		t.Errorf("QueueStats: key %v, fields %v", qs.Key, kinds(qs.Unmapped))
	}
	if got := names(stats.UnmappedKeys); !slices.Equal(got, []string{"Timestamp"}) {
		t.Errorf("AEQueueStatistics Data keys %v", got)
	}
	if hb := messageOf(t, r, "Heartbeat"); len(hb.Sections) != 0 || len(hb.UnmappedKeys) != 0 {
		t.Errorf("Heartbeat: %+v", hb)
	}
}

func TestExplainShowsTheSeriesTheMappingMakes(t *testing.T) {
	r := analyze(t, siteCapture(t), nil)
	queues := sectionOf(t, messageOf(t, r, "AEPerformanceMetrics"), "Queues")
	series := map[string]SeriesReport{}
	for _, s := range queues.Series {
		series[s.Metric] = s
	}
	offered := series["acqueon_queue_calls_offered_total"]
	if offered.Count != 4 || len(offered.Examples) != 3 ||
		!strings.HasPrefix(offered.Examples[0], `acqueon_queue_calls_offered_total{queue="`) {
		t.Errorf("offered: %+v", offered)
	}
	// The renamed field gives no series: the report shows it.
	if waiting := series["acqueon_queue_calls_waiting"]; waiting.Count != 0 {
		t.Errorf("calls waiting: %+v", waiting)
	}

	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Capture site.jsonl: 57 frames",
		"acqueon_queue_calls_waiting: no series",
		"Attempts may have been renamed DialAttempts.",
		"Section Skills is NOT in the mapping (key guessed: SkillId): 3 entities",
		"Message type Heartbeat: 8 frames, NOT in the mapping",
		"Handled: counter (",
		"# ---- mapping fragment",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
}

// fragmentMetrics returns the metric names of a fragment.
func fragmentMetrics(t *testing.T, fragment []byte) []string {
	t.Helper()
	var doc struct {
		Messages map[string]struct {
			Sections []struct {
				Metrics []struct{ Name string }
			}
		}
	}
	if err := yaml.Unmarshal(fragment, &doc); err != nil {
		t.Fatalf("fragment is not YAML: %v\n%s", err, fragment)
	}
	var out []string
	for _, m := range doc.Messages {
		for _, s := range m.Sections {
			for _, metric := range s.Metrics {
				out = append(out, metric.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestTheFragmentMergedIntoTheMappingExportsWhatWasMissing(t *testing.T) {
	records := siteCapture(t)
	r := analyze(t, records, nil)
	fragment := r.Fragment()
	want := []string{
		"acqueon_campaign_dial_attempts_2_total", // the name the mapping uses for Attempts is taken
		"acqueon_campaign_region",
		"acqueon_queue_stat_info",
		"acqueon_queue_stat_mood",
		"acqueon_queue_stat_offered_total",
		"acqueon_queue_waiting",
		"acqueon_skill_available",
		"acqueon_skill_enabled",
		"acqueon_skill_handled_total",
		"acqueon_skill_info",
	}
	if got := fragmentMetrics(t, fragment); !slices.Equal(got, want) {
		t.Fatalf("fragment metrics %v, want %v\n%s", got, want, fragment)
	}

	merged, err := Merge(collector.DefaultMapping(), fragment)
	if err != nil {
		t.Fatal(err)
	}
	m, err := collector.ParseMapping("merged.yml", merged)
	if err != nil {
		t.Fatalf("merged mapping: %v\n%s", err, merged)
	}
	c, err := collector.New(collector.Options{Mapping: m, Now: func() time.Time { return start.Add(10 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range records {
		c.HandleFrame([]byte(rec.Frame), rec.ReceivedAt)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range families {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	for _, name := range want {
		if series[name] == 0 {
			t.Errorf("merged mapping exports no %s", name)
		}
	}
	if series["acqueon_skill_info"] != 3 || series["acqueon_queue_stat_mood"] != 4 {
		t.Errorf("skill info %d series (want 3), queue stat mood %d (want 2 entities x 2 states)",
			series["acqueon_skill_info"], series["acqueon_queue_stat_mood"])
	}

	// Against the merged mapping, nothing is left to suggest.
	again := analyze(t, records, m)
	if frag := again.Fragment(); frag != nil {
		t.Errorf("fragment against the merged mapping:\n%s", frag)
	}
}

func TestMergeKeepsTheMappingsCommentsAndAddsNewTypes(t *testing.T) {
	base := []byte("# site mapping\nmessages:\n  A:\n    ignore: [X]\n    sections:\n      - path: L\n        key: [Id]\n" +
		"        labels: [{field: Id, label: id}]\n        metrics:\n          - {name: a_info, help: Id (vendor field Id)., type: gauge}\n")
	fragment := []byte("messages:\n  A:\n    ignore: [Y]\n    sections:\n      - path: L\n        ignore: [Z]\n" +
		"        metrics:\n          - {name: a_v, help: V (vendor field V)., type: gauge, field: V}\n" +
		"  B:\n    ignore: [T]\n")
	merged, err := Merge(base, fragment)
	if err != nil {
		t.Fatal(err)
	}
	m, err := collector.ParseMapping("merged.yml", merged)
	if err != nil {
		t.Fatalf("%v\n%s", err, merged)
	}
	infos := m.Messages()
	if len(infos) != 2 || !slices.Equal(infos[0].Ignore, []string{"X", "Y"}) ||
		!slices.Equal(infos[0].Sections[0].Fields, []string{"Id", "V", "Z"}) || infos[1].Type != "B" {
		t.Errorf("merged mapping: %+v", infos)
	}
	if !bytes.HasPrefix(merged, []byte("# site mapping")) {
		t.Errorf("comment lost:\n%s", merged)
	}
}

// record makes a capture of one section whose entities' field values are
// given per frame.
func sectionCapture(field string, values ...[]any) []capture.Record {
	var out []capture.Record
	for i, frameValues := range values {
		var items []any
		for e, v := range frameValues {
			items = append(items, map[string]any{"Id": fmt.Sprint(e), field: v})
		}
		out = append(out, capture.Record{
			ReceivedAt: start.Add(time.Duration(i) * time.Second),
			Frame:      frame("T", map[string]any{"List": items}),
		})
	}
	return out
}

func TestKindGuesses(t *testing.T) {
	rising := [][]any{}
	for i := range 30 {
		// Two entities; the second resets once, as at midnight.
		rising = append(rising, []any{i * 4, (i%20)*3 + 1})
	}
	cases := []struct {
		name   string
		field  string
		values [][]any
		want   Kind
	}{
		{"counter with a daily reset", "Calls", rising, KindCounter},
		{"numeric strings count too", "Calls", [][]any{{"1"}, {"2"}, {"5"}}, KindCounter},
		{"up and down is a gauge", "Waiting", [][]any{{1}, {3}, {2}}, KindGauge},
		{"fractions are a gauge", "Rate", [][]any{{1.5}, {2.5}, {3.5}}, KindGauge},
		{"unchanged is a gauge", "Total", [][]any{{5}, {5}, {5}}, KindGauge},
		{"one sample is a gauge", "Total", [][]any{{5}}, KindGauge},
		{"drops to zero every time are a gauge", "Due", [][]any{{0}, {1}, {0}, {1}, {0}}, KindGauge},
		{"few strings are a state", "Status", [][]any{{"Running", "Paused"}, {"Paused", "Paused"}}, KindState},
		{"a string per entity is a label", "Site", [][]any{{"a", "b", "c", "d", "e", "f", "g"}}, KindLabel},
		{"many strings are a label", "Note", [][]any{{"1a", "2a", "3a", "4a", "5a", "6a", "7a"}, {"8a", "9a", "10a", "11a", "12a", "13a", "14a"}}, KindLabel},
		{"an id is a label even when numeric", "GroupId", [][]any{{1, 1}, {2, 2}}, KindLabel},
		{"booleans", "Open", [][]any{{true, false}}, KindBool},
		{"only null and empty", "Spare", [][]any{{nil, ""}}, KindEmpty},
		{"lists are nested", "Tags", [][]any{{[]any{"x"}}}, KindNested},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := analyze(t, sectionCapture(tc.field, tc.values...), nil)
			s := sectionOf(t, messageOf(t, r, "T"), "List")
			if !slices.Equal(s.Key, []string{"Id"}) {
				t.Fatalf("key %v", s.Key)
			}
			got := kinds(s.Unmapped)[tc.field]
			if got != tc.want {
				t.Errorf("%s guessed %s (%s), want %s", tc.field, got, s.Unmapped[0].Why, tc.want)
			}
		})
	}
}

func TestAListWithoutAnIdentifyingFieldIsIgnored(t *testing.T) {
	records := []capture.Record{{ReceivedAt: start, Frame: frame("T", map[string]any{
		"List": []any{map[string]any{"V": 1}, map[string]any{"V": 1}},
	})}}
	r := analyze(t, records, nil)
	s := sectionOf(t, messageOf(t, r, "T"), "List")
	if len(s.Key) != 0 {
		t.Errorf("key %v guessed for entries that share every value", s.Key)
	}
	if !strings.Contains(string(r.Fragment()), "ignore: [List]") {
		t.Errorf("fragment:\n%s", r.Fragment())
	}
}
