package main

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/acqueon-exporter/acqueon_exporter/collector"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

func TestDemoDropEveryFlapsTheSession(t *testing.T) {
	var opts options
	if _, err := newApp(&opts, io.Discard, io.Discard).Parse([]string{"--demo.drop-every=1m"}); err != nil {
		t.Fatal(err)
	}
	if opts.demo.dropEvery != time.Minute {
		t.Errorf("--demo.drop-every=1m gave %s", opts.demo.dropEvery)
	}

	demo, err := startDemo(demoOptions{
		listen:       "127.0.0.1:0",
		pushInterval: 20 * time.Millisecond,
		dropEvery:    100 * time.Millisecond,
		tenant:       simulator.TenantConfig{CampaignGroups: 1, Campaigns: 1, Queues: 1, Agents: 1},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("startDemo: %v", err)
	}
	defer demo.close()
	coll, err := collector.New(collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	runDemoSession(t, demo, coll, reg)

	deadline := time.Now().Add(10 * time.Second)
	for {
		n := reconnects(t, reg)
		if n >= 3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v reconnects within 10s of a demo that drops sessions every 100ms, want 3", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reconnects reads acqueon_exporter_reconnects_total from reg.
func reconnects(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "acqueon_exporter_reconnects_total" {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
