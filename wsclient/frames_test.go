package wsclient_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

func TestTooLargeFrameIsCountedAndSessionReplaced(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{Payload: smallPayload}, false)
	tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), func(c *wsclient.Config) {
		c.ReadLimit = 4096
	})
	tc.start(t)
	waitInitialized(t, sim, 1)

	if n := sim.Send(websocket.TextMessage, bytes.Repeat([]byte("x"), 8192)); n != 1 {
		t.Fatalf("sent to %d sessions, want 1", n)
	}
	eventually(t, "the frame is discarded as too large", func() bool {
		return tc.handler.discarded(wsclient.DiscardTooLarge) == 1
	})
	waitInitialized(t, sim, 2)
	if n := tc.handler.discarded(wsclient.DiscardMalformed); n != 0 {
		t.Errorf("%d frames discarded as malformed, want 0", n)
	}
}

func TestBinaryFrameIsCountedAndSessionContinues(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{Payload: smallPayload, PushInterval: 5 * time.Millisecond}, false)
	tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), nil)
	tc.start(t)
	waitInitialized(t, sim, 1)

	if n := sim.Send(websocket.BinaryMessage, []byte(`{"MessageType":"AEPerformanceMetrics"}`)); n != 1 {
		t.Fatalf("sent to %d sessions, want 1", n)
	}
	eventually(t, "the binary frame is discarded", func() bool {
		return tc.handler.discarded(wsclient.DiscardMalformed) == 1
	})
	received := len(tc.handler.envelopes(t))
	eventually(t, "more metric messages arrive", func() bool {
		return len(tc.handler.envelopes(t)) >= received+2
	})

	sessions := sim.Sessions()
	if len(sessions) != 1 || !sessions[0].Disconnected.IsZero() {
		t.Errorf("a binary frame ended the session: %+v", sessions)
	}
	if n := tc.handler.discarded(wsclient.DiscardTooLarge); n != 0 {
		t.Errorf("%d frames discarded as too large, want 0", n)
	}
}

func TestMalformedTextFrameGoesToHandler(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{Payload: smallPayload, PushInterval: time.Hour}, false)
	tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), nil)
	tc.start(t)
	waitInitialized(t, sim, 1)

	if n := sim.Send(websocket.TextMessage, []byte(`{"not":`)); n != 1 {
		t.Fatalf("sent to %d sessions, want 1", n)
	}
	eventually(t, "the handler gets the malformed frame", func() bool {
		tc.handler.mu.Lock()
		defer tc.handler.mu.Unlock()
		for _, f := range tc.handler.frames {
			if string(f) == `{"not":` {
				return true
			}
		}
		return false
	})
	if len(sim.Sessions()) != 1 {
		t.Error("a malformed text frame ended the session")
	}
}

func TestLogNeverShowsTheSecret(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{
		User: testUser, APIKey: testAPIKey, SecretKey: "another secret", Refusal: simulator.RefuseAfterUpgrade,
	}, false)
	tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), nil)
	stop := tc.start(t)
	sessions, err := sim.WaitSessions(testContext(t), 3)
	if err != nil {
		t.Fatal(err)
	}
	stop()

	logs := tc.logs.String()
	for _, secret := range []string{
		testPassword,
		testSecretKey,
		strings.TrimPrefix(sessions[0].Authorization, "Basic "),
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("log shows a secret %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "session="+sessions[0].Name) || !strings.Contains(logs, "host="+ts.Listener.Addr().String()) {
		t.Errorf("log does not name the session and host:\n%s", logs)
	}
}

func TestFailureStreakIsLoggedOnceThenSummarized(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{}, false)
	sim.SetFaults(simulator.Faults{RejectCredentials: true})

	// Every reading of the clock moves it a second on, so a streak of
	// failures spans minutes of log time.
	var clock time.Time
	tick := func() time.Time { clock = clock.Add(time.Second); return clock }
	tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), func(c *wsclient.Config) {
		c.Now = tick
		c.FailureSummaryInterval = 30 * time.Second
	})
	stop := tc.start(t)
	if _, err := sim.WaitSessions(testContext(t), 40); err != nil {
		t.Fatal(err)
	}
	sim.SetFaults(simulator.Faults{})
	waitInitialized(t, sim, 1)
	stop()

	logs := tc.logs.String()
	first := strings.Count(logs, `level=WARN msg="cannot connect to the feed"`)
	repeats := strings.Count(logs, `level=DEBUG msg="cannot connect to the feed"`)
	summaries := strings.Count(logs, `level=WARN msg="still cannot connect to the feed"`)
	if first != 1 {
		t.Errorf("%d Warn lines for failures, want 1 for the first of the streak", first)
	}
	if repeats < 39 {
		t.Errorf("%d Debug lines for repeated failures, want at least 39", repeats)
	}
	if summaries < 1 || summaries > repeats/10 {
		t.Errorf("%d summaries for %d repeated failures, want a few", summaries, repeats)
	}
	if !strings.Contains(logs, `level=INFO msg="connected to the feed"`) {
		t.Errorf("log does not say the client connected:\n%s", logs)
	}
}
