package dashboards

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

// TestDashboardsAndAlertsAgainstTheRunningExporter runs the built
// exporter twice, scraped by Debian's Prometheus with the shipped rule
// files and alerting to Debian's Alertmanager, all on loopback:
//
//   - in demo mode (with IDP tokens and agent names on, so that every
//     panel has series to show), where every dashboard query, with each
//     variable set to All, must return data through Prometheus's HTTP
//     API;
//   - against a feed simulator that the test owns, which it then shuts
//     down: AcqueonFeedDisconnected must reach Alertmanager (read back
//     through its API) for that exporter and not for the demo one.
//
// The rules' "for" durations and the hourly group's interval are cut to
// seconds; everything else is as shipped.
func TestDashboardsAndAlertsAgainstTheRunningExporter(t *testing.T) {
	t.Parallel()
	prometheusPath := requireTool(t, "prometheus")
	alertmanagerPath := requireAnyTool(t, "prometheus-alertmanager", "alertmanager")
	dir := t.TempDir()
	binary := buildExporter(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	demoAddr := freeLoopbackAddress(t)
	startProcess(t, "demo exporter", binary, "--demo", "--demo.idp", "--demo.idp.token-lifetime=1m",
		"--collector.optional-label=agent", "--web.listen-address="+demoAddr)

	sim, feedURL := startFeed(t)
	feedAddr := freeLoopbackAddress(t)
	startProcess(t, "feed exporter", binary,
		"--acqueon.url="+feedURL, "--acqueon.user="+feedUser,
		"--acqueon.api-key-file="+secretFile(t, dir, "api-key", feedAPIKey),
		"--acqueon.secret-key-file="+secretFile(t, dir, "secret-key", feedSecretKey),
		"--acqueon.max-backoff=1s", "--web.listen-address="+feedAddr)

	for _, addr := range []string{demoAddr, feedAddr} {
		eventually(t, time.Minute, "the exporter at "+addr+" is ready", func() error {
			return getJSON(ctx, client, "http://"+addr+"/-/ready", nil)
		})
	}

	amAddr := startAlertmanager(t, alertmanagerPath, dir, "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n")
	promAddr := startPrometheus(t, prometheusPath, dir, shortenedRuleFiles(t, dir), amAddr, demoAddr, feedAddr)

	query := func(expr string) (int, error) {
		var resp struct {
			Data struct {
				Result []any `json:"result"`
			} `json:"data"`
		}
		u := "http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(expr)
		if err := getJSON(ctx, client, u, &resp); err != nil {
			return 0, err
		}
		return len(resp.Data.Result), nil
	}

	eventually(t, time.Minute, "Prometheus sees both feeds up", func() error {
		if n, err := query("acqueon_up == 1"); err != nil || n != 2 {
			return fmt.Errorf("%d series, %v", n, err)
		}
		return nil
	})
	// The feed goes away: the exporter's reconnects are refused from now
	// on, which the connect-failure panels need to show anything.
	sim.Close()

	exprs := dashboardExpressions(t)
	eventually(t, 90*time.Second, "every dashboard query returns data", func() error {
		var empty []string
		for _, e := range exprs {
			n, err := query(substituteAll(e.expr))
			if err != nil {
				return fmt.Errorf("%s: %v", e.where, err)
			}
			if n == 0 {
				empty = append(empty, e.where+": "+e.expr)
			}
		}
		if len(empty) > 0 {
			return fmt.Errorf("%d of %d queries return nothing:\n%s", len(empty), len(exprs), strings.Join(empty, "\n"))
		}
		return nil
	})

	alertsURL := "http://" + amAddr + "/api/v2/alerts?filter=" + url.QueryEscape(`alertname="AcqueonFeedDisconnected"`)
	eventually(t, 90*time.Second, "Alertmanager holds AcqueonFeedDisconnected for the cut feed only", func() error {
		var alerts []struct {
			Labels map[string]string `json:"labels"`
			Status struct {
				State string `json:"state"`
			} `json:"status"`
		}
		if err := getJSON(ctx, client, alertsURL, &alerts); err != nil {
			return err
		}
		cut := false
		for _, a := range alerts {
			switch a.Labels["instance"] {
			case feedAddr:
				cut = a.Status.State == "active" && a.Labels["severity"] == "critical"
			case demoAddr:
				t.Fatalf("the demo exporter, whose feed is live, raised %v", a.Labels)
			}
		}
		if !cut {
			return fmt.Errorf("no active alert for %s in %v", feedAddr, alerts)
		}
		return nil
	})
}

const (
	feedUser      = "DASHBOARDS"
	feedAPIKey    = "dashboards-api-key"
	feedSecretKey = "dashboards-secret-key"
)

// startFeed serves a simulated feed on loopback until the test ends or
// the test closes it, and returns it with its URL.
func startFeed(t *testing.T) (*simulator.Server, string) {
	t.Helper()
	sim := simulator.New(simulator.Config{
		User: feedUser, APIKey: feedAPIKey, SecretKey: feedSecretKey,
		PushInterval: time.Second,
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- sim.Serve(l) }()
	t.Cleanup(func() {
		sim.Close()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	return sim, "ws://" + l.Addr().String() + protocol.PathDataTransmitter
}

// buildExporter builds the exporter's binary into dir.
func buildExporter(t *testing.T, dir string) string {
	t.Helper()
	binary := filepath.Join(dir, "acqueon_exporter")
	if out, err := exec.Command("go", "build", "-o", binary, "..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return binary
}

func secretFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	writeFile(t, path, content)
	return path
}

// substituteAll turns a dashboard expression into the PromQL Grafana runs
// with every variable set to All: the dashboards match their variables
// with =~ only, so All is ".*".
func substituteAll(expr string) string {
	return grafanaVariable.ReplaceAllString(grafanaBuiltins.Replace(expr), ".*")
}

// durationClause matches a rule's "for" and a group's "interval".
var durationClause = regexp.MustCompile(`(?m)^(\s+(?:for|interval):\s*)\S+\s*$`)

// shortenedRuleFiles copies the shipped rule files into dir with every
// "for" and group "interval" cut to 2s, and returns their paths.
func shortenedRuleFiles(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	for _, path := range ruleFilePaths(t) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		short := filepath.Join(dir, filepath.Base(path))
		writeFile(t, short, durationClause.ReplaceAllString(string(raw), "${1}2s"))
		paths = append(paths, short)
	}
	return paths
}
