// Package e2e runs the built acqueon_exporter binary as a user would and
// reads what it serves.
package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/acqueon-exporter/acqueon_exporter/internal/testkit"
)

// binary is built once for all tests in TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "acqueon-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "acqueon_exporter")
	build := exec.Command("go", "build", "-o", binary, "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	// The tests' own goroutines must be gone too; keep-alive connections
	// of the default client are not theirs to close.
	http.DefaultClient.CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// exporter is one running process of the binary.
type exporter struct {
	cmd  *exec.Cmd
	addr string
	logs *syncBuffer
	done chan error
}

type syncBuffer = testkit.LogBuffer

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// start runs the binary with args plus a free listen address, and stops it
// at the end of the test. A port taken between choosing and binding it is
// chosen again.
func start(t *testing.T, args ...string) *exporter {
	t.Helper()
	for attempt := 1; ; attempt++ {
		e := launch(t, args...)
		err := e.waitHealthy(20 * time.Second)
		if err == nil {
			return e
		}
		if attempt < 3 && strings.Contains(e.logs.String(), "address already in use") {
			continue
		}
		t.Fatalf("exporter did not come up: %v\n%s", err, e.logs.String())
	}
}

// waitHealthy waits until /-/healthy answers, the process exits or the
// timeout passes.
func (e *exporter) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-e.done:
			e.done <- err
			return fmt.Errorf("exited: %v", err)
		default:
		}
		if code, _, err := e.get("/-/healthy"); err == nil && code == http.StatusOK {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("no answer on /-/healthy")
}

// terminate sends SIGTERM, waits up to 15s for the exporter to exit and
// returns how it exited.
func (e *exporter) terminate(t *testing.T) error {
	t.Helper()
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-e.done:
		e.done <- err // for the cleanup
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("exporter did not exit within 15s of SIGTERM")
		return nil
	}
}

func launch(t *testing.T, args ...string) *exporter {
	t.Helper()
	e := &exporter{addr: freeAddr(t), logs: &syncBuffer{}, done: make(chan error, 1)}
	e.cmd = exec.Command(binary, append(args, "--web.listen-address="+e.addr)...)
	e.cmd.Stderr = e.logs
	e.cmd.Stdout = e.logs
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { e.done <- e.cmd.Wait() }()
	t.Cleanup(func() {
		_ = e.cmd.Process.Kill()
		err := <-e.done
		e.done <- err
		if t.Failed() {
			t.Logf("exporter output:\n%s", e.logs.String())
		}
	})
	return e
}

// get fetches a path of the exporter.
func (e *exporter) get(path string) (int, string, error) {
	resp, err := http.Get("http://" + e.addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last state: %s", what, last)
}

func TestDemoServesLiveFeedMetricsThatPromtoolAccepts(t *testing.T) {
	e := start(t, "--demo", "--log.level=debug")

	waitFor(t, 20*time.Second, "/-/ready to answer 200", func() (bool, string) {
		code, body, err := e.get("/-/ready")
		return code == http.StatusOK, fmt.Sprint(code, body, err)
	})

	var metrics string
	want := []string{
		"acqueon_up 1",
		`acqueon_exporter_connection_state{state="connected"} 1`,
		"acqueon_campaign_dial_attempts_total{",
		"acqueon_campaign_status{",
		"acqueon_queue_calls_waiting{",
		"acqueon_agent_state{",
		"acqueon_exporter_build_info{",
		`acqueon_exporter_messages_total{message_type="AEPerformanceMetrics"}`,
	}
	waitFor(t, 20*time.Second, "campaign, queue and agent series", func() (bool, string) {
		code, body, err := e.get("/metrics")
		if err != nil || code != http.StatusOK {
			return false, fmt.Sprint(code, err)
		}
		metrics = body
		for _, w := range want {
			if !strings.Contains(body, w) {
				return false, "missing " + w
			}
		}
		return true, ""
	})

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not found; CI installs Debian's prometheus package")
		}
		t.Skip("promtool not installed")
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(metrics)
	out, err := check.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	if len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics has remarks:\n%s", out)
	}
}

func TestLandingAndHealthPages(t *testing.T) {
	e := start(t, "--demo")
	waitFor(t, 20*time.Second, "/-/healthy", func() (bool, string) {
		code, body, err := e.get("/-/healthy")
		return code == http.StatusOK, fmt.Sprint(code, body, err)
	})
	code, body, err := e.get("/")
	if err != nil || code != http.StatusOK {
		t.Fatalf("landing page: %d %v", code, err)
	}
	if !strings.Contains(body, `href="/metrics"`) {
		t.Errorf("landing page does not link /metrics:\n%s", body)
	}
}

func TestSIGTERMClosesTheSessionAndExitsZero(t *testing.T) {
	e := start(t, "--demo", "--log.level=debug")
	waitFor(t, 20*time.Second, "/-/ready", func() (bool, string) {
		code, _, _ := e.get("/-/ready")
		return code == http.StatusOK, fmt.Sprint(code)
	})

	if err := e.terminate(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if !strings.Contains(e.logs.String(), "Shutting down") {
		t.Errorf("no shutdown log line:\n%s", e.logs.String())
	}
}

func TestBadFlagFailsAtStartWithTheFlagNamed(t *testing.T) {
	out, err := exec.Command(binary, "--acqueon.ping-interval=often").CombinedOutput()
	if err == nil {
		t.Fatal("a bad flag value was accepted")
	}
	if !strings.Contains(string(out), "ping-interval") {
		t.Errorf("error does not name the flag:\n%s", out)
	}
}

func TestMissingURLFailsAtStart(t *testing.T) {
	out, err := exec.Command(binary, "--web.listen-address="+freeAddr(t)).CombinedOutput()
	if err == nil {
		t.Fatal("started without --acqueon.url")
	}
	if !strings.Contains(string(out), "--acqueon.url is required") {
		t.Errorf("error does not say what is missing:\n%s", out)
	}
}

func TestMappingCheckReportsFileAndLine(t *testing.T) {
	ok, err := exec.Command(binary, "--mapping.check").CombinedOutput()
	if err != nil {
		t.Fatalf("built-in mapping fails its own check: %v\n%s", err, ok)
	}

	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("messages:\n  AEPerformanceMetrics:\n    no_such_key: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "--mapping.check", "--mapping.file="+bad).CombinedOutput()
	if err == nil {
		t.Fatalf("a bad mapping passed the check:\n%s", out)
	}
	if !regexp.MustCompile(regexp.QuoteMeta(bad) + `:3\b`).Match(out) {
		t.Errorf("error does not point at %s line 3:\n%s", bad, out)
	}
}

func TestPasswordInTheURLIsUsedButNeverShown(t *testing.T) {
	const password = "url-password-9d2e"
	e := start(t,
		"--acqueon.url=ws://PerformanceMetrics_e2e_1654268360:"+password+"@"+freeAddr(t)+"/AEDataTransmitter",
		"--log.level=debug",
	)
	waitFor(t, 20*time.Second, "a counted connect failure", func() (bool, string) {
		_, body, err := e.get("/metrics")
		return err == nil && regexp.MustCompile(`acqueon_exporter_connect_failures_total\{reason="unreachable"\} [1-9]`).
			MatchString(body), body
	})
	logs := e.logs.String()
	if strings.Contains(logs, password) {
		t.Errorf("the URL's password reached the log:\n%s", logs)
	}
	if !strings.Contains(logs, "user=e2e") {
		t.Errorf("the user was not taken from the URL's session name:\n%s", logs)
	}
}

func TestSecretsFromFilesNeverReachTheLog(t *testing.T) {
	dir := t.TempDir()
	keyFile, secretFile := filepath.Join(dir, "key"), filepath.Join(dir, "secret")
	const key, secret = "e2e-api-key-3f9c", "e2e-secret-key-b71d"
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Nothing listens on the feed address, so the exporter keeps failing
	// and logging; none of it may show the credentials.
	e := start(t,
		"--acqueon.url=ws://"+freeAddr(t)+"/AEDataTransmitter",
		"--acqueon.user=e2e",
		"--acqueon.api-key-file="+keyFile,
		"--acqueon.secret-key-file="+secretFile,
		"--log.level=debug",
	)
	waitFor(t, 20*time.Second, "a counted connect failure", func() (bool, string) {
		_, body, err := e.get("/metrics")
		return err == nil && regexp.MustCompile(`acqueon_exporter_connect_failures_total\{reason="unreachable"\} [1-9]`).
			MatchString(body), body
	})
	if code, _, _ := e.get("/-/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("/-/ready answered %d without a session, want 503", code)
	}
	_, page, _ := e.get("/")
	_, metrics, _ := e.get("/metrics")
	for _, text := range []string{e.logs.String(), page, metrics} {
		for _, s := range []string{key, secret} {
			if strings.Contains(text, s) {
				t.Errorf("secret %q found in output", s)
			}
		}
	}
	scanner := bufio.NewScanner(strings.NewReader(e.logs.String()))
	for scanner.Scan() {
		if strings.Contains(scanner.Text(), "Basic ") {
			t.Errorf("log line shows an Authorization header: %s", scanner.Text())
		}
	}
}

// metricValue returns the value of the first sample of a series line that
// starts with prefix, or ok false.
func metricValue(metrics, prefix string) (float64, bool) {
	for _, line := range strings.Split(metrics, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}

func TestDemoWithIDPTokensShowsTheTokenExpiryMoving(t *testing.T) {
	e := start(t, "--demo", "--demo.idp", "--demo.idp.token-lifetime=20s", "--log.level=debug")

	var first float64
	waitFor(t, 20*time.Second, "a token expiry on /metrics", func() (bool, string) {
		_, body, err := e.get("/metrics")
		v, ok := metricValue(body, "acqueon_exporter_token_expiry_timestamp_seconds")
		first = v
		return err == nil && ok && strings.Contains(body, "acqueon_up 1"), body
	})
	// The session outlives its first token only by being established
	// again with the next one: /metrics shows a later expiry, a reconnect
	// and the feed live.
	waitFor(t, 30*time.Second, "the session to be re-established with a renewed token", func() (bool, string) {
		_, body, _ := e.get("/metrics")
		v, ok := metricValue(body, "acqueon_exporter_token_expiry_timestamp_seconds")
		refreshes, _ := metricValue(body, "acqueon_exporter_token_refreshes_total")
		reconnects, _ := metricValue(body, "acqueon_exporter_reconnects_total")
		up, _ := metricValue(body, "acqueon_up")
		return ok && v > first && refreshes >= 2 && reconnects >= 1 && up == 1,
			fmt.Sprintf("expiry %v (first %v), refreshes %v, reconnects %v, up %v", v, first, refreshes, reconnects, up)
	})

	_, body, _ := e.get("/metrics")
	if v, _ := metricValue(body, `acqueon_exporter_connect_failures_total{reason="auth_rejected"}`); v != 0 {
		t.Errorf("the feed refused a token %v times", v)
	}
	if strings.Contains(e.logs.String(), "Bearer ") || strings.Contains(e.logs.String(), "Basic ") {
		t.Error("a log line shows an Authorization value")
	}
}
