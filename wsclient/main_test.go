package wsclient_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
	"github.com/acqueon-exporter/acqueon_exporter/internal/testkit"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testUser      = "ACQ"
	testAPIKey    = "12345-121212"
	testSecretKey = "s3cr3t-k3y-value"
)

// testPassword is the password the simulator accepts.
var testPassword = base64.StdEncoding.EncodeToString([]byte(testAPIKey + ":" + testSecretKey))

// waitTimeout bounds every wait of a test.
const waitTimeout = 10 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// recorder is a Handler that keeps what it gets.
type recorder struct {
	mu       sync.Mutex
	frames   [][]byte
	discards map[string]int
}

func (r *recorder) HandleFrame(frame []byte, _ time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, bytes.Clone(frame))
}

func (r *recorder) DiscardFrame(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.discards == nil {
		r.discards = map[string]int{}
	}
	r.discards[reason]++
}

func (r *recorder) discarded(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.discards[reason]
}

// envelopes returns the frames received so far, decoded.
func (r *recorder) envelopes(t *testing.T) []protocol.Envelope {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]protocol.Envelope, 0, len(r.frames))
	for _, f := range r.frames {
		env, err := protocol.DecodeEnvelope(f)
		if err != nil {
			t.Fatalf("handler got a frame that is no envelope: %v", err)
		}
		out = append(out, env)
	}
	return out
}

// countingSource is a credential source that counts rejections.
type countingSource struct {
	password string
	err      error
	calls    atomic.Int32
	rejected atomic.Int32
}

func (s *countingSource) Password(context.Context, protocol.Form) (string, error) {
	s.calls.Add(1)
	return s.password, s.err
}

func (s *countingSource) Rejected() { s.rejected.Add(1) }

var _ auth.Source = (*countingSource)(nil)

// startSimulator runs a simulator on a loopback httptest server.
func startSimulator(t *testing.T, cfg simulator.Config, tls bool) (*simulator.Server, *httptest.Server) {
	t.Helper()
	if cfg.User == "" {
		cfg.User = testUser
		cfg.APIKey = testAPIKey
		cfg.SecretKey = testSecretKey
	}
	if cfg.PushInterval == 0 {
		cfg.PushInterval = 20 * time.Millisecond
	}
	sim := simulator.New(cfg)
	ts := httptest.NewUnstartedServer(sim)
	// Refused TLS handshakes are expected; keep them out of the output.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tls {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	t.Cleanup(sim.Close) // runs before ts.Close
	return sim, ts
}

// feedURL returns the websocket URL of path on ts.
func feedURL(t *testing.T, ts *httptest.Server, path string) *url.URL {
	t.Helper()
	u, err := url.Parse(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = path
	return u
}

// testClient is a client under test with what it reports to.
type testClient struct {
	*wsclient.Client
	reg     *prometheus.Registry
	handler *recorder
	creds   *countingSource
	logs    *logBuffer
}

// newTestClient returns a client of u with short timings, changed by
// change if it is not nil.
func newTestClient(t *testing.T, u *url.URL, change func(*wsclient.Config)) *testClient {
	t.Helper()
	tc := &testClient{
		reg:     prometheus.NewRegistry(),
		handler: &recorder{},
		creds:   &countingSource{password: testPassword},
		logs:    &logBuffer{},
	}
	cfg := wsclient.Config{
		URL:                    u,
		User:                   testUser,
		Credentials:            tc.creds,
		Location:               time.UTC,
		HandshakeTimeout:       2 * time.Second,
		ConnectionEventTimeout: 2 * time.Second,
		PingInterval:           time.Second,
		MinBackoff:             time.Millisecond,
		MaxBackoff:             10 * time.Millisecond,
		CloseTimeout:           time.Second,
		Logger:                 slog.New(slog.NewTextHandler(tc.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer:             tc.reg,
	}
	if change != nil {
		change(&cfg)
	}
	c, err := wsclient.New(cfg, tc.handler)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tc.Client = c
	return tc
}

// start runs the client until the test ends or the returned stop is
// called; stop waits for Run to return and fails the test if it returned
// an error.
func (tc *testClient) start(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tc.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// metric returns the value of the series of name with the given label
// value (label "" for a series without labels), or -1 if it is absent.
func (tc *testClient) metric(t *testing.T, name, label, value string) float64 {
	t.Helper()
	families, err := tc.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label == "" || hasLabel(m, label, value) {
				if f.GetType() == dto.MetricType_COUNTER {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// eventually polls cond until it holds or the wait times out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitInitialized waits until the server has seen n initialized sessions.
func waitInitialized(t *testing.T, sim *simulator.Server, n int) []simulator.Session {
	t.Helper()
	sessions, err := sim.Wait(testContext(t), func(ss []simulator.Session) bool {
		return len(initialized(ss)) >= n
	})
	if err != nil {
		t.Fatalf("waiting for %d initialized sessions: %v (saw %+v)", n, err, sessions)
	}
	return initialized(sessions)
}

func initialized(ss []simulator.Session) []simulator.Session {
	var out []simulator.Session
	for _, s := range ss {
		if s.Initialized {
			out = append(out, s)
		}
	}
	return out
}

type logBuffer = testkit.LogBuffer

var errTest = errors.New("test error")
