package faults

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/acqueon-exporter/acqueon_exporter/auth/idptest"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

// TestNoIDPSecretInLogsMetricsOrErrors runs a session on IDP tokens
// through a connect, an IDP outage, a token the feed refuses, a reconnect
// and a shutdown, all logged at debug level, and looks for every secret
// the IDP issued or was sent (the password, access and refresh tokens,
// codes) and every Authorization header the feed saw, in the log and in
// /metrics.
func TestNoIDPSecretInLogsMetricsOrErrors(t *testing.T) {
	p := startFaultyIDP(t, idptest.Config{
		Users:         map[string]string{idpUser: idpPassword},
		PasswordGrant: true,
		// Careless error answers that repeat the request: the exporter
		// must not pass them on.
		LeakyErrors: true,
	})
	f := idpFeed(t, p)
	logs := &logBuffer{}
	src := newIDPSource(t, p, logs)
	e := startExporter(t, exporterOptions{url: f.url(), credentials: src, logs: logs,
		register: []prometheus.Collector{src}})
	var scrapes []string
	scrape := func() metrics {
		m := e.mustScrape(t)
		scrapes = append(scrapes, fmt.Sprint(m))
		return m
	}

	e.waitUp(t)
	scrape()

	// The feed refuses the token while the IDP fails, so no new one can
	// be had.
	p.set(idpError)
	f.sim.SetFaults(simulator.Faults{RejectCredentials: true})
	f.sim.DropAll()
	e.waitMetrics(t, "a refused token, then credential failures", waitTimeout, func(m metrics) bool {
		return m.get("acqueon_exporter_connect_failures_total", "reason", "auth_rejected") >= 1 &&
			m.get("acqueon_exporter_connect_failures_total", "reason", "credentials") >= 1
	})
	scrape()

	// The IDP is back but refuses refreshes, so the source signs in again;
	// the feed still refuses.
	p.set(idpOK)
	p.RefuseRefreshes(true)
	was := scrape().get("acqueon_exporter_connect_failures_total", "reason", "auth_rejected")
	e.waitMetrics(t, "more refused tokens", waitTimeout, func(m metrics) bool {
		return m.get("acqueon_exporter_connect_failures_total", "reason", "auth_rejected") >= was+2
	})
	scrape()
	f.sim.SetFaults(simulator.Faults{})
	e.checkRecovered(t, time.Now())
	scrape()
	e.stop(t)
	scrape()

	secrets := map[string]string{"password": idpPassword}
	for i, s := range p.Secrets() {
		secrets[fmt.Sprintf("IDP secret %d", i)] = s
		secrets[fmt.Sprintf("IDP secret %d in base64", i)] = base64.StdEncoding.EncodeToString([]byte(s))
	}
	for i, s := range f.sim.Sessions() {
		if s.Authorization != "" {
			secrets[fmt.Sprintf("Authorization header %d", i)] = strings.TrimPrefix(s.Authorization, "Basic ")
		}
	}
	if len(p.Secrets()) < 3 {
		t.Fatalf("the IDP issued only %d secrets; the test did not get far", len(p.Secrets()))
	}
	output := map[string]string{"log": logs.String()}
	for i, s := range scrapes {
		output[fmt.Sprintf("scrape %d", i)] = s
	}
	for where, text := range output {
		for what, secret := range secrets {
			if len(secret) >= 8 && strings.Contains(text, secret) {
				t.Errorf("the %s shows up in the %s", what, where)
			}
		}
	}
	for _, want := range []string{"reason=credentials", "reason=auth_rejected", "obtained an IDP access token", "feed client stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q; the test did not cover every phase", want)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", logs.String())
	}
}
