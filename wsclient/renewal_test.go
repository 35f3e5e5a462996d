package wsclient_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

func TestWorkingSessionClosedForItsCredentialTellsTheSource(t *testing.T) {
	for _, tt := range []struct {
		name         string
		code         int
		wantRejected int32
	}{
		{"token expired", simulator.CloseTokenExpired, 1},
		{"policy violation", websocket.ClosePolicyViolation, 1},
		{"server going away", websocket.CloseGoingAway, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sim, ts := startSimulator(t, simulator.Config{}, false)
			tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), nil)
			tc.start(t)
			waitInitialized(t, sim, 1)

			if n := sim.CloseAll(tt.code, "closed by the test"); n != 1 {
				t.Fatalf("closed %d sessions, want 1", n)
			}
			waitInitialized(t, sim, 2)
			// The server sees the initialization request before the client
			// has counted the session it completes.
			eventually(t, "the new session counted as a reconnect", func() bool {
				return tc.metric(t, "acqueon_exporter_reconnects_total", "", "") == 1
			})

			if got := tc.creds.rejected.Load(); got != tt.wantRejected {
				t.Errorf("source told of %d rejections after close %d, want %d", got, tt.code, tt.wantRejected)
			}
			if got := tc.metric(t, "acqueon_exporter_connect_failures_total", "reason", wsclient.ReasonAuthRejected); got != 0 {
				t.Errorf("auth_rejected failures = %v; a working session that ends is no failed attempt", got)
			}
			if got := tc.metric(t, "acqueon_exporter_reconnects_total", "", ""); got != 1 {
				t.Errorf("reconnects = %v, want 1", got)
			}
		})
	}
}

// expiringSource is a credential source whose passwords expire lifetime
// after they are handed out, as IDP access tokens do.
type expiringSource struct {
	countingSource
	lifetime time.Duration

	mu     sync.Mutex
	expiry time.Time
}

func (s *expiringSource) Password(ctx context.Context, form protocol.Form) (string, error) {
	s.mu.Lock()
	s.expiry = time.Now().Add(s.lifetime)
	s.mu.Unlock()
	return s.countingSource.Password(ctx, form)
}

func (s *expiringSource) Expiry() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expiry
}

func TestSessionIsReplacedAheadOfItsCredentialsExpiry(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{}, false)
	src := &expiringSource{countingSource: countingSource{password: testPassword}, lifetime: time.Second}
	tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), func(c *wsclient.Config) {
		c.Credentials = src
		c.TokenRenewalLead = 300 * time.Millisecond
	})
	start := time.Now()
	stop := tc.start(t)
	sessions := waitInitialized(t, sim, 3)
	stop()

	if took := time.Since(start); took < 1400*time.Millisecond {
		t.Errorf("3 sessions within %v: renewed earlier than 300ms before each expiry", took)
	}
	for i, s := range sessions[:2] {
		if s.ClientCloseCode != websocket.CloseNormalClosure {
			t.Errorf("session %d: client close code %d, want %d (a close handshake)",
				i, s.ClientCloseCode, websocket.CloseNormalClosure)
		}
		if lasted := s.Disconnected.Sub(s.Connected); lasted > time.Second {
			t.Errorf("session %d lasted %v, beyond its credential's expiry", i, lasted)
		}
	}
	if n := src.calls.Load(); n < 3 {
		t.Errorf("password asked for %d times, want one per session", n)
	}
	if n := src.rejected.Load(); n != 0 {
		t.Errorf("source told of %d rejections; a planned renewal is none", n)
	}
	for _, reason := range wsclient.Reasons() {
		if got := tc.metric(t, "acqueon_exporter_connect_failures_total", "reason", reason); got != 0 {
			t.Errorf("%s failures = %v, want 0", reason, got)
		}
	}
	if logs := tc.logs.String(); !strings.Contains(logs, "ahead of the credential's expiry") {
		t.Errorf("log does not say why the session ended:\n%s", logs)
	}
}

func TestCredentialTooCloseToExpiryIsLeftToTheServer(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{}, false)
	src := &expiringSource{countingSource: countingSource{password: testPassword}, lifetime: time.Second}
	tc := newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), func(c *wsclient.Config) {
		c.Credentials = src
		c.TokenRenewalLead = 600 * time.Millisecond // more than half the lifetime
	})
	tc.start(t)
	waitInitialized(t, sim, 1)

	// A renewal would have been due 400ms after the start; the session
	// must still be there well after that.
	ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
	defer cancel()
	if sessions, err := sim.Wait(ctx, func(ss []simulator.Session) bool { return len(ss) > 1 }); err == nil {
		t.Fatalf("session replaced though its credential could not be renewed in time: %d requests, "+
			"the first ended with %q", len(sessions), sessions[0].End)
	}
	if logs := tc.logs.String(); strings.Contains(logs, "renew_at") {
		t.Errorf("log plans a renewal:\n%s", logs)
	}
}
