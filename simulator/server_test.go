package simulator

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

const (
	serverTestUser   = "ACQ"
	serverTestKey    = "key-1"
	serverTestSecret = "secret-1"
)

var serverTestPassword = base64.StdEncoding.EncodeToString([]byte(serverTestKey + ":" + serverTestSecret))

func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	cfg.User = serverTestUser
	cfg.APIKey = serverTestKey
	cfg.SecretKey = serverTestSecret
	if cfg.Payload == nil {
		cfg.Payload = func(now time.Time, offset int) []byte {
			return fmt.Appendf(nil, `{"Timestamp":%d,"Offset":%d}`, now.UnixMilli(), offset)
		}
	}
	s := New(cfg)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	t.Cleanup(s.Close)
	return s, "ws" + strings.TrimPrefix(ts.URL, "http")
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dialFeed dials path with the session name in both the query and the
// Authorization header, unless header is given.
func dialFeed(t *testing.T, base, path, name, password string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{"Authorization": {protocol.BasicAuthorization(name, password)}}
	conn, resp, err := websocket.DefaultDialer.DialContext(testCtx(t), base+path+"?name="+name, h)
	if conn != nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, resp, err
}

func readEnvelope(t *testing.T, conn *websocket.Conn) protocol.Envelope {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, frame, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("frame type %d, want text", typ)
	}
	env, err := protocol.DecodeEnvelope(frame)
	if err != nil {
		t.Fatalf("decode %s: %v", frame, err)
	}
	return env
}

// login dials, reads the connection event and sends the initialization
// request; it returns the connection event.
func login(t *testing.T, base, path, name string, offset int) (*websocket.Conn, protocol.Envelope) {
	t.Helper()
	conn, _, err := dialFeed(t, base, path, name, serverTestPassword)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	event := readEnvelope(t, conn)
	if err := conn.WriteMessage(websocket.TextMessage, protocol.InitializationRequest(name, offset)); err != nil {
		t.Fatal(err)
	}
	return conn, event
}

// readCloseCode reads until the server closes and returns its close code.
func readCloseCode(t *testing.T, conn *websocket.Conn) int {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		var closeErr *websocket.CloseError
		if errors.As(err, &closeErr) {
			return closeErr.Code
		}
		if err != nil {
			t.Fatalf("read: %v, want a close frame", err)
		}
	}
}

func TestSessionSendsConnectionEventThenMetricMessages(t *testing.T) {
	s, base := startServer(t, Config{PushInterval: time.Hour})
	name := "PerformanceMetrics_ACQ_1764770645"
	conn, event := login(t, base, protocol.PathDataTransmitter, name, -330)

	if event.MessageType != "OpenID" || event.Sender != "Server" || event.Receiver != name {
		t.Errorf("connection event = %+v", event)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(event.Text()) {
		t.Errorf("session id %q is not 32 hex digits", event.Text())
	}

	// The first message comes at once, not after the hour-long interval.
	msg := readEnvelope(t, conn)
	if msg.MessageType != MessageTypeMetrics || msg.Sender != "ATIRealTimeService" || msg.Receiver != name {
		t.Errorf("metric message envelope = %s from %q to %q", msg.MessageType, msg.Sender, msg.Receiver)
	}
	if !strings.HasPrefix(string(msg.Data), `"`) {
		t.Errorf("Data %s is not string-encoded", msg.Data)
	}
	payload, err := msg.Payload()
	if err != nil || !strings.Contains(string(payload), `"Offset":-330`) {
		t.Errorf("payload %s (%v) was not made for the announced offset", payload, err)
	}

	// The server counts a push after its write returns, which may be after
	// the client has read the frame.
	recs, err := s.Wait(testCtx(t), func(ss []Session) bool { return len(ss) == 1 && ss[0].Pushed >= 1 })
	if err != nil {
		t.Fatal(err)
	}
	got := recs[0]
	if got.SessionID != event.Text() || !got.Initialized || got.TimeZoneOffset != -330 || got.Pushed != 1 {
		t.Errorf("session record = %+v", got)
	}
	if string(got.Initialization) != string(protocol.InitializationRequest(name, -330)) {
		t.Errorf("recorded initialization %s", got.Initialization)
	}
}

func TestDefaultPayloadComesFromTheTenantModel(t *testing.T) {
	s := New(Config{User: serverTestUser, APIKey: serverTestKey, SecretKey: serverTestSecret})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	t.Cleanup(s.Close)
	base := "ws" + strings.TrimPrefix(ts.URL, "http")

	conn, _ := login(t, base, protocol.PathConsole, "PerformanceMetrics_ACQ", 0)
	payload, err := readEnvelope(t, conn).Payload()
	if err != nil || !strings.Contains(string(payload), `"Campaigns"`) {
		t.Errorf("default payload %.200s (%v) holds no campaigns", payload, err)
	}
}

func TestDuplicateLoginIsRefused(t *testing.T) {
	for _, refusal := range []Refusal{RefuseWithStatus, RefuseAfterUpgrade} {
		t.Run(fmt.Sprint(refusal), func(t *testing.T) {
			s, base := startServer(t, Config{Refusal: refusal})
			name := "PerformanceMetrics_ACQ_1764770645"
			first, _ := login(t, base, protocol.PathDataTransmitter, name, 0)
			first.Close()

			conn, resp, err := dialFeed(t, base, protocol.PathDataTransmitter, name, serverTestPassword)
			switch refusal {
			case RefuseWithStatus:
				if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
					t.Errorf("second login: %v, want HTTP 403", err)
				}
			case RefuseAfterUpgrade:
				if err != nil {
					t.Fatalf("second login: %v, want an upgrade", err)
				}
				if code := readCloseCode(t, conn); code != websocket.ClosePolicyViolation {
					t.Errorf("close code %d, want 1008", code)
				}
			}
			if got := s.Sessions(); len(got) != 2 || got[1].Refused != "duplicate login" {
				t.Errorf("records = %+v, want the second refused as a duplicate login", got)
			}
		})
	}
}

func TestConsoleFormTakesTheSameNameAgain(t *testing.T) {
	s, base := startServer(t, Config{})
	for range 2 {
		conn, _ := login(t, base, protocol.PathConsole, "PerformanceMetrics_ACQ", 0)
		readEnvelope(t, conn)
		conn.Close()
	}
	for i, rec := range s.Sessions() {
		if !rec.Initialized {
			t.Errorf("console login %d not initialized: %+v", i, rec)
		}
	}
}

func TestSessionWithoutInitializationIsClosed(t *testing.T) {
	s, base := startServer(t, Config{InitializationTimeout: 30 * time.Millisecond})
	conn, _, err := dialFeed(t, base, protocol.PathDataTransmitter, "PerformanceMetrics_ACQ_5", serverTestPassword)
	if err != nil {
		t.Fatal(err)
	}
	readEnvelope(t, conn) // the connection event
	if code := readCloseCode(t, conn); code != websocket.ClosePolicyViolation {
		t.Errorf("close code %d, want 1008", code)
	}
	rec := s.Sessions()[0]
	if rec.Initialized || !strings.Contains(rec.End, "no initialization request") {
		t.Errorf("record = %+v", rec)
	}
}

func TestInvalidInitializationIsClosed(t *testing.T) {
	for _, tt := range []struct {
		name  string
		frame []byte
	}{
		{"other session", protocol.InitializationRequest("PerformanceMetrics_ACQ_9", 0)},
		{"vendor sample's broken JSON", protocol.Encode("PerformanceMetrics_ACQ_6", "ATIRealTimeService",
			protocol.MessageTypeInitialization, `{"TimeZoneOffset":-330,"Sender":"PerformanceMetrics_ACQ_6}`)},
		{"offset out of range", protocol.InitializationRequest("PerformanceMetrics_ACQ_6", 2000)},
		{"not an initialization", protocol.Encode("PerformanceMetrics_ACQ_6", "ATIRealTimeService", "Hello", "{}")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, base := startServer(t, Config{})
			conn, _, err := dialFeed(t, base, protocol.PathDataTransmitter, "PerformanceMetrics_ACQ_6", serverTestPassword)
			if err != nil {
				t.Fatal(err)
			}
			readEnvelope(t, conn)
			if err := conn.WriteMessage(websocket.TextMessage, tt.frame); err != nil {
				t.Fatal(err)
			}
			if code := readCloseCode(t, conn); code != websocket.ClosePolicyViolation {
				t.Errorf("close code %d, want 1008", code)
			}
			if rec := s.Sessions()[0]; rec.Initialized || rec.Pushed != 0 {
				t.Errorf("invalid initialization accepted: %+v", rec)
			}
		})
	}
}

func TestLoginIsChecked(t *testing.T) {
	good := "PerformanceMetrics_ACQ_7"
	for _, tt := range []struct {
		name   string
		path   string
		query  string
		header string
		status int
	}{
		{"unknown path", "/feed", good, protocol.BasicAuthorization(good, serverTestPassword), 404},
		{"no name", protocol.PathDataTransmitter, "", protocol.BasicAuthorization(good, serverTestPassword), 400},
		{"no authorization", protocol.PathDataTransmitter, good, "", 401},
		{"name differs from header", protocol.PathDataTransmitter, "PerformanceMetrics_ACQ_8",
			protocol.BasicAuthorization(good, serverTestPassword), 401},
		{"other user", protocol.PathDataTransmitter, "PerformanceMetrics_BOB_7",
			protocol.BasicAuthorization("PerformanceMetrics_BOB_7", serverTestPassword), 401},
		{"no timestamp on the timestamped form", protocol.PathDataTransmitter, "PerformanceMetrics_ACQ",
			protocol.BasicAuthorization("PerformanceMetrics_ACQ", serverTestPassword), 401},
		{"wrong password", protocol.PathDataTransmitter, good,
			protocol.BasicAuthorization(good, base64.StdEncoding.EncodeToString([]byte("key-1:wrong"))), 401},
		{"good", protocol.PathDataTransmitter, good, protocol.BasicAuthorization(good, serverTestPassword), 101},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, base := startServer(t, Config{})
			h := http.Header{}
			if tt.header != "" {
				h.Set("Authorization", tt.header)
			}
			conn, resp, err := websocket.DefaultDialer.DialContext(testCtx(t), base+tt.path+"?name="+tt.query, h)
			if conn != nil {
				defer conn.Close()
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

func TestAuthenticateReplacesTheAPIKeyCheck(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	_, base := startServer(t, Config{Authenticate: func(form protocol.Form, password string) bool {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, form.String()+" "+password)
		return password == "raw-token"
	}})
	if _, _, err := dialFeed(t, base, protocol.PathConsole, "PerformanceMetrics_ACQ", serverTestPassword); err == nil {
		t.Error("API-key password accepted though Authenticate refuses it")
	}
	conn, _, err := dialFeed(t, base, protocol.PathConsole, "PerformanceMetrics_ACQ", "raw-token")
	if err != nil {
		t.Fatalf("token refused: %v", err)
	}
	readEnvelope(t, conn)
	mu.Lock()
	defer mu.Unlock()
	if want := "/AEConsole raw-token"; len(seen) != 2 || seen[1] != want {
		t.Errorf("Authenticate saw %q, want the second call %q", seen, want)
	}
}

func TestFaultsAndActionsOnLiveSessions(t *testing.T) {
	s, base := startServer(t, Config{PushInterval: time.Hour})
	conn, _ := login(t, base, protocol.PathDataTransmitter, "PerformanceMetrics_ACQ_10", 0)
	readEnvelope(t, conn) // the first metric message
	if _, err := s.WaitSessions(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}

	if n := s.Send(websocket.BinaryMessage, []byte{1, 2, 3}); n != 1 {
		t.Errorf("Send reached %d sessions, want 1", n)
	}
	if typ, frame, err := conn.ReadMessage(); err != nil || typ != websocket.BinaryMessage || len(frame) != 3 {
		t.Errorf("read %d %v %v, want the binary frame", typ, frame, err)
	}

	if n := s.CloseAll(4000, "bye"); n != 1 {
		t.Errorf("CloseAll closed %d sessions, want 1", n)
	}
	if code := readCloseCode(t, conn); code != 4000 {
		t.Errorf("close code %d, want 4000", code)
	}
	rec, err := s.Wait(testCtx(t), func(ss []Session) bool { return !ss[0].Disconnected.IsZero() })
	if err != nil {
		t.Fatal(err)
	}
	if rec[0].ClientCloseCode != 4000 {
		t.Errorf("recorded client close code %d, want the echo 4000", rec[0].ClientCloseCode)
	}
}

func TestStalledSessionAnswersNoPing(t *testing.T) {
	s, base := startServer(t, Config{PushInterval: time.Hour})

	// answersPing logs in, optionally stalls the server, pings, and
	// reports whether a pong came back before the read deadline. A gorilla
	// connection is unusable after a read error, so each check has its own.
	answersPing := func(name string, stall bool) bool {
		conn, _ := login(t, base, protocol.PathDataTransmitter, name, 0)
		defer conn.Close()
		readEnvelope(t, conn) // the first metric message
		if stall {
			if n := s.Stall(); n != 1 {
				t.Fatalf("stalled %d sessions, want 1", n)
			}
		}
		pong := make(chan struct{}, 1)
		conn.SetPongHandler(func(string) error {
			pong <- struct{}{}
			conn.SetReadDeadline(time.Now()) // end the read at once
			return nil
		})
		if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, _, err := conn.ReadMessage()
		var netErr net.Error
		if !errors.As(err, &netErr) || !netErr.Timeout() {
			t.Fatalf("read: %v, want the deadline", err)
		}
		select {
		case <-pong:
			return true
		default:
			return false
		}
	}

	if !answersPing("PerformanceMetrics_ACQ_11", false) {
		t.Fatal("no pong from a session that is not stalled")
	}
	// Wait until the first session is gone, so Stall reaches only the second.
	if _, err := s.Wait(testCtx(t), func(ss []Session) bool { return !ss[0].Disconnected.IsZero() }); err != nil {
		t.Fatal(err)
	}
	if answersPing("PerformanceMetrics_ACQ_12", true) {
		t.Error("a stalled session answered a ping")
	}
}

func TestDropAllClosesWithoutCloseFrame(t *testing.T) {
	s, base := startServer(t, Config{PushInterval: time.Hour})
	conn, _ := login(t, base, protocol.PathDataTransmitter, "PerformanceMetrics_ACQ_14", 0)
	readEnvelope(t, conn)
	if n := s.DropAll(); n != 1 {
		t.Fatalf("dropped %d, want 1", n)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := conn.ReadMessage()
	var closeErr *websocket.CloseError
	if errors.As(err, &closeErr) && closeErr.Code != websocket.CloseAbnormalClosure {
		t.Errorf("read after drop = %v, want an end without close frame", err)
	}
	if err == nil {
		t.Error("read after drop succeeded")
	}
}

func TestCloseEndsHeldUpgradesAndServe(t *testing.T) {
	s := New(Config{User: serverTestUser, APIKey: serverTestKey, SecretKey: serverTestSecret})
	s.SetFaults(Faults{HoldUpgrade: true})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	name := "PerformanceMetrics_ACQ_13"
	dialed := make(chan error, 1)
	go func() {
		h := http.Header{"Authorization": {protocol.BasicAuthorization(name, serverTestPassword)}}
		conn, _, err := websocket.DefaultDialer.DialContext(testCtx(t),
			"ws://"+l.Addr().String()+protocol.PathDataTransmitter+"?name="+name, h)
		if conn != nil {
			conn.Close()
		}
		dialed <- err
	}()
	if _, err := s.WaitSessions(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}

	s.Close()
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil after Close", err)
	}
	if err := <-dialed; err == nil {
		t.Error("held upgrade completed")
	}
	if rec := s.Sessions()[0]; rec.Disconnected.IsZero() || rec.End != "upgrade held" {
		t.Errorf("record = %+v", rec)
	}
}
