package collector

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// interfaceVendorMetrics is the vendor table of the project's interface
// page: the names dashboards and alerts rely on.
var interfaceVendorMetrics = []string{
	"acqueon_campaign_info",
	"acqueon_campaign_status",
	"acqueon_campaign_business_open",
	"acqueon_campaign_records",
	"acqueon_campaign_records_remaining",
	"acqueon_campaign_contacts_delivered_total",
	"acqueon_campaign_dial_attempts_total",
	"acqueon_campaign_connects_total",
	"acqueon_campaign_right_party_contacts_total",
	"acqueon_campaign_abandoned_calls_total",
	"acqueon_campaign_call_outcomes_total",
	"acqueon_campaign_abandon_ratio",
	"acqueon_campaign_abandon_limit_ratio",
	"acqueon_campaign_callbacks_scheduled",
	"acqueon_campaign_callbacks_due",
	"acqueon_campaign_lines_per_agent",
	"acqueon_campaign_active_calls",
	"acqueon_campaign_agents",
	"acqueon_campaign_handle_time_seconds",
	"acqueon_campaign_wait_time_seconds",
	"acqueon_queue_calls_waiting",
	"acqueon_queue_oldest_call_age_seconds",
	"acqueon_queue_service_level_ratio",
	"acqueon_queue_calls_offered_total",
	"acqueon_queue_calls_answered_total",
	"acqueon_queue_calls_abandoned_total",
	"acqueon_agent_state",
	"acqueon_agent_state_duration_seconds",
}

func TestDefaultMappingMakesTheInterfaceMetrics(t *testing.T) {
	m, err := LoadMapping("")
	if err != nil {
		t.Fatalf("default mapping: %v", err)
	}
	want := slices.Sorted(slices.Values(interfaceVendorMetrics))
	if got := m.MetricNames(); !slices.Equal(got, want) {
		t.Errorf("metric names:\n got %v\nwant %v", got, want)
	}
	if got := m.OptionalLabels(); !slices.Equal(got, []string{"agent"}) {
		t.Errorf("optional labels = %v, want [agent]", got)
	}
	if got := m.MessageTypes(); !slices.Equal(got, []string{"AEPerformanceMetrics"}) {
		t.Errorf("message types = %v", got)
	}
}

func TestSampleMessageProducesEveryInterfaceMetric(t *testing.T) {
	c, _ := newCollector(t, Options{})
	c.HandleFrame(metricsFrame(readTestdata(t, "sample_payload.json")), t0)
	text := exposition(t, c)
	for _, name := range interfaceVendorMetrics {
		if !strings.Contains(text, "\n"+name+"{") {
			t.Errorf("no series of %s", name)
		}
	}
}

func TestLoadMappingReadsAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mapping.yml")
	if err := os.WriteFile(path, DefaultMapping(), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := LoadMapping(path)
	if err != nil {
		t.Fatalf("LoadMapping: %v", err)
	}
	if m.Name() != path || len(m.MetricNames()) != len(interfaceVendorMetrics) {
		t.Errorf("loaded %s with %d metrics", m.Name(), len(m.MetricNames()))
	}

	if err := os.WriteFile(path, []byte("messages:\n  X:\n    bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadMapping(path)
	if want := path + ":3: unknown key \"bogus\""; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}

	if _, err := LoadMapping(filepath.Join(t.TempDir(), "missing.yml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

// validMapping is a small mapping that each bad case below breaks in one
// place.
const validMapping = `messages:
  M:
    ignore: [Timestamp]
    sections:
      - path: Items
        key: [Id]
        labels:
          - {field: Id, label: item_id}
          - {field: Name, label: item, optional: true}
        metrics:
          - name: x_value
            help: Value (vendor field Value).
            type: gauge
            field: Value
`

func TestValidMappingParses(t *testing.T) {
	if _, err := ParseMapping("valid.yml", []byte(validMapping)); err != nil {
		t.Fatal(err)
	}
}

func TestParseMappingErrors(t *testing.T) {
	// Each case replaces one piece of validMapping.
	cases := []struct {
		name, old, new string
		line           int
		reason         string
	}{
		{"not YAML", "    ignore: [Timestamp]\n", "    ignore: \"Timestamp]\n", 3, "unexpected end of stream"},
		{"tab in indentation", "    ignore: [Timestamp]\n", "    ignore: [Timestamp]\n  \tx: 1\n", 4, "cannot start any token"},
		{"unknown top key", "messages:\n", "messagez:\n", 1, `unknown key "messagez"`},
		{"unknown section key", "        key: [Id]\n", "        keys: [Id]\n", 6, `unknown key "keys"`},
		{"unknown metric key", "            field: Value\n", "            fields: Value\n", 14, `unknown key "fields"`},
		{"unknown label key", "{field: Id, label: item_id}", "{field: Id, name: item_id}", 8, `unknown key "name"`},
		{"wrong kind", "ignore: [Timestamp]", "ignore: {Timestamp: 1}", 3, "cannot unmarshal !!map into []string"},
		{"metric not a mapping", "          - name: x_value\n", "          - x_value\n          - name: x_value\n", 11, "want a mapping"},
		{"unknown type", "type: gauge", "type: histogram", 13, `type "histogram", want gauge or counter`},
		{"invalid metric name", "name: x_value", "name: x-value", 11, `invalid metric name "x-value"`},
		{"invalid label name", "label: item_id", "label: item-id", 8, `invalid label name "item-id"`},
		{"reserved label", "label: item_id", "label: instance", 8, `label name "instance" is reserved`},
		{"reserved label job", "label: item_id", "label: job", 8, `label name "job" is reserved`},
		{"double underscore label", "label: item_id", "label: __item", 8, "invalid label name"},
		{"label used twice", "label: item,", "label: item_id,", 9, `"item_id" is used twice`},
		{"counter without _total", "type: gauge", "type: counter", 11, "must end in _total"},
		{"gauge with _total", "name: x_value", "name: x_value_total", 11, "must not end in _total"},
		{"scale 0", "            field: Value\n", "            field: Value\n            scale: 0\n", 15, "scale 0"},
		{"scale not a number", "            field: Value\n", "            field: Value\n            scale: big\n", 15, "cannot unmarshal"},
		{"empty key list", "key: [Id]", "key: []", 6, "no key fields"},
		{"key not a label", "key: [Id]", "key: [Other]", 6, `key field "Other" must also be a label`},
		{"key is optional label", "key: [Id]", "key: [Name]", 6, `key field "Name" must also be a label that is not optional`},
		{"no help", "            help: Value (vendor field Value).\n", "", 11, `metric "x_value" has no help`},
		{"help without field", "help: Value (vendor field Value).", "help: A value.", 12, "must name the vendor field"},
		{"unknown transform", "label: item_id}", "label: item_id, transform: camel}", 8, `unknown transform "camel"`},
		{"no metrics", "        metrics:\n          - name: x_value\n            help: Value (vendor field Value).\n" +
			"            type: gauge\n            field: Value\n", "", 5, "has no metrics"},
		{"no messages", validMapping, "messages: {}\n", 1, "no message types"},
		{"empty file", validMapping, "", 1, "empty"},
		{"bad path", "path: Items", "path: Items..x", 5, "not a dotted path"},
		{"self metric name", "name: x_value", "name: acqueon_exporter_series", 11, "reserved for the exporter"},
		{"field and state", "            field: Value\n",
			"            field: Value\n            state: {field: S, label: s, known: [A]}\n", 15, "both field and state"},
		{"state without known", "            field: Value\n",
			"            state: {field: Value, label: s}\n", 14, "lists no known values"},
		{"state known twice", "            field: Value\n",
			"            state: {field: Value, label: s, transform: snake_case, known: [WrapUp, wrap_up]}\n", 14,
			`"wrap_up", empty or given twice`},
		{"values without field", "            field: Value\n", "            values: {A: 1}\n", 11, "but no field"},
		{"ignored and mapped", "        metrics:\n", "        ignore: [Value]\n        metrics:\n", 10, `ignored field "Value"`},
		{"sections overlap", "    ignore: [Timestamp]\n", "    ignore: [Items]\n", 5, "overlaps"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(validMapping, tc.old) {
				t.Fatalf("case does not apply: %q", tc.old)
			}
			text := strings.Replace(validMapping, tc.old, tc.new, 1)
			_, err := ParseMapping("bad.yml", []byte(text))
			var me *MappingError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want a *MappingError\n%s", err, text)
			}
			if me.File != "bad.yml" || me.Line != tc.line || !strings.Contains(me.Reason, tc.reason) {
				t.Errorf("err = %q, want bad.yml:%d: ...%s...\n%s", err, tc.line, tc.reason, numbered(text))
			}
			if !strings.HasPrefix(err.Error(), "bad.yml:") {
				t.Errorf("err = %q does not start with the file name", err)
			}
		})
	}
}

func TestMetricEntriesSharingANameMustAgree(t *testing.T) {
	entry := func(help, typ, field, fixed string) string {
		return "          - name: x_things\n" +
			"            help: " + help + "\n" +
			"            type: " + typ + "\n" +
			"            field: " + field + "\n" +
			"            fixed_labels: " + fixed + "\n"
	}
	head := "messages:\n  M:\n    sections:\n      - path: Items\n        key: [Id]\n" +
		"        labels: [{field: Id, label: item_id}]\n        metrics:\n"
	first := entry("Things (vendor fields A, B).", "gauge", "A", "{kind: a}")
	cases := []struct {
		name   string
		second string
		reason string
	}{
		{"other help", entry("Other (vendor fields A, B).", "gauge", "B", "{kind: b}"), "help other than at line 8"},
		{"other type", entry("Things (vendor fields A, B).", "counter", "B", "{kind: b}"), "must end in _total"},
		{"other labels", entry("Things (vendor fields A, B).", "gauge", "B", "{sort: b}"), "label names other than"},
		{"same series", entry("Things (vendor fields A, B).", "gauge", "B", "{kind: a}"), "repeats the series of line 8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMapping("shared.yml", []byte(head+first+tc.second))
			var me *MappingError
			if !errors.As(err, &me) || me.Line < 13 || !strings.Contains(me.Reason, tc.reason) {
				t.Errorf("err = %v, want shared.yml:13+: ...%s...", err, tc.reason)
			}
		})
	}
	if _, err := ParseMapping("shared.yml", []byte(head+first+entry("Things (vendor fields A, B).", "gauge", "B",
		"{kind: b}"))); err != nil {
		t.Errorf("entries that agree: %v", err)
	}
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"Talking":    "talking",
		"WrapUp":     "wrap_up",
		"NotReady":   "not_ready",
		"LoggedOut":  "logged_out",
		"Not Ready":  "not_ready",
		"not-ready":  "not_ready",
		"HTTPServer": "http_server",
		"ACW":        "acw",
		"wrap_up":    "wrap_up",
		"Break2Go":   "break2_go",
		"":           "",
		" _Lunch_ ":  "lunch",
		"Pausé":      "pausé",
	} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func numbered(text string) string {
	var b strings.Builder
	for i, line := range strings.Split(text, "\n") {
		fmt.Fprintf(&b, "%3d %s\n", i+1, line)
	}
	return b.String()
}
