package dashboards

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// exporterStandIn serves a fixed exposition for one campaign over its
// abandon limit and one under it, plus a reconnect counter that climbs by
// ten at every scrape.
type exporterStandIn struct {
	mu         sync.Mutex
	reconnects int
}

func (e *exporterStandIn) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	e.reconnects += 10
	reconnects := e.reconnects
	e.mu.Unlock()

	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, `# TYPE acqueon_up gauge
acqueon_up 1
# TYPE acqueon_exporter_reconnects_total counter
acqueon_exporter_reconnects_total %d
# TYPE acqueon_campaign_abandon_ratio gauge
acqueon_campaign_abandon_ratio{campaign_id="101",campaign="Collections East"} 0.05
acqueon_campaign_abandon_ratio{campaign_id="102",campaign="Collections West"} 0.01
# TYPE acqueon_campaign_abandon_limit_ratio gauge
acqueon_campaign_abandon_limit_ratio{campaign_id="101",campaign="Collections East"} 0.02
acqueon_campaign_abandon_limit_ratio{campaign_id="102",campaign="Collections West"} 0.02
# TYPE acqueon_campaign_dial_attempts_total counter
acqueon_campaign_dial_attempts_total{campaign_id="101",campaign="Collections East"} %d
`, 100+reconnects, 1000+reconnects)
}

// freeLoopbackAddress returns a loopback address nobody listens on now.
func freeLoopbackAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// startProcess starts a long-running tool, logging to a file in the test's
// directory, and stops it when the test ends.
func startProcess(t *testing.T, name, path string, args ...string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logFile.Close()
		if t.Failed() {
			if log, err := os.ReadFile(logPath); err == nil {
				t.Logf("%s log:\n%s", name, log)
			}
		}
	})
}

// eventually polls check until it returns nil or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		<-ticker.C
	}
}

// getJSON gets u and decodes its JSON answer into into; with into nil it
// only checks that the answer is 200 OK.
func getJSON(ctx context.Context, client *http.Client, u string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	if into == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

type prometheusAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// TestRulesRunInARealPrometheus loads the rule files into Prometheus, lets it
// scrape a stand-in exporter, and follows the alerts it raises through
// Alertmanager to a webhook.
func TestRulesRunInARealPrometheus(t *testing.T) {
	t.Parallel()
	prometheusPath := requireTool(t, "prometheus")
	alertmanagerPath := requireAnyTool(t, "prometheus-alertmanager", "alertmanager")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	exporter := httptest.NewServer(&exporterStandIn{})
	defer exporter.Close()

	notified := make(chan []prometheusAlert, 16)
	webhook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Alerts []prometheusAlert `json:"alerts"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &msg); err == nil {
			select {
			case notified <- msg.Alerts:
			default:
			}
		}
	}))
	defer webhook.Close()

	dir := t.TempDir()
	amAddr := startAlertmanager(t, alertmanagerPath, dir, fmt.Sprintf(`route:
  receiver: webhook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: webhook
    webhook_configs:
      - url: %s/hook
`, webhook.URL))

	rules := make([]string, 0, 2)
	for _, path := range ruleFilePaths(t) {
		abs, err := filepath.Abs(path)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, abs)
	}
	exporterURL, _ := url.Parse(exporter.URL)
	promAddr := startPrometheus(t, prometheusPath, dir, rules, amAddr, exporterURL.Host)

	alertsURL := "http://" + promAddr + "/api/v1/alerts"
	eventually(t, 60*time.Second, "Prometheus raises the expected alerts", func() error {
		var resp struct {
			Data struct {
				Alerts []prometheusAlert `json:"alerts"`
			} `json:"data"`
		}
		if err := getJSON(ctx, client, alertsURL, &resp); err != nil {
			return err
		}
		return expectAlerts(resp.Data.Alerts, exporterURL.Host)
	})

	query := "http://" + promAddr + "/api/v1/query?query=" +
		url.QueryEscape(`campaign:acqueon_campaign_dial_attempts:rate5m{campaign="Collections East"} > 0`)
	eventually(t, 30*time.Second, "the recording rules run", func() error {
		var resp struct {
			Data struct {
				Result []any `json:"result"`
			} `json:"data"`
		}
		if err := getJSON(ctx, client, query, &resp); err != nil {
			return err
		}
		if len(resp.Data.Result) != 1 {
			return fmt.Errorf("got %v", resp.Data.Result)
		}
		return nil
	})

	select {
	case alerts := <-notified:
		if len(alerts) == 0 || alerts[0].Labels["alertname"] != "AcqueonFeedReconnectingOften" {
			t.Fatalf("the webhook got %v, want AcqueonFeedReconnectingOften", alerts)
		}
	case <-ctx.Done():
		t.Fatal("Alertmanager did not deliver the firing alert to the webhook")
	}
}

// expectAlerts checks the alerts the stand-in exporter must raise: the
// campaign over its abandon limit pending (its for: is 15 minutes), the one
// under it silent, and the climbing reconnect counter firing.
func expectAlerts(alerts []prometheusAlert, instance string) error {
	overLimit, reconnecting := false, false
	for _, a := range alerts {
		switch a.Labels["alertname"] {
		case "AcqueonAbandonRateOverLimit":
			if a.Labels["campaign"] != "Collections East" || a.State != "pending" ||
				a.Labels["instance"] != instance || a.Labels["severity"] != "warning" {
				return fmt.Errorf("unexpected %v", a)
			}
			if !strings.Contains(a.Annotations["description"], "above the maximum abandon rate of 2% configured") {
				return fmt.Errorf("description %q lacks the configured limit", a.Annotations["description"])
			}
			overLimit = true
		case "AcqueonFeedReconnectingOften":
			reconnecting = a.State == "firing"
		}
	}
	if !overLimit || !reconnecting {
		return fmt.Errorf("want AcqueonAbandonRateOverLimit pending and AcqueonFeedReconnectingOften firing, got %v", alerts)
	}
	return nil
}

// startAlertmanager runs Alertmanager with config in dir and returns the
// loopback address it serves on.
func startAlertmanager(t *testing.T, path, dir, config string) string {
	t.Helper()
	addr := freeLoopbackAddress(t)
	configPath := filepath.Join(dir, "alertmanager.yml")
	writeFile(t, configPath, config)
	startProcess(t, "alertmanager", path,
		"--config.file="+configPath,
		"--storage.path="+filepath.Join(dir, "alertmanager-data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=")
	return addr
}

// startPrometheus runs Prometheus in dir, scraping targets every second
// as job "acqueon", evaluating ruleFiles every second and alerting to the
// Alertmanager at amAddr. It returns the loopback address it serves on.
func startPrometheus(t *testing.T, path, dir string, ruleFiles []string, amAddr string, targets ...string) string {
	t.Helper()
	quote := func(items []string) string {
		quoted := make([]string, len(items))
		for i, item := range items {
			quoted[i] = fmt.Sprintf("%q", item)
		}
		return strings.Join(quoted, ", ")
	}
	addr := freeLoopbackAddress(t)
	configPath := filepath.Join(dir, "prometheus.yml")
	writeFile(t, configPath, fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%s]
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  - job_name: acqueon
    static_configs:
      - targets: [%s]
`, quote(ruleFiles), amAddr, quote(targets)))
	startProcess(t, "prometheus", path,
		"--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	return addr
}

// requireAnyTool is requireTool for a tool known under several names.
func requireAnyTool(t *testing.T, names ...string) string {
	t.Helper()
	for _, name := range names {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	return requireTool(t, names[0])
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
