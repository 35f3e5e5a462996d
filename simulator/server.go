package simulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

// Defaults for the zero values of Config.
const (
	DefaultPushInterval          = time.Second
	DefaultInitializationTimeout = 10 * time.Second
	DefaultSender                = protocol.ReceiverRealTimeService
	DefaultReadLimit             = 64 << 10
	// DefaultSessionRecords is how many session records, and session
	// names for the duplicate-login check, the server keeps.
	DefaultSessionRecords = 1000
)

// AbruptClose, as Faults.CloseBeforeEvent, drops the TCP connection
// without a close frame.
const AbruptClose = -1

// CloseTokenExpired is the close code with which the server ends a session
// whose token expired (see Config.TokenExpiry): 4401, the private-range
// spelling of HTTP 401 Unauthorized, which feed clients read as a refused
// credential, so that they obtain a new token before they reconnect.
const CloseTokenExpired = 4401

// writeTimeout bounds every write of the server.
const writeTimeout = 5 * time.Second

// closeWait is how long the server waits for the client's answer to a
// close frame it sent.
const closeWait = time.Second

// Refusal is how the server refuses a login, one of the two ways the
// vendor's server may do it (protocol.md, section 3, step 2).
type Refusal int

const (
	// RefuseWithStatus answers the upgrade request with HTTP 401 (403 for
	// a duplicate login).
	RefuseWithStatus Refusal = iota
	// RefuseAfterUpgrade completes the upgrade, then closes the socket
	// with 1008 (policy violation) before the connection event.
	RefuseAfterUpgrade
)

// String names the refusal.
func (r Refusal) String() string {
	if r == RefuseAfterUpgrade {
		return "close after upgrade"
	}
	return "HTTP status"
}

// Config configures a Server.
type Config struct {
	// User is the application name that session names must carry.
	User string
	// APIKey and SecretKey are the accepted API-key credential: the
	// password must be base64(APIKey + ":" + SecretKey).
	APIKey, SecretKey string
	// Authenticate decides whether a password is valid on a URL form;
	// nil means the API-key check above. An IDP token check goes here:
	// on FormDataTransmitter the password is base64(token), on
	// FormConsole the raw token.
	Authenticate func(form protocol.Form, password string) bool
	// TokenExpiry says when the credential behind a password that
	// Authenticate accepted expires; false means that it does not expire
	// (an API key) or is unknown. The server refuses a login whose token
	// has expired, and closes a session with CloseTokenExpired when the
	// token it presented expires, as the vendor's server ends a session
	// whose IDP token ran out, whatever the client renewed meanwhile. The
	// wait is reckoned from Now when the session starts and then runs on
	// the real clock. nil means that no credential expires.
	TokenExpiry func(form protocol.Form, password string) (time.Time, bool)
	// Refusal is how a bad login is refused.
	Refusal Refusal
	// PushInterval is the time between metric messages; the first is
	// sent right after the initialization request.
	PushInterval time.Duration
	// InitializationTimeout is how long the server waits for a valid
	// initialization request after the connection event before it
	// closes the session.
	InitializationTimeout time.Duration
	// Tenant configures the contact-center model whose payloads the
	// server pushes.
	Tenant TenantConfig
	// Payload returns the Data of one metric message (plain JSON); nil
	// means the Payload of a Tenant built from the Tenant field, started
	// at Now.
	Payload func(now time.Time, offsetMinutes int) []byte
	// Frames, when not nil, supplies the frames sent after the
	// initialization request instead of a metric message from Payload
	// every PushInterval, such as a Replay of a capture.
	Frames FrameSource
	// Sender is the Sender of metric messages.
	Sender string
	// ReadLimit is the largest frame accepted from a client.
	ReadLimit int64
	// SessionRecords is how many session records Sessions keeps, the
	// newest; older ones are forgotten, and so are the names of the
	// sessions they describe, so that a server that runs for days with
	// clients that reconnect keeps a bounded memory.
	SessionRecords int
	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
	// Now stamps payloads and session records; nil means time.Now.
	Now func() time.Time
}

// Faults are the ways the server misbehaves on purpose for new
// connections. The zero value is a well-behaved server.
type Faults struct {
	// RejectCredentials refuses every login, as if the credential had
	// been revoked; Config.Refusal says how.
	RejectCredentials bool
	// HoldUpgrade leaves upgrade requests unanswered until the client
	// gives up or the server closes: a handshake that never completes.
	HoldUpgrade bool
	// CloseBeforeEvent, when not zero, closes every accepted socket with
	// this close code instead of sending the connection event;
	// AbruptClose drops it without a close frame.
	CloseBeforeEvent int
	// ConnectionEvent, when not nil, is sent instead of the connection
	// event, such as a malformed one.
	ConnectionEvent []byte
	// WithholdConnectionEvent completes the upgrade and then sends
	// nothing, so the client waits for a connection event in vain.
	WithholdConnectionEvent bool
}

// Session is what the server saw of one request on a feed path, whether
// it became a session or not.
type Session struct {
	// Path is the URL path requested.
	Path string
	// Form is the URL form the path selects.
	Form protocol.Form
	// Authorization is the raw Authorization header.
	Authorization string
	// Name is the name query parameter: the session name.
	Name string
	// Refused says why the login was refused; empty when it was accepted.
	Refused string
	// TokenExpiry is when the token the session presented expires; zero
	// when it does not (see Config.TokenExpiry).
	TokenExpiry time.Time
	// SessionID is the id sent in the connection event.
	SessionID string
	// Initialization is the raw initialization request frame.
	Initialization []byte
	// TimeZoneOffset is the offset the initialization request announced.
	TimeZoneOffset int
	// Initialized is true once a valid initialization request arrived.
	Initialized bool
	// Pushed counts the metric messages sent.
	Pushed int
	// Pings counts the pings received from the client.
	Pings int
	// ClientCloseCode is the code of the client's close frame, 0 when it
	// sent none.
	ClientCloseCode int
	// End says how the session ended, for diagnostics.
	End string
	// Connected is when the request arrived.
	Connected time.Time
	// Disconnected is when the server was done with the request; zero
	// while it goes on.
	Disconnected time.Time
}

// Server is the feed's server side: an http.Handler that serves
// /AEDataTransmitter and /AEConsole. Use it with httptest.NewServer or
// NewTLSServer, or with Serve; call Close before closing an
// httptest.Server that runs it.
type Server struct {
	cfg          Config
	logger       *slog.Logger
	payload      func(time.Time, int) []byte
	authenticate func(protocol.Form, string) bool
	upgrader     websocket.Upgrader
	quit         chan struct{}
	wg           sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	faults   Faults
	used     map[string]bool // session names seen on the timestamped form
	names    []string        // the keys of used, oldest first
	sessions []*Session      // the newest SessionRecords records
	live     map[*liveSession]struct{}
	changed  chan struct{} // closed and replaced at every change of sessions
	servers  []*http.Server
}

// liveSession is an upgraded socket.
type liveSession struct {
	ws      *websocket.Conn
	rec     *Session
	writeMu sync.Mutex // one writer of data frames at a time
	stalled atomic.Bool
	stop    chan struct{} // closed when the server drops the socket
	once    sync.Once
}

func (ls *liveSession) halt() { ls.once.Do(func() { close(ls.stop) }) }

// New returns a server for cfg, with defaults filled in.
func New(cfg Config) *Server {
	if cfg.PushInterval <= 0 {
		cfg.PushInterval = DefaultPushInterval
	}
	if cfg.InitializationTimeout <= 0 {
		cfg.InitializationTimeout = DefaultInitializationTimeout
	}
	if cfg.Sender == "" {
		cfg.Sender = DefaultSender
	}
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = DefaultReadLimit
	}
	if cfg.SessionRecords <= 0 {
		cfg.SessionRecords = DefaultSessionRecords
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:          cfg,
		logger:       cfg.Logger,
		payload:      cfg.Payload,
		authenticate: cfg.Authenticate,
		upgrader:     websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		quit:         make(chan struct{}),
		used:         map[string]bool{},
		live:         map[*liveSession]struct{}{},
		changed:      make(chan struct{}),
	}
	if s.payload == nil {
		s.payload = NewTenant(cfg.Tenant, cfg.Now()).Payload
	}
	if s.authenticate == nil {
		s.authenticate = s.checkAPIKey
	}
	return s
}

func (s *Server) checkAPIKey(_ protocol.Form, password string) bool {
	want := base64.StdEncoding.EncodeToString([]byte(s.cfg.APIKey + ":" + s.cfg.SecretKey))
	return subtle.ConstantTimeCompare([]byte(password), []byte(want)) == 1
}

// Serve accepts connections on l until Close, and returns nil then.
func (s *Server) Serve(l net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.servers = append(s.servers, srv)
	s.mu.Unlock()

	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve feed: %w", err)
	}
	return nil
}

// Close ends every session with close 1001, stops Serve, and returns
// when every goroutine of the server has ended. Requests that arrive
// later get HTTP 503.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return
	}
	s.closed = true
	close(s.quit)
	live := s.liveSessions()
	servers := s.servers
	s.mu.Unlock()

	for _, ls := range live {
		msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")
		_ = ls.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWait))
		ls.halt()
		ls.ws.Close()
	}
	for _, srv := range servers {
		srv.Close()
	}
	s.wg.Wait()
}

// SetFaults replaces the faults applied to new connections.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.ConnectionEvent = bytes.Clone(f.ConnectionEvent)
	s.faults = f
}

// DropAll closes the TCP connection of every open socket without a close
// frame, and returns how many it dropped.
func (s *Server) DropAll() int {
	live := s.snapshotLive(false)
	for _, ls := range live {
		s.setEnd(ls.rec, "dropped by the server")
		ls.halt()
		ls.ws.Close()
	}
	return len(live)
}

// CloseAll sends a close frame with code and text to every open socket
// and closes it once the client answers (or a second has passed). It
// returns how many sockets it closed.
func (s *Server) CloseAll(code int, text string) int {
	live := s.snapshotLive(false)
	for _, ls := range live {
		s.setEnd(ls.rec, fmt.Sprintf("closed by the server with %d", code))
		deadline := time.Now().Add(closeWait)
		_ = ls.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), deadline)
		ls.ws.SetReadDeadline(deadline)
		ls.halt()
	}
	return len(live)
}

// Stall makes every initialized session go silent while its socket stays
// open, as a hung server or a half-open connection would: no more metric
// messages, no pong for a ping, no answer to a close frame. It returns
// how many sessions it stalled. New sessions are not affected.
func (s *Server) Stall() int {
	live := s.snapshotLive(true)
	for _, ls := range live {
		ls.stalled.Store(true)
	}
	return len(live)
}

// Send writes one frame of messageType (websocket.TextMessage or
// BinaryMessage) to every initialized session, such as a malformed or an
// oversized frame, and returns how many sessions it reached.
func (s *Server) Send(messageType int, frame []byte) int {
	n := 0
	for _, ls := range s.snapshotLive(true) {
		if ls.write(messageType, frame) == nil {
			n++
		}
	}
	return n
}

// Sessions returns a copy of what the server saw, oldest first: the last
// Config.SessionRecords requests.
func (s *Server) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.copySessions()
}

// Wait returns the sessions once cond holds for them, or ctx's error.
func (s *Server) Wait(ctx context.Context, cond func([]Session) bool) ([]Session, error) {
	for {
		s.mu.Lock()
		sessions := s.copySessions()
		changed := s.changed
		s.mu.Unlock()
		if cond(sessions) {
			return sessions, nil
		}
		select {
		case <-ctx.Done():
			return sessions, fmt.Errorf("wait for sessions: %w", ctx.Err())
		case <-changed:
		}
	}
}

// WaitSessions returns the sessions once at least n requests have been
// seen, or ctx's error.
func (s *Server) WaitSessions(ctx context.Context, n int) ([]Session, error) {
	return s.Wait(ctx, func(ss []Session) bool { return len(ss) >= n })
}

// copySessions needs s.mu.
func (s *Server) copySessions() []Session {
	out := make([]Session, len(s.sessions))
	for i, rec := range s.sessions {
		out[i] = *rec
		out[i].Initialization = bytes.Clone(rec.Initialization)
	}
	return out
}

// update changes a session record under the lock and wakes Wait.
func (s *Server) update(rec *Session, change func(*Session)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(rec)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) setEnd(rec *Session, end string) {
	s.update(rec, func(r *Session) {
		if r.End == "" {
			r.End = end
		}
	})
}

// liveSessions needs s.mu.
func (s *Server) liveSessions() []*liveSession {
	out := make([]*liveSession, 0, len(s.live))
	for ls := range s.live {
		out = append(out, ls)
	}
	return out
}

func (s *Server) snapshotLive(initializedOnly bool) []*liveSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*liveSession, 0, len(s.live))
	for ls := range s.live {
		if !initializedOnly || ls.rec.Initialized {
			out = append(out, ls)
		}
	}
	return out
}

// ServeHTTP checks the login, upgrades and runs the session.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	form, err := protocol.FormOf(r.URL.Path)
	if err != nil {
		http.NotFound(w, r)
		return
	}

	rec := &Session{
		Path:          r.URL.Path,
		Form:          form,
		Authorization: r.Header.Get("Authorization"),
		Name:          r.URL.Query().Get("name"),
		Connected:     s.cfg.Now(),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	faults := s.faults
	s.sessions = append(s.sessions, rec)
	if n := len(s.sessions) - s.cfg.SessionRecords; n > 0 {
		clear(s.sessions[:n]) // let the old records go
		s.sessions = s.sessions[n:]
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	defer s.wg.Done()
	defer s.update(rec, func(r *Session) { r.Disconnected = s.cfg.Now() })

	if faults.HoldUpgrade {
		s.setEnd(rec, "upgrade held")
		select {
		case <-r.Context().Done():
		case <-s.quit:
		}
		return
	}

	if rec.Name == "" {
		s.update(rec, func(r *Session) { r.Refused = "no session name" })
		http.Error(w, "the name query parameter is missing", http.StatusBadRequest)
		return
	}
	if why, status := s.checkLogin(r, rec, faults); why != "" {
		s.refuse(w, r, rec, why, status)
		return
	}

	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.setEnd(rec, "upgrade: "+err.Error())
		return
	}
	s.run(ws, rec, faults)
}

// checkLogin returns why a login is refused and the HTTP status to refuse
// it with, or "" for a good login, which it marks as used.
func (s *Server) checkLogin(r *http.Request, rec *Session, faults Faults) (string, int) {
	name, password, ok := r.BasicAuth()
	switch {
	case !ok:
		return "no Basic authorization", http.StatusUnauthorized
	case name != rec.Name:
		return fmt.Sprintf("authorization for %q on session %q", name, rec.Name), http.StatusUnauthorized
	}
	if user, ok := protocol.UserOf(name, rec.Form); !ok || user != s.cfg.User {
		return fmt.Sprintf("%q is no session name of user %q on %s", name, s.cfg.User, rec.Form),
			http.StatusUnauthorized
	}
	if faults.RejectCredentials {
		return "credentials rejected on purpose", http.StatusUnauthorized
	}
	if !s.authenticate(rec.Form, password) {
		return "wrong credentials", http.StatusUnauthorized
	}
	if s.cfg.TokenExpiry != nil {
		expiry, expires := s.cfg.TokenExpiry(rec.Form, password)
		if expires && !s.cfg.Now().Before(expiry) {
			return "token expired", http.StatusUnauthorized
		}
		if expires {
			s.update(rec, func(r *Session) { r.TokenExpiry = expiry })
		}
	}

	if rec.Form == protocol.FormConsole {
		return "", 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used[name] {
		return "duplicate login", http.StatusForbidden
	}
	s.used[name] = true
	s.names = append(s.names, name)
	if n := len(s.names) - s.cfg.SessionRecords; n > 0 {
		for _, old := range s.names[:n] {
			delete(s.used, old)
		}
		clear(s.names[:n])
		s.names = s.names[n:]
	}
	return "", 0
}

// refuse turns a login down the configured way.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, rec *Session, why string, status int) {
	s.update(rec, func(r *Session) { r.Refused = why })
	s.logger.Info("login refused", "session", rec.Name, "path", rec.Path, "why", why)

	if s.cfg.Refusal == RefuseWithStatus {
		w.Header().Set("WWW-Authenticate", `Basic realm="Acqueon Performance Metrics"`)
		http.Error(w, http.StatusText(status), status)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	s.closeAndDrain(ws, rec, websocket.ClosePolicyViolation, why)
}

// closeAndDrain sends a close frame and reads until the client answers,
// drops the socket, or closeWait passes.
func (s *Server) closeAndDrain(ws *websocket.Conn, rec *Session, code int, text string) {
	deadline := time.Now().Add(closeWait)
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), deadline)
	ws.SetReadDeadline(deadline)
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			s.recordClose(rec, err)
			return
		}
	}
}

func (s *Server) recordClose(rec *Session, err error) {
	var closeErr *websocket.CloseError
	if errors.As(err, &closeErr) {
		s.update(rec, func(r *Session) { r.ClientCloseCode = closeErr.Code })
	}
}

// run is one accepted session: connection event, initialization request,
// metric messages until either side ends it.
func (s *Server) run(ws *websocket.Conn, rec *Session, faults Faults) {
	ls := &liveSession{ws: ws, rec: rec, stop: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ws.Close()
		return
	}
	s.live[ls] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.live, ls)
		s.mu.Unlock()
		ws.Close()
	}()
	if expiry := rec.TokenExpiry; !expiry.IsZero() {
		ended, watched := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(watched)
			s.expireAt(ls, expiry, ended)
		}()
		defer func() {
			close(ended)
			<-watched
		}()
	}

	ws.SetReadLimit(s.cfg.ReadLimit)
	ws.SetPingHandler(func(data string) error {
		s.update(rec, func(r *Session) { r.Pings++ })
		if ls.stalled.Load() {
			return nil
		}
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	ws.SetCloseHandler(func(code int, _ string) error {
		if ls.stalled.Load() {
			return nil
		}
		msg := websocket.FormatCloseMessage(code, "")
		_ = ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeTimeout))
		return nil
	})

	if faults.CloseBeforeEvent != 0 {
		s.closeBeforeEvent(ls, faults.CloseBeforeEvent)
		return
	}
	if faults.WithholdConnectionEvent {
		s.setEnd(rec, "connection event withheld")
		s.readUntilError(ls)
		return
	}
	if !s.sendConnectionEvent(ls, faults) {
		return
	}
	if !s.awaitInitialization(ls) {
		return
	}
	s.logger.Info("session initialized", "session", rec.Name, "path", rec.Path,
		"time_zone_offset", rec.TimeZoneOffset)

	readDone := make(chan struct{})
	go s.drain(ls, readDone)
	if s.cfg.Frames != nil {
		s.play(ls, readDone)
	} else {
		s.push(ls, readDone)
	}

	// Give a close handshake under way (CloseAll, the client's) time to
	// finish before the TCP connection goes.
	t := time.NewTimer(2 * closeWait)
	select {
	case <-readDone:
	case <-t.C:
	}
	t.Stop()
	ws.Close()
	<-readDone
	s.mu.Lock()
	end := rec.End
	s.mu.Unlock()
	s.logger.Info("session ended", "session", rec.Name, "end", end)
}

// expireAt closes the session with CloseTokenExpired when its token
// expires, unless the session ends first (ended is closed) or the server
// closes.
func (s *Server) expireAt(ls *liveSession, expiry time.Time, ended <-chan struct{}) {
	t := time.NewTimer(max(expiry.Sub(s.cfg.Now()), 0))
	defer t.Stop()
	select {
	case <-ended:
		return
	case <-s.quit:
		return
	case <-t.C:
	}

	s.logger.Info("token expired; closing the session", "session", ls.rec.Name, "code", CloseTokenExpired)
	s.setEnd(ls.rec, "token expired")
	deadline := time.Now().Add(closeWait)
	msg := websocket.FormatCloseMessage(CloseTokenExpired, "token expired")
	_ = ls.ws.WriteControl(websocket.CloseMessage, msg, deadline)
	ls.ws.SetReadDeadline(deadline)
	ls.halt()
}

func (s *Server) closeBeforeEvent(ls *liveSession, code int) {
	if code == AbruptClose {
		s.setEnd(ls.rec, "dropped before the connection event")
		return
	}
	s.setEnd(ls.rec, fmt.Sprintf("closed with %d before the connection event", code))
	s.closeAndDrain(ls.ws, ls.rec, code, "")
}

func (s *Server) sendConnectionEvent(ls *liveSession, faults Faults) bool {
	id := newSessionID()
	event := faults.ConnectionEvent
	if event == nil {
		event = protocol.ConnectionEvent(ls.rec.Name, id)
	}
	s.update(ls.rec, func(r *Session) { r.SessionID = id })
	if err := ls.write(websocket.TextMessage, event); err != nil {
		s.setEnd(ls.rec, "send the connection event: "+err.Error())
		return false
	}
	return true
}

// awaitInitialization reads the initialization request and records it;
// on a missing or invalid one it closes the session with 1008.
func (s *Server) awaitInitialization(ls *liveSession) bool {
	ws, rec := ls.ws, ls.rec
	ws.SetReadDeadline(time.Now().Add(s.cfg.InitializationTimeout))
	typ, frame, err := ws.ReadMessage()
	if err != nil {
		s.recordClose(rec, err)
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			s.setEnd(rec, fmt.Sprintf("no initialization request within %s", s.cfg.InitializationTimeout))
			s.closeAndDrain(ws, rec, websocket.ClosePolicyViolation, "no initialization request")
			return false
		}
		s.setEnd(rec, "read the initialization request: "+err.Error())
		return false
	}
	ws.SetReadDeadline(time.Time{})

	init, err := s.checkInitialization(rec.Name, typ, frame)
	if err != nil {
		s.setEnd(rec, err.Error())
		s.closeAndDrain(ws, rec, websocket.ClosePolicyViolation, "invalid initialization request")
		return false
	}
	s.update(rec, func(r *Session) {
		r.Initialization = frame
		r.TimeZoneOffset = init.TimeZoneOffset
		r.Initialized = true
	})
	return true
}

func (s *Server) checkInitialization(name string, typ int, frame []byte) (protocol.Initialization, error) {
	if typ != websocket.TextMessage {
		return protocol.Initialization{}, errors.New("initialization request in a binary frame")
	}
	init, env, err := protocol.ParseInitialization(frame)
	switch {
	case err != nil:
		return init, fmt.Errorf("invalid initialization request: %w", err)
	case env.Sender != name:
		return init, fmt.Errorf("initialization request from %q on session %q", env.Sender, name)
	case env.Receiver != protocol.ReceiverRealTimeService:
		return init, fmt.Errorf("initialization request for %q", env.Receiver)
	case init.Sender != name:
		return init, fmt.Errorf("initialization data names %q on session %q", init.Sender, name)
	case init.TimeZoneOffset < -14*60 || init.TimeZoneOffset > 12*60:
		return init, fmt.Errorf("time zone offset %d out of range", init.TimeZoneOffset)
	}
	return init, nil
}

// readUntilError reads and discards frames until the socket fails.
func (s *Server) readUntilError(ls *liveSession) {
	for {
		if _, _, err := ls.ws.ReadMessage(); err != nil {
			s.recordClose(ls.rec, err)
			return
		}
	}
}

// drain reads the socket after initialization, so that pings and the
// close handshake are answered, until it fails.
func (s *Server) drain(ls *liveSession, done chan<- struct{}) {
	defer close(done)
	for {
		if _, _, err := ls.ws.ReadMessage(); err != nil {
			s.recordClose(ls.rec, err)
			s.setEnd(ls.rec, "read: "+err.Error())
			return
		}
	}
}

// push sends a metric message now and every PushInterval until the
// session ends.
func (s *Server) push(ls *liveSession, readDone <-chan struct{}) {
	ticker := time.NewTicker(s.cfg.PushInterval)
	defer ticker.Stop()
	for {
		if !ls.stalled.Load() {
			now := s.cfg.Now()
			data := s.payload(now, ls.rec.TimeZoneOffset)
			frame := protocol.Encode(s.cfg.Sender, ls.rec.Name, MessageTypeMetrics, string(data))
			if err := ls.write(websocket.TextMessage, frame); err != nil {
				s.setEnd(ls.rec, "push: "+err.Error())
				return
			}
			s.update(ls.rec, func(r *Session) { r.Pushed++ })
		}
		select {
		case <-readDone:
			return
		case <-ls.stop:
			return
		case <-s.quit:
			return
		case <-ticker.C:
		}
	}
}

func (ls *liveSession) write(messageType int, frame []byte) error {
	ls.writeMu.Lock()
	defer ls.writeMu.Unlock()
	ls.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return ls.ws.WriteMessage(messageType, frame)
}

// newSessionID returns 32 hex digits from crypto/rand.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
