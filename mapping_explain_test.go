package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/acqueon-exporter/acqueon_exporter/capture"
	"github.com/acqueon-exporter/acqueon_exporter/collector"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

// explainCapture writes a capture whose queues call CallsOffered
// "Offered" and carry a "Floor".
func explainCapture(t *testing.T) string {
	t.Helper()
	start := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	tenant := simulator.NewTenant(simulator.TenantConfig{Seed: 2}, start)
	var lines bytes.Buffer
	for i := range 20 {
		now := start.Add(time.Duration(i) * 15 * time.Second)
		var data map[string]any
		if err := json.Unmarshal(tenant.Payload(now, 0), &data); err != nil {
			t.Fatal(err)
		}
		for j, q := range data["Queues"].([]any) {
			q := q.(map[string]any)
			q["Offered"] = q["CallsOffered"]
			delete(q, "CallsOffered")
			q["Floor"] = []string{"North", "South"}[j%2]
		}
		payload, _ := json.Marshal(data)
		frame := protocol.Encode("ATIRealTimeService", "PerformanceMetrics_site_1", simulator.MessageTypeMetrics, string(payload))
		line, _ := json.Marshal(capture.Record{ReceivedAt: now, Frame: string(frame)})
		lines.Write(append(line, '\n'))
	}
	path := filepath.Join(t.TempDir(), "capture.jsonl")
	writeSiteFile(t, path, lines.String())
	return path
}

// runMappingCommand parses args as the program does for the mapping
// commands and runs the one selected.
func runMappingCommand(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := kingpin.New("test", "")
	var mappingFile string
	app.Flag("mapping.file", "").StringVar(&mappingFile)
	cmds := addMappingCommands(app)
	command, err := app.Parse(args)
	if err != nil {
		return 2, "", err.Error()
	}
	code, handled := cmds.run(command, mappingFile, &out, &errOut)
	if !handled {
		t.Fatalf("%q not handled", command)
	}
	return code, out.String(), errOut.String()
}

func TestMappingExplainReportsTheUnmappedFieldsOffline(t *testing.T) {
	path := explainCapture(t)
	code, out, errOut := runMappingCommand(t, "mapping", "explain", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Section Queues (key QueueId): 4 entities",
		"Fields the mapping reads that the capture never had: CallsOffered.",
		"CallsOffered may have been renamed Offered.",
		"Floor: state (",
		"Offered: counter (",
		"acqueon_queue_calls_abandoned_total: 4 series",
		"- name: acqueon_queue_floor",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestMappingExplainMergedOutputIsAMappingThatLeavesNothingOut(t *testing.T) {
	path := explainCapture(t)
	code, merged, errOut := runMappingCommand(t, "mapping", "explain", "--output=merged", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	m, err := collector.ParseMapping("merged.yml", []byte(merged))
	if err != nil {
		t.Fatalf("merged output: %v\n%s", err, merged)
	}
	names := strings.Join(m.MetricNames(), " ")
	if !strings.Contains(names, "acqueon_queue_floor ") || !strings.Contains(names, "acqueon_queue_offered_total") {
		t.Errorf("merged mapping metrics: %s", names)
	}

	mergedFile := filepath.Join(t.TempDir(), "merged.yml")
	writeSiteFile(t, mergedFile, merged)
	code, fragment, errOut := runMappingCommand(t, "mapping", "explain", "--mapping.file="+mergedFile,
		"--output=fragment", path)
	if code != 0 || fragment != "" {
		t.Errorf("explain against the merged mapping: exit %d, fragment %q, %s", code, fragment, errOut)
	}
}

func TestMappingExplainNamesAnUnusableMappingOrCapture(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	writeSiteFile(t, bad, "messages:\n  X:\n    sections: [{path: L}]\n")
	code, _, errOut := runMappingCommand(t, "mapping", "explain", "--mapping.file="+bad, explainCapture(t))
	if code != 1 || !strings.Contains(errOut, bad+":3:") {
		t.Errorf("bad mapping: exit %d, %q", code, errOut)
	}

	notCapture := filepath.Join(dir, "notes.txt")
	writeSiteFile(t, notCapture, "hello\n")
	code, _, errOut = runMappingCommand(t, "mapping", "explain", notCapture)
	if code != 1 || !strings.Contains(errOut, notCapture+":1:") {
		t.Errorf("not a capture: exit %d, %q", code, errOut)
	}
	if code, _, _ := runMappingCommand(t, "mapping", "explain"); code != 2 {
		t.Errorf("no capture: exit %d, want 2", code)
	}
	if code, _, errOut := runMappingCommand(t, "mapping", "explain", filepath.Join(dir, "missing")); code != 1 ||
		!strings.Contains(errOut, "missing") {
		t.Errorf("missing capture: exit %d, %q", code, errOut)
	}
}
