package wsclient_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/acqueon-exporter/acqueon_exporter/simulator"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

func TestNewRefusesUnusableConfig(t *testing.T) {
	valid := func() wsclient.Config {
		return wsclient.Config{
			URL:         &url.URL{Scheme: "wss", Host: "feed.example:4747", Path: "/AEDataTransmitter"},
			User:        testUser,
			Credentials: &countingSource{password: testPassword},
		}
	}
	for _, tt := range []struct {
		name   string
		change func(*wsclient.Config)
		want   string
	}{
		{"no URL", func(c *wsclient.Config) { c.URL = nil }, "no feed URL"},
		{"http scheme", func(c *wsclient.Config) { c.URL.Scheme = "https" }, `scheme "https"`},
		{"unknown path", func(c *wsclient.Config) { c.URL.Path = "/feed" }, "unknown feed path"},
		{"no host", func(c *wsclient.Config) { c.URL.Host = "" }, "no host"},
		{"password in URL", func(c *wsclient.Config) {
			c.URL.User = url.UserPassword("PerformanceMetrics_ACQ_1", "hunter2")
		}, "user info"},
		{"no user", func(c *wsclient.Config) { c.User = "" }, "no user"},
		{"user with a colon", func(c *wsclient.Config) { c.User = "A:B" }, "colon"},
		{"no credentials", func(c *wsclient.Config) { c.Credentials = nil }, "no credential source"},
		{"negative ping interval", func(c *wsclient.Config) { c.PingInterval = -time.Second }, "negative ping interval"},
		{"back-off bounds swapped", func(c *wsclient.Config) {
			c.MinBackoff, c.MaxBackoff = time.Minute, time.Second
		}, "minimum back-off"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.change(&cfg)
			_, err := wsclient.New(cfg, &recorder{})
			if !errors.Is(err, wsclient.ErrInvalidConfig) {
				t.Fatalf("New = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}

	if _, err := wsclient.New(valid(), nil); !errors.Is(err, wsclient.ErrInvalidConfig) {
		t.Errorf("New without a handler = %v, want ErrInvalidConfig", err)
	}
}

func TestNewRegistersMetricsWithEveryReasonAndState(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := wsclient.Config{
		URL:         &url.URL{Scheme: "ws", Host: "127.0.0.1:1", Path: "/AEConsole"},
		User:        testUser,
		Credentials: &countingSource{password: testPassword},
		Registerer:  reg,
	}
	if _, err := wsclient.New(cfg, &recorder{}); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, f := range families {
		series[f.GetName()] = len(f.GetMetric())
	}
	want := map[string]int{
		"acqueon_up":                              1,
		"acqueon_exporter_connection_state":       len(wsclient.States()),
		"acqueon_exporter_reconnects_total":       1,
		"acqueon_exporter_connect_failures_total": len(wsclient.Reasons()),
	}
	for name, n := range want {
		if series[name] != n {
			t.Errorf("%s has %d series, want %d", name, series[name], n)
		}
	}

	if _, err := wsclient.New(cfg, &recorder{}); err == nil {
		t.Error("a second client on the same registry registered its metrics twice")
	}
}

func TestRunTwiceAtOnceIsRefused(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{}, false)
	tc := newTestClient(t, feedURL(t, ts, "/AEDataTransmitter"), nil)
	tc.start(t)
	waitInitialized(t, sim, 1)
	if err := tc.Run(t.Context()); !errors.Is(err, wsclient.ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
}
