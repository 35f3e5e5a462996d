package wsclient_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

func TestServerSeesSessionNameAndBasicAuthorization(t *testing.T) {
	now := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		path string
		name string
	}{
		{protocol.PathDataTransmitter, fmt.Sprintf("PerformanceMetrics_ACQ_%d", now.Unix())},
		{protocol.PathConsole, "PerformanceMetrics_ACQ"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			sim, ts := startSimulator(t, simulator.Config{}, false)
			tc := newTestClient(t, feedURL(t, ts, tt.path), func(c *wsclient.Config) {
				c.Now = func() time.Time { return now }
			})
			tc.start(t)

			s := waitInitialized(t, sim, 1)[0]
			if s.Path != tt.path {
				t.Errorf("path = %q, want %q", s.Path, tt.path)
			}
			if s.Name != tt.name {
				t.Errorf("name query parameter = %q, want %q", s.Name, tt.name)
			}
			wantAuth := protocol.BasicAuthorization(tt.name, testPassword)
			if s.Authorization != wantAuth {
				t.Errorf("Authorization = %q, want %q", s.Authorization, wantAuth)
			}
		})
	}
}

func TestNameQueryParameterIsReplaced(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{}, false)
	u := feedURL(t, ts, protocol.PathDataTransmitter)
	u.RawQuery = "name=PerformanceMetrics_OTHER_1&keep=1"
	tc := newTestClient(t, u, nil)
	tc.start(t)

	s := waitInitialized(t, sim, 1)[0]
	if !regexp.MustCompile(`^PerformanceMetrics_ACQ_\d+$`).MatchString(s.Name) {
		t.Errorf("session name %q does not replace the URL's name parameter", s.Name)
	}
}

func TestInitializationAnnouncesOffsetOfZone(t *testing.T) {
	for _, tt := range []struct {
		zone   string
		now    time.Time
		offset int
	}{
		{"Asia/Kolkata", time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC), -330},
		{"America/New_York", time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC), 300},
		{"America/New_York", time.Date(2026, 7, 15, 10, 0, 0, 0, time.UTC), 240},
		{"UTC", time.Date(2026, 7, 15, 10, 0, 0, 0, time.UTC), 0},
	} {
		t.Run(fmt.Sprintf("%s/%s", tt.zone, tt.now.Month()), func(t *testing.T) {
			loc, err := time.LoadLocation(tt.zone)
			if err != nil {
				t.Skipf("zone database lacks %s: %v", tt.zone, err)
			}
			sim, ts := startSimulator(t, simulator.Config{}, false)
			tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), func(c *wsclient.Config) {
				c.Location = loc
				c.Now = func() time.Time { return tt.now }
			})
			tc.start(t)

			s := waitInitialized(t, sim, 1)[0]
			if s.TimeZoneOffset != tt.offset {
				t.Errorf("TimeZoneOffset = %d, want %d", s.TimeZoneOffset, tt.offset)
			}
			want := fmt.Sprintf(`{"Sender":%q,"Receiver":"ATIRealTimeService",`+
				`"MessageType":"AEPerformanceMetricInitialization",`+
				`"Data":"{\"TimeZoneOffset\":%d,\"Sender\":\"%s\"}"}`,
				s.Name, tt.offset, s.Name)
			if string(s.Initialization) != want {
				t.Errorf("initialization request\n got %s\nwant %s", s.Initialization, want)
			}
		})
	}
}

func TestHandlerGetsConnectionEventThenMetricMessages(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{}, false)
	tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), nil)
	tc.start(t)

	s := waitInitialized(t, sim, 1)[0]
	eventually(t, "two frames arrive", func() bool { return len(tc.handler.envelopes(t)) >= 2 })

	envs := tc.handler.envelopes(t)
	if envs[0].MessageType != protocol.MessageTypeConnection || envs[0].Text() != s.SessionID {
		t.Errorf("first frame = %s %q, want the connection event with id %q",
			envs[0].MessageType, envs[0].Text(), s.SessionID)
	}
	if envs[1].MessageType != "AEPerformanceMetrics" || envs[1].Receiver != s.Name {
		t.Errorf("second frame = %s for %q, want a metric message for %q",
			envs[1].MessageType, envs[1].Receiver, s.Name)
	}
}

func TestReadyAndMetricsFollowTheSession(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{}, false)
	tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), nil)
	if tc.Ready() {
		t.Fatal("Ready before Run")
	}
	stop := tc.start(t)

	waitInitialized(t, sim, 1)
	eventually(t, "the client is ready", tc.Ready)
	want := `
# HELP acqueon_exporter_connection_state State of the feed session: 1 for the current state, 0 for the others.
# TYPE acqueon_exporter_connection_state gauge
acqueon_exporter_connection_state{state="authenticating"} 0
acqueon_exporter_connection_state{state="connected"} 1
acqueon_exporter_connection_state{state="connecting"} 0
acqueon_exporter_connection_state{state="disconnected"} 0
acqueon_exporter_connection_state{state="initializing"} 0
# HELP acqueon_up 1 while a feed session is initialized and live, else 0.
# TYPE acqueon_up gauge
acqueon_up 1
`
	if err := testutil.GatherAndCompare(tc.reg, strings.NewReader(want),
		"acqueon_up", "acqueon_exporter_connection_state"); err != nil {
		t.Error(err)
	}

	stop()
	if tc.Ready() {
		t.Error("Ready after Run returned")
	}
	want = strings.NewReplacer(
		`state="connected"} 1`, `state="connected"} 0`,
		`state="disconnected"} 0`, `state="disconnected"} 1`,
		"\nacqueon_up 1\n", "\nacqueon_up 0\n").Replace(want)
	if err := testutil.GatherAndCompare(tc.reg, strings.NewReader(want),
		"acqueon_up", "acqueon_exporter_connection_state"); err != nil {
		t.Error(err)
	}
}

func TestShutdownClosesWithCode1000(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{}, false)
	tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), nil)
	stop := tc.start(t)
	waitInitialized(t, sim, 1)

	stop()
	sessions, err := sim.Wait(testContext(t), func(ss []simulator.Session) bool {
		return !ss[0].Disconnected.IsZero()
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := sessions[0].ClientCloseCode; got != 1000 {
		t.Errorf("client close code = %d, want 1000 (%s)", got, sessions[0].End)
	}
	if n := len(sessions); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestConnectsOverTLSWithTrustedCertificate(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{}, true)
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())
	u := feedURL(t, ts, protocol.PathConsole)
	u.Scheme = "wss"
	tc := newTestClient(t, u, func(c *wsclient.Config) {
		c.TLSConfig = &tls.Config{RootCAs: roots}
	})
	tc.start(t)

	s := waitInitialized(t, sim, 1)[0]
	if s.Name != "PerformanceMetrics_ACQ" {
		t.Errorf("session name %q, want PerformanceMetrics_ACQ", s.Name)
	}
	eventually(t, "the client is ready", tc.Ready)
}
