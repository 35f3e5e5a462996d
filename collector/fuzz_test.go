package collector

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// fuzzMapping exercises every feature of the mapping schema: nested
// section paths, composite keys, optional labels, transforms, value maps,
// scales, fixed labels, states and a second message type. Its seed corpus
// is in testdata/fuzz/FuzzMappingPayload.
const fuzzMapping = `
messages:
  Metrics:
    ignore: [Timestamp, Meta.Version]
    sections:
      - path: Site.Teams
        key: [SiteId, TeamId]
        labels:
          - {field: SiteId, label: site_id}
          - {field: TeamId, label: team_id}
          - {field: TeamName, label: team, optional: true}
        metrics:
          - name: fuzz_team_info
            help: Team identity (vendor field Kind).
            type: gauge
            labels:
              - {field: Kind, label: kind, transform: snake_case, values: {X: special}}
          - name: fuzz_team_state
            help: Team state (vendor field State).
            type: gauge
            state: {field: State, label: state, transform: snake_case, known: [Open, Closed]}
          - name: fuzz_team_members
            help: Members by state (vendor fields Ready, Busy).
            type: gauge
            field: Ready
            fixed_labels: {member_state: ready}
          - name: fuzz_team_members
            help: Members by state (vendor fields Ready, Busy).
            type: gauge
            field: Busy
            fixed_labels: {member_state: busy}
          - name: fuzz_team_ratio
            help: A percentage (vendor field Percent).
            type: gauge
            field: Percent
            scale: 0.01
          - name: fuzz_team_flag
            help: A mapped value (vendor field Flag).
            type: gauge
            field: Flag
            values: {Yes: 1, No: 0}
          - name: fuzz_team_calls_total
            help: A counter (vendor field Calls).
            type: counter
            field: Calls
  Other:
    sections:
      - path: Items
        key: [Id]
        labels:
          - {field: Id, label: item_id}
        metrics:
          - name: fuzz_item_value
            help: A value (vendor field Value).
            type: gauge
            field: Value
`

// checkExposition gathers reg pedantically and fails on any error or any
// sample that is not a finite number; it returns the text exposition.
func checkExposition(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var text bytes.Buffer
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s has a sample %v", mf.GetName(), v)
			}
		}
		if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
			t.Fatalf("format %s: %v", mf.GetName(), err)
		}
	}
	return text.String()
}

// vendorOnly drops the exporter's own series, which count every frame.
func vendorOnly(text string) string {
	var out bytes.Buffer
	for line := range bytes.Lines([]byte(text)) {
		if !bytes.Contains(line, []byte("acqueon_exporter_")) {
			out.Write(line)
		}
	}
	return out.String()
}

// rawFrame is an envelope whose Data is data as it is, JSON or not.
func rawFrame(messageType string, data []byte) []byte {
	return append([]byte(`{"Sender":"Server","MessageType":"`+messageType+`","Data":`), append(data, '}')...)
}

// FuzzMappingPayload applies a mapping that uses every feature to
// arbitrary Data, double encoded as the feed sends it and as a plain
// object, and checks that scrapes never fail or show a non-finite sample,
// and that the same message twice leaves the same series (a message
// replaces what its sections held).
func FuzzMappingPayload(f *testing.F) {
	f.Add([]byte(`{"Site": {"Teams": [{"SiteId": "s1", "TeamId": 1, "TeamName": "A", "Kind": "X",
		"State": "Open", "Ready": 3, "Busy": "4", "Percent": 87.5, "Flag": "Yes", "Calls": 10}]}}`))
	m, err := ParseMapping("fuzz.yml", []byte(fuzzMapping))
	if err != nil {
		f.Fatalf("fuzz mapping: %v", err)
	}
	c, err := New(Options{Mapping: m, OptionalLabels: []string{"team"}, Now: func() time.Time { return t0 }})
	if err != nil {
		f.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, frame := range [][]byte{
			stringFrame("Metrics", string(data)),
			rawFrame("Other", data),
			rawFrame("Metrics", data),
		} {
			c.HandleFrame(frame, t0)
			once := vendorOnly(checkExposition(t, reg))
			c.HandleFrame(frame, t0)
			if twice := vendorOnly(checkExposition(t, reg)); twice != once {
				t.Fatalf("the same message twice changed the series:\nonce:\n%s\ntwice:\n%s", once, twice)
			}
		}
	})
}

// FuzzParseMapping feeds arbitrary files to the mapping parser. A mapping
// it accepts must give a collector whose descriptors a pedantic registry
// accepts and which ingests and scrapes a sample message.
func FuzzParseMapping(f *testing.F) {
	f.Add([]byte(fuzzMapping))
	sample := readTestdata(f, "sample_payload.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMapping("fuzz.yml", data)
		if err != nil {
			if m != nil {
				t.Fatalf("ParseMapping returned a mapping and an error: %v", err)
			}
			return
		}
		c, err := New(Options{Mapping: m, Now: func() time.Time { return t0 }})
		if err != nil {
			// Only optional labels can make New fail, and none are asked for.
			t.Fatalf("New refused a mapping that ParseMapping accepted: %v", err)
		}
		reg := prometheus.NewPedanticRegistry()
		if err := reg.Register(c); err != nil {
			t.Fatalf("register a collector of an accepted mapping: %v", err)
		}
		for _, typ := range m.MessageTypes() {
			c.HandleFrame(objectFrame(typ, sample), t0)
		}
		checkExposition(t, reg)
	})
}
