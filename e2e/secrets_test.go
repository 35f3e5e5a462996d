package e2e

import (
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

// TestNoSecretInAnythingTheProcessWrites runs the exporter against a
// simulated feed through a connect, refused logins, a reconnect and a
// shutdown, at debug level, and looks for every form of its credential in
// all it wrote: the log, /metrics, the landing page, the health pages and
// an error page.
func TestNoSecretInAnythingTheProcessWrites(t *testing.T) {
	t.Parallel()
	const (
		user      = "secrets"
		apiKey    = "e2e-api-key-0c9d2f"
		secretKey = "e2e-secret-key-6ab13e"
	)
	password := base64.StdEncoding.EncodeToString([]byte(apiKey + ":" + secretKey))

	sim := simulator.New(simulator.Config{
		User: user, APIKey: apiKey, SecretKey: secretKey,
		PushInterval: 100 * time.Millisecond,
		Tenant:       simulator.TenantConfig{CampaignGroups: 1, Campaigns: 2, Queues: 1, Agents: 3},
	})
	feedURL := serveFeed(t, sim)

	dir := t.TempDir()
	keyFile, secretFile := filepath.Join(dir, "api-key"), filepath.Join(dir, "secret-key")
	for path, content := range map[string]string{keyFile: apiKey, secretFile: secretKey} {
		if err := os.WriteFile(path, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e := start(t,
		"--acqueon.url="+feedURL,
		"--acqueon.user="+user,
		"--acqueon.api-key-file="+keyFile,
		"--acqueon.secret-key-file="+secretFile,
		"--acqueon.max-backoff=200ms",
		"--acqueon.ping-interval=500ms",
		"--log.level=debug",
	)
	pages := &pageRecorder{t: t, e: e}
	pages.waitAtLeast("a session", "acqueon_up", 1)
	pages.refuseLoginsThenRecover(sim, 2)
	pages.visitTheOtherPages()
	e.terminate(t)

	secrets := map[string]string{
		"API key":    apiKey,
		"secret key": secretKey,
		"password":   password,
	}
	addFeedAuthorizations(secrets, sim)
	if len(secrets) < 5 {
		t.Fatalf("the simulator saw no Authorization header: %+v", sim.Sessions())
	}
	checkNoSecretWritten(t, e.logs.String(), pages.pages, secrets,
		"cannot connect to the feed", "reason=auth_rejected", "connected to the feed", "Shutting down")
}

// serveFeed serves sim on loopback until the test ends and returns the
// websocket URL of its /AEDataTransmitter form.
func serveFeed(t *testing.T, sim *simulator.Server) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(sim)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.Start()
	t.Cleanup(ts.Close)
	t.Cleanup(sim.Close)
	return "ws" + strings.TrimPrefix(ts.URL, "http") + protocol.PathDataTransmitter
}

// addFeedAuthorizations adds to secrets every Authorization header the
// feed saw, whole and without its "Basic " scheme.
func addFeedAuthorizations(secrets map[string]string, sim *simulator.Server) {
	for i, s := range sim.Sessions() {
		if s.Authorization != "" {
			secrets[fmt.Sprintf("Authorization header %d", i)] = s.Authorization
			secrets[fmt.Sprintf("Basic credentials %d", i)] = strings.TrimPrefix(s.Authorization, "Basic ")
		}
	}
}

// pageRecorder gets pages of an exporter and keeps all it got.
type pageRecorder struct {
	t     *testing.T
	e     *exporter
	pages []string
}

func (r *pageRecorder) get(path string) string {
	_, body, err := r.e.get(path)
	if err != nil {
		r.t.Errorf("GET %s: %v", path, err)
	}
	r.pages = append(r.pages, body)
	return body
}

// waitAtLeast scrapes /metrics until series has a value of at least n.
func (r *pageRecorder) waitAtLeast(what, series string, n int) {
	r.t.Helper()
	pattern := regexp.MustCompile(regexp.QuoteMeta(series) + ` (\d+)`)
	waitFor(r.t, 30*time.Second, what, func() (bool, string) {
		m := pattern.FindStringSubmatch(r.get("/metrics"))
		if m == nil {
			return false, "no " + series
		}
		var v int
		fmt.Sscan(m[1], &v)
		return v >= n, m[0]
	})
}

// refuseLoginsThenRecover has sim drop the session and refuse logins until
// the exporter has counted refusals of them, then accept logins again, and
// waits for the session to come back.
func (r *pageRecorder) refuseLoginsThenRecover(sim *simulator.Server, refusals int) {
	r.t.Helper()
	sim.SetFaults(simulator.Faults{RejectCredentials: true})
	sim.DropAll()
	r.waitAtLeast("refused logins", `acqueon_exporter_connect_failures_total{reason="auth_rejected"}`, refusals)
	sim.SetFaults(simulator.Faults{})
	r.waitAtLeast("a reconnect", "acqueon_exporter_reconnects_total", 1)
	r.waitAtLeast("the session back", "acqueon_up", 1)
}

// visitTheOtherPages gets the landing page, the health pages, a page that
// does not exist and /metrics in OpenMetrics.
func (r *pageRecorder) visitTheOtherPages() {
	for _, path := range []string{"/", "/-/healthy", "/-/ready", "/no-such-page", "/metrics?format=openmetrics"} {
		r.get(path)
	}
}

// checkNoSecretWritten fails the test for every secret (of 8 bytes or
// more) found in the log or a page, and for every phase whose log line
// is missing, since then the run did not cover what it was meant to.
func checkNoSecretWritten(t *testing.T, logs string, pages []string, secrets map[string]string, phases ...string) {
	t.Helper()
	output := map[string]string{"log": logs}
	for i, p := range pages {
		output[fmt.Sprintf("page %d", i)] = p
	}
	for where, text := range output {
		for what, secret := range secrets {
			if len(secret) >= 8 && strings.Contains(text, secret) {
				t.Errorf("the %s shows up in the %s", what, where)
			}
		}
	}
	for _, want := range phases {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q; it did not cover every phase", want)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", logs)
	}
}
