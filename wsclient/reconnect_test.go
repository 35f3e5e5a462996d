package wsclient_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

// sleepRecorder is a Config.Sleep that records every wait.
type sleepRecorder struct {
	mu     sync.Mutex
	waits  []time.Duration
	really bool // wait for real, else return at once
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	if !s.really {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *sleepRecorder) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// smallPayload keeps metric messages under small read limits.
func smallPayload(now time.Time, _ int) []byte {
	return []byte(`{"Timestamp":1}`)
}

func TestReconnectsAtOnceAfterDropWithNewNameAndInitialization(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{PushInterval: 5 * time.Millisecond}, false)
	sleeps := &sleepRecorder{}
	tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), func(c *wsclient.Config) {
		c.MinBackoff = 2 * time.Millisecond
		c.Sleep = sleeps.sleep
	})
	tc.start(t)

	// Let the first session outlast MinBackoff, so that it counts as
	// lasting and its loss earns an immediate retry.
	if _, err := sim.Wait(testContext(t), func(ss []simulator.Session) bool {
		return len(ss) > 0 && ss[0].Pushed >= 3
	}); err != nil {
		t.Fatal(err)
	}
	if n := sim.DropAll(); n != 1 {
		t.Fatalf("dropped %d sessions, want 1", n)
	}
	sessions := waitInitialized(t, sim, 2)

	first, second := sessions[0], sessions[1]
	if first.Name == second.Name {
		t.Errorf("reconnect reused session name %q", first.Name)
	}
	if !strings.Contains(string(second.Initialization), `\"Sender\":\"`+second.Name+`\"`) {
		t.Errorf("second initialization request %s does not name session %q", second.Initialization, second.Name)
	}
	if got := sleeps.recorded(); len(got) != 0 {
		t.Errorf("client waited %v before reconnecting, want no wait", got)
	}
	eventually(t, "the reconnect is counted", func() bool {
		return tc.metric(t, "acqueon_exporter_reconnects_total", "", "") == 1
	})
	for _, r := range wsclient.Reasons() {
		if v := tc.metric(t, "acqueon_exporter_connect_failures_total", "reason", r); v != 0 {
			t.Errorf("connect failures{reason=%q} = %v after a drop, want 0", r, v)
		}
	}
}

func TestQuietServerThatAnswersPingsIsKept(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{Payload: smallPayload, PushInterval: time.Hour}, false)
	tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), func(c *wsclient.Config) {
		c.PingInterval = 50 * time.Millisecond
	})
	tc.start(t)

	// Five pings span 2.5 times the 100ms the session may stay silent;
	// only the pongs keep it open.
	sessions, err := sim.Wait(testContext(t), func(ss []simulator.Session) bool {
		return len(ss) > 0 && ss[0].Pings >= 5
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 1 || !sessions[0].Disconnected.IsZero() {
		t.Errorf("a quiet server that answers pings lost its session: %+v", sessions)
	}
	if !tc.Ready() {
		t.Error("client not ready")
	}
}

func TestShortSessionIsRetriedAfterBackoff(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{Payload: smallPayload}, false)
	sleeps := &sleepRecorder{}
	tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), func(c *wsclient.Config) {
		c.MinBackoff = time.Hour
		c.MaxBackoff = 2 * time.Hour
		c.Random = func() float64 { return 0 }
		c.Sleep = sleeps.sleep
	})
	tc.start(t)

	waitInitialized(t, sim, 1)
	sim.CloseAll(websocket.CloseNormalClosure, "")
	waitInitialized(t, sim, 2)

	if got := sleeps.recorded(); len(got) != 1 || got[0] != time.Hour {
		t.Errorf("waits before reconnecting = %v, want [1h]: a session shorter than MinBackoff earns no immediate retry", got)
	}
}

func TestStalledServerIsDetectedAndReplaced(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{Payload: smallPayload}, false)
	tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), func(c *wsclient.Config) {
		c.PingInterval = 25 * time.Millisecond
	})
	tc.start(t)
	waitInitialized(t, sim, 1)

	if n := sim.Stall(); n != 1 {
		t.Fatalf("stalled %d sessions, want 1", n)
	}
	sessions := waitInitialized(t, sim, 2)
	if sessions[0].Disconnected.IsZero() {
		// The second session proves the first was given up; its
		// record only lags.
		eventually(t, "the stalled session is gone", func() bool {
			return !sim.Sessions()[0].Disconnected.IsZero()
		})
	}
	if !strings.Contains(tc.logs.String(), "feed stalled") {
		t.Errorf("log does not say the feed stalled:\n%s", tc.logs)
	}
}

func TestAuthRefusalIsCountedAndRetriedWithGrowingDelays(t *testing.T) {
	for _, tt := range []struct {
		name    string
		refusal simulator.Refusal
	}{
		{"http 401", simulator.RefuseWithStatus},
		{"close after upgrade", simulator.RefuseAfterUpgrade},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts := startSimulator(t, simulator.Config{
				User: testUser, APIKey: testAPIKey, SecretKey: "another secret", Refusal: tt.refusal,
			}, false)
			sleeps := &sleepRecorder{really: true}
			const minBackoff, maxBackoff = 4 * time.Millisecond, 32 * time.Millisecond
			tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), func(c *wsclient.Config) {
				c.MinBackoff = minBackoff
				c.MaxBackoff = maxBackoff
				c.Random = func() float64 { return 1 }
				c.Sleep = sleeps.sleep
			})
			stop := tc.start(t)

			sessions, err := sim.Wait(testContext(t), func(ss []simulator.Session) bool {
				return len(ss) >= 6 && !ss[5].Disconnected.IsZero()
			})
			if err != nil {
				t.Fatal(err)
			}
			stop()

			names := map[string]bool{}
			for i, s := range sessions[:6] {
				if s.Refused == "" || s.Initialized {
					t.Errorf("attempt %d was not refused: %+v", i, s)
				}
				if names[s.Name] {
					t.Errorf("attempt %d reused session name %q", i, s.Name)
				}
				names[s.Name] = true
			}
			want := []time.Duration{4, 8, 16, 32, 32}
			waits := sleeps.recorded()
			if len(waits) < len(want) {
				t.Fatalf("waits = %v, want at least %d", waits, len(want))
			}
			for i, w := range want {
				if waits[i] != w*time.Millisecond {
					t.Errorf("wait %d = %v, want %v", i, waits[i], w*time.Millisecond)
				}
				if gap := sessions[i+1].Connected.Sub(sessions[i].Connected); gap < waits[i] {
					t.Errorf("server saw attempts %d and %d %v apart, less than the %v back-off", i, i+1, gap, waits[i])
				}
			}

			failures := tc.metric(t, "acqueon_exporter_connect_failures_total", "reason", wsclient.ReasonAuthRejected)
			if failures < 5 {
				t.Errorf("auth_rejected failures = %v, want at least 5", failures)
			}
			if n := tc.creds.rejected.Load(); float64(n) != failures {
				t.Errorf("credential source told of %d rejections, want %v", n, failures)
			}
			if n := tc.creds.calls.Load(); n < 6 {
				t.Errorf("password asked for %d times in 6 attempts, want at every attempt", n)
			}
		})
	}
}

func TestBackoffStartsOverAfterAWorkingSession(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{Payload: smallPayload, PushInterval: 5 * time.Millisecond}, false)
	sim.SetFaults(simulator.Faults{RejectCredentials: true})
	sleeps := &sleepRecorder{really: true}
	const minBackoff, maxBackoff = 4 * time.Millisecond, 32 * time.Millisecond
	tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), func(c *wsclient.Config) {
		c.MinBackoff = minBackoff
		c.MaxBackoff = maxBackoff
		c.Random = func() float64 { return 1 } // the top of each jitter range
		c.Sleep = sleeps.sleep
	})
	tc.start(t)

	// Refused until the waits reach the cap.
	if _, err := sim.Wait(testContext(t), func(ss []simulator.Session) bool {
		return len(ss) >= 5 && !ss[4].Disconnected.IsZero()
	}); err != nil {
		t.Fatal(err)
	}
	sim.SetFaults(simulator.Faults{})
	// A session that lasts longer than MinBackoff: it has received
	// messages for more than 4ms.
	if _, err := sim.Wait(testContext(t), func(ss []simulator.Session) bool {
		return len(ss) > 0 && ss[len(ss)-1].Initialized && ss[len(ss)-1].Pushed >= 3
	}); err != nil {
		t.Fatal(err)
	}
	before := sleeps.recorded()
	if got := before[len(before)-1]; got != maxBackoff {
		t.Fatalf("the last wait before the working session was %v, want the cap %v (waits %v)", got, maxBackoff, before)
	}

	sim.SetFaults(simulator.Faults{RejectCredentials: true})
	sim.DropAll()
	eventually(t, "two waits after refusals that follow the working session", func() bool {
		return len(sleeps.recorded()) >= len(before)+2
	})
	after := sleeps.recorded()[len(before):]
	if after[0] != minBackoff || after[1] != 2*minBackoff {
		t.Errorf("waits after the working session = %v, want %v then %v: a working session starts the back-off over",
			after[:2], minBackoff, 2*minBackoff)
	}
}

func TestFailureReasons(t *testing.T) {
	closedPort := func(t *testing.T) *url.URL {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return &url.URL{Scheme: "ws", Host: addr, Path: protocol.PathDataTransmitter}
	}
	httpServer := func(t *testing.T, h http.Handler) *url.URL {
		ts := httptest.NewServer(h)
		t.Cleanup(ts.Close)
		return feedURL(t, ts, protocol.PathDataTransmitter)
	}
	simulatorWith := func(f simulator.Faults, tls bool) func(*testing.T) *url.URL {
		return func(t *testing.T) *url.URL {
			sim, ts := startSimulator(t, simulator.Config{}, tls)
			sim.SetFaults(f)
			return feedURL(t, ts, protocol.PathDataTransmitter)
		}
	}

	for _, tt := range []struct {
		name   string
		url    func(*testing.T) *url.URL
		change func(*wsclient.Config)
		reason string
	}{
		{"credentials refused with 401", simulatorWith(simulator.Faults{RejectCredentials: true}, false),
			nil, wsclient.ReasonAuthRejected},
		{"closed with 4401 before the connection event", simulatorWith(simulator.Faults{CloseBeforeEvent: 4401}, false),
			nil, wsclient.ReasonAuthRejected},
		{"closed with 1000 before the connection event", simulatorWith(simulator.Faults{CloseBeforeEvent: 1000}, false),
			nil, wsclient.ReasonProtocol},
		{"dropped before the connection event", simulatorWith(simulator.Faults{CloseBeforeEvent: simulator.AbruptClose}, false),
			nil, wsclient.ReasonProtocol},
		{"malformed connection event", simulatorWith(simulator.Faults{ConnectionEvent: []byte("{")}, false),
			nil, wsclient.ReasonProtocol},
		{"metric message instead of the connection event", simulatorWith(simulator.Faults{
			ConnectionEvent: protocol.Encode("ATIRealTimeService", "x", "AEPerformanceMetrics", "{}"),
		}, false), nil, wsclient.ReasonProtocol},
		{"upgrade never answered", simulatorWith(simulator.Faults{HoldUpgrade: true}, false),
			func(c *wsclient.Config) { c.HandshakeTimeout = 50 * time.Millisecond }, wsclient.ReasonTimeout},
		{"connection event never sent", simulatorWith(simulator.Faults{WithholdConnectionEvent: true}, false),
			func(c *wsclient.Config) { c.ConnectionEventTimeout = 50 * time.Millisecond }, wsclient.ReasonTimeout},
		{"untrusted certificate", simulatorWith(simulator.Faults{}, true),
			func(c *wsclient.Config) { c.URL.Scheme = "wss" }, wsclient.ReasonTLS},
		{"wrong URL (404)", func(t *testing.T) *url.URL { return httpServer(t, http.NotFoundHandler()) },
			nil, wsclient.ReasonHandshake},
		{"no websocket upgrade (200)", func(t *testing.T) *url.URL {
			return httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
		}, nil, wsclient.ReasonHandshake},
		{"closed port", closedPort, nil, wsclient.ReasonUnreachable},
		{"no password", simulatorWith(simulator.Faults{}, false),
			func(c *wsclient.Config) { c.Credentials = &countingSource{err: errTest} }, wsclient.ReasonCredentials},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestClient(t, tt.url(t), func(c *wsclient.Config) {
				// One attempt, then a wait that outlasts the test.
				c.MinBackoff = time.Hour
				c.MaxBackoff = time.Hour
				if tt.change != nil {
					tt.change(c)
				}
			})
			stop := tc.start(t)
			eventually(t, "the attempt fails", func() bool {
				return tc.metric(t, "acqueon_exporter_connect_failures_total", "reason", tt.reason) == 1
			})
			stop()

			var want strings.Builder
			want.WriteString("# HELP acqueon_exporter_connect_failures_total Failed attempts to open an initialized feed session, by cause.\n")
			want.WriteString("# TYPE acqueon_exporter_connect_failures_total counter\n")
			for _, r := range []string{"auth_rejected", "credentials", "handshake", "protocol", "timeout", "tls", "unreachable"} {
				v := "0"
				if r == tt.reason {
					v = "1"
				}
				want.WriteString(`acqueon_exporter_connect_failures_total{reason="` + r + `"} ` + v + "\n")
			}
			if err := testutil.GatherAndCompare(tc.reg, strings.NewReader(want.String()),
				"acqueon_exporter_connect_failures_total"); err != nil {
				t.Error(err)
			}
			if !strings.Contains(tc.logs.String(), "reason="+tt.reason) {
				t.Errorf("log does not name reason %s:\n%s", tt.reason, tc.logs)
			}
		})
	}
}

func TestConsoleFormReconnectsUnderTheSameName(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{Payload: smallPayload}, false)
	tc := newTestClient(t, feedURL(t, ts, protocol.PathConsole), nil)
	tc.start(t)
	waitInitialized(t, sim, 1)

	sim.DropAll()
	sessions := waitInitialized(t, sim, 2)
	for i, s := range sessions {
		if s.Name != "PerformanceMetrics_ACQ" {
			t.Errorf("session %d named %q, want PerformanceMetrics_ACQ", i, s.Name)
		}
	}
}
