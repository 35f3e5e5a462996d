package dashboards

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
	"github.com/acqueon-exporter/acqueon_exporter/auth/idptest"
	"github.com/acqueon-exporter/acqueon_exporter/collector"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

// exposedMetricNames returns the metric names the exporter really exposes:
// it assembles the exporter's own collectors (the reload status among them)
// on one registry, as the program does, feeds the collector a few simulator messages (and one bad
// frame, so the error counters have series), obtains an IDP token so the
// token metrics exist, and gathers.
func exposedMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()

	coll, err := collector.New(collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(coll, versioncollector.NewCollector("acqueon_exporter"), collector.NewReloadStatus(time.Now()))
	feedSimulatorMessages(coll)

	feedURL, _ := url.Parse("ws://127.0.0.1:1" + protocol.PathDataTransmitter)
	if _, err := wsclient.New(wsclient.Config{
		URL:         feedURL,
		User:        "dashboards",
		Credentials: auth.NewStatic("unused"),
		Registerer:  reg,
	}, coll); err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(idpWithToken(t))

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range families {
		names[mf.GetName()] = true
	}
	return names
}

// feedSimulatorMessages hands the collector what a session would: the
// connection event, three metric messages and a frame it cannot use.
func feedSimulatorMessages(coll *collector.Collector) {
	// The collector expires entities by its own clock, so the messages are
	// stamped with the present.
	start := time.Now()
	tenant := simulator.NewTenant(simulator.TenantConfig{Seed: 1, Quirks: true}, start)
	coll.HandleFrame(protocol.ConnectionEvent("PerformanceMetrics_dashboards_1", "0123456789abcdef0123456789abcdef"), start)
	for i := range 3 {
		now := start.Add(time.Duration(i) * time.Second)
		payload := tenant.Payload(now, 0)
		coll.HandleFrame(protocol.Encode("ATIRealTimeService", "PerformanceMetrics_dashboards_1",
			simulator.MessageTypeMetrics, string(payload)), now)
	}
	coll.HandleFrame([]byte("not a frame"), start)
	coll.DiscardFrame(wsclient.DiscardTooLarge)
}

// idpWithToken returns an IDP credential source holding a token from a test
// IDP, so that its expiry gauge is present.
func idpWithToken(t *testing.T) *auth.IDP {
	t.Helper()
	const user, password = "dashboards", "dashboards-password"
	idp := idptest.NewServer(idptest.Config{Users: map[string]string{user: password}, PasswordGrant: true})
	t.Cleanup(idp.Close)

	src, err := auth.NewIDP(auth.IDPConfig{
		IssuerURL: idp.URL,
		ClientID:  "acqueon-exporter",
		Username:  user,
		Password: auth.SecretRef{Name: "password", Env: "UNUSED",
			LookupEnv: func(string) (string, bool) { return password, true }},
		Grant: auth.GrantPassword,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := src.Password(ctx, protocol.FormDataTransmitter); err != nil {
		t.Fatal(err)
	}
	return src
}
