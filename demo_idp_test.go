package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/acqueon-exporter/acqueon_exporter/internal/testkit"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

func TestDemoIDPFlagImpliesDemo(t *testing.T) {
	var opts options
	if _, err := newApp(&opts, io.Discard, io.Discard).Parse([]string{"--demo.idp"}); err != nil {
		t.Fatal(err)
	}
	if !opts.demo.enabled || !opts.demo.idp || opts.demo.idpTokenLifetime != 2*time.Minute {
		t.Errorf("--demo.idp gave demo %v, idp %v, token lifetime %v; want true, true, 2m",
			opts.demo.enabled, opts.demo.idp, opts.demo.idpTokenLifetime)
	}
}

func TestDemoIDPSessionRunsOnTokensAndExportsTheirExpiry(t *testing.T) {
	logs := &demoLogs{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	demo, err := startDemo(demoOptions{
		listen:           "127.0.0.1:0",
		pushInterval:     50 * time.Millisecond,
		tenant:           simulator.TenantConfig{CampaignGroups: 1, Campaigns: 1, Queues: 1, Agents: 2},
		idp:              true,
		idpTokenLifetime: time.Minute,
	}, logger)
	if err != nil {
		t.Fatalf("startDemo: %v", err)
	}
	defer demo.close()
	if demo.collector == nil {
		t.Fatal("no token metrics with --demo.idp")
	}

	client := runDemoSession(t, demo, discardHandler{}, prometheus.NewRegistry())
	deadline := time.Now().Add(10 * time.Second)
	for !client.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("no session with the demo's IDP credentials within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(demo.collector)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var expiry float64
	for _, f := range families {
		if f.GetName() == "acqueon_exporter_token_expiry_timestamp_seconds" {
			expiry = f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	inAMinute := float64(time.Now().Add(time.Minute).Unix())
	if expiry < inAMinute-10 || expiry > inAMinute+1 {
		t.Errorf("token expiry %v, want about a minute from now (%v)", expiry, inAMinute)
	}
	if n := testutil.CollectAndCount(demo.collector, "acqueon_exporter_token_refreshes_total"); n != 1 {
		t.Errorf("%d token refresh series, want 1", n)
	}

	password, err := demo.credentials.Password(context.Background(), protocol.FormDataTransmitter)
	if err != nil || password == "" {
		t.Fatalf("Password: %v", err)
	}
	if strings.Contains(logs.String(), password) {
		t.Error("the log shows the session's password")
	}
}

type demoLogs = testkit.LogBuffer

// discardHandler drops every frame.
type discardHandler struct{}

func (discardHandler) HandleFrame([]byte, time.Time) {}
func (discardHandler) DiscardFrame(string)           {}
