package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

// Helpers shared by the capture, replay and reload tests: a simulator on
// loopback and a session to it.

const (
	siteUser   = "site"
	siteKey    = "key-1"
	siteSecret = "secret-1"
)

// startSiteFeed starts a simulator with cfg (user and API key filled in
// unless given) and returns it with its feed URL.
func startSiteFeed(t *testing.T, cfg simulator.Config) (*simulator.Server, *url.URL) {
	t.Helper()
	if cfg.User == "" {
		cfg.User, cfg.APIKey, cfg.SecretKey = siteUser, siteKey, siteSecret
	}
	sim := simulator.New(cfg)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	t.Cleanup(sim.Close)
	u, err := url.Parse("ws" + strings.TrimPrefix(ts.URL, "http") + protocol.PathDataTransmitter)
	if err != nil {
		t.Fatal(err)
	}
	return sim, u
}

func sitePassword(key, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(key + ":" + secret))
}

// runSiteSession runs a session to feed until the test ends or stop is
// called; stop returns once the session has closed.
func runSiteSession(t *testing.T, feed *url.URL, creds auth.Source, h wsclient.Handler) (*wsclient.Client, func()) {
	t.Helper()
	client, err := wsclient.New(wsclient.Config{
		URL:          feed,
		User:         siteUser,
		Credentials:  creds,
		Location:     time.UTC,
		MinBackoff:   10 * time.Millisecond,
		MaxBackoff:   50 * time.Millisecond,
		PingInterval: time.Second,
		Logger:       slog.New(slog.DiscardHandler),
		Registerer:   prometheus.NewRegistry(),
	}, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = client.Run(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return client, stop
}

// eventually polls cond until it holds or 10 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// vendorExposition returns the text exposition of the vendor series that
// c exports, gathered by a pedantic registry.
func vendorExposition(t *testing.T, c prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out bytes.Buffer
	for _, mf := range families {
		if !strings.HasPrefix(mf.GetName(), "acqueon_") || strings.HasPrefix(mf.GetName(), "acqueon_exporter_") {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&out, mf); err != nil {
			t.Fatal(err)
		}
	}
	return out.String()
}

// gaugeValue returns the value of an unlabelled gauge or counter that g
// gathers, and whether it does.
func gaugeValue(t *testing.T, g prometheus.Gatherer, name string) (float64, bool) {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range families {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue(), true
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}
