package main

import (
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
	"github.com/acqueon-exporter/acqueon_exporter/capture"
	"github.com/acqueon-exporter/acqueon_exporter/collector"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

func TestACaptureReplaysIntoTheSameVendorSeries(t *testing.T) {
	// Record a live session's frames in front of the collector.
	_, feed := startSiteFeed(t, simulator.Config{
		PushInterval: 20 * time.Millisecond,
		Tenant:       simulator.TenantConfig{Seed: 3, Quirks: true},
	})
	recorded, err := collector.New(collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "capture.jsonl")
	handler, closeCapture, err := withRecorder(recordOptions{file: path, maxSize: 64 << 20, backups: 1},
		recorded, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, stop := runSiteSession(t, feed, auth.NewStatic(sitePassword(siteKey, siteSecret)), handler)
	eventually(t, "ten metric messages", func() bool {
		return messagesOf(t, recorded, simulator.MessageTypeMetrics) >= 10
	})
	stop()
	closeCapture()
	want := vendorExposition(t, recorded)

	metricFrames, events := 0, 0
	err = capture.ReadFile(path, func(r capture.Record) error {
		env, err := protocol.DecodeEnvelope([]byte(r.Frame))
		switch {
		case err != nil:
			t.Errorf("recorded frame is no envelope: %v", err)
		case env.MessageType == protocol.MessageTypeConnection:
			events++
		case env.MessageType == simulator.MessageTypeMetrics:
			metricFrames++
		}
		return nil
	})
	if err != nil || events != 1 || metricFrames < 10 {
		t.Fatalf("capture: %v, %d connection events, %d metric messages", err, events, metricFrames)
	}

	// Replay it through the simulator into a fresh collector.
	frames, err := replaySource(replayOptions{file: path, speed: 0})
	if err != nil {
		t.Fatal(err)
	}
	sim, replayFeed := startSiteFeed(t, simulator.Config{Frames: frames})
	replayed, err := collector.New(collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	runSiteSession(t, replayFeed, auth.NewStatic(sitePassword(siteKey, siteSecret)), replayed)
	eventually(t, "every recorded metric message", func() bool {
		return messagesOf(t, replayed, simulator.MessageTypeMetrics) == float64(metricFrames)
	})

	if got := vendorExposition(t, replayed); got != want {
		t.Errorf("replayed series differ from the recorded ones:\n--- recorded\n%s\n--- replayed\n%s", want, got)
	}
	if !strings.Contains(want, "acqueon_agent_state{") || !strings.Contains(want, "acqueon_queue_calls_offered_total{") {
		t.Errorf("the recorded session exported too little:\n%s", want)
	}
	// The replay's connection event was the simulator's own, live one.
	if s := sim.Sessions(); len(s) != 1 || s[0].SessionID == "" || s[0].Pushed != metricFrames {
		t.Errorf("replay sessions %+v", s)
	}
}

// messagesOf returns how many frames of a message type c has counted.
func messagesOf(t *testing.T, c *collector.Collector, messageType string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "acqueon_exporter_messages_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == messageType {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestRecordFlags(t *testing.T) {
	var opts recordOptions
	app := kingpin.New("test", "")
	addRecordFlags(app, &opts)
	if _, err := app.Parse([]string{"--record.file=/tmp/x.jsonl", "--record.max-size=1KiB", "--record.backups=5"}); err != nil {
		t.Fatal(err)
	}
	if opts.file != "/tmp/x.jsonl" || opts.maxSize != 1024 || opts.backups != 5 {
		t.Errorf("options %+v", opts)
	}
	if _, err := app.Parse(nil); err != nil || opts.maxSize != 64<<20 || opts.backups != 3 {
		t.Errorf("defaults %+v, %v", opts, err)
	}
}

func TestWithRecorderIsOffWithoutAFileAndRefusesNoBackups(t *testing.T) {
	next := &collector.Collector{}
	h, closeCapture, err := withRecorder(recordOptions{}, next, slog.New(slog.DiscardHandler))
	if err != nil || h != next {
		t.Errorf("without --record.file: %v, %v", h, err)
	}
	closeCapture()
	_, _, err = withRecorder(recordOptions{file: filepath.Join(t.TempDir(), "c"), maxSize: 1, backups: 0},
		next, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Error("--record.backups=0 accepted")
	}
}
