// Package wsclient keeps one session with the Acqueon Performance Metrics
// feed open: it dials the websocket, presents the credential, waits for the
// connection event, sends the initialization request and hands every frame
// that follows to a Handler, and it reconnects whenever the session is lost.
//
// The life cycle of one attempt:
//
//   - connecting: a new session name (a fresh timestamp on the
//     /AEDataTransmitter form), a password from the credential source, dial,
//     TLS and the websocket upgrade with an Authorization header.
//   - authenticating: the socket is open but the session is not: the
//     server may still close it for a bad credential. The first frame must
//     be the connection event (MessageType OpenID) within
//     ConnectionEventTimeout. It goes to the Handler; any other frame
//     before it is not handed over (a session that has not been accepted
//     delivers no data) and fails the attempt as a protocol failure.
//   - initializing: the initialization request is sent, with the
//     TimeZoneOffset of Location at that moment.
//   - connected: the session is initialized; it counts as working from
//     here on. Ready reports true and acqueon_up is 1.
//
// Liveness: while connected, the client pings every PingInterval, and each
// frame or pong moves the read deadline to two ping intervals ahead, so a
// server that neither sends nor answers for two intervals ends the session.
//
// Expiring credentials: a credential source that also has a method
// Expiry() time.Time (such as *auth.IDP) hands out passwords that stop
// working, and the feed ends a session whose token expired. The client
// ends such a session itself with a close handshake TokenRenewalLead
// before the expiry the source reported when the session started, and
// connects again at once with the renewed password, so that the renewal
// is neither a failure nor left to how the server happens to signal it
// (it counts in acqueon_exporter_reconnects_total like any new session).
// A session that the server closes with an authentication close code (see
// ReasonAuthRejected) tells the source Rejected, as a refused login does,
// so that the next attempt presents a new password.
//
// Reconnecting: after a working session is lost the next attempt starts at
// once, unless that session lasted less than MinBackoff (a server that
// drops every session right after initialization must not be hammered);
// failed attempts wait a back-off that doubles from MinBackoff up to
// MaxBackoff, with full jitter between MinBackoff and that ceiling. Every
// failed attempt has a reason (see Reasons) counted in
// acqueon_exporter_connect_failures_total.
package wsclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

// Defaults for the zero values of Config.
const (
	DefaultHandshakeTimeout       = 10 * time.Second
	DefaultConnectionEventTimeout = 10 * time.Second
	DefaultPingInterval           = 5 * time.Second
	DefaultReadLimit              = 16 << 20
	DefaultMinBackoff             = time.Second
	DefaultMaxBackoff             = time.Minute
	DefaultCloseTimeout           = time.Second
	DefaultFailureSummaryInterval = 5 * time.Minute
	DefaultTokenRenewalLead       = 10 * time.Second
)

// ErrInvalidConfig is wrapped by the errors New returns for a Config it
// cannot use.
var ErrInvalidConfig = errors.New("invalid feed client configuration")

// ErrRunning is returned by Run while another Run of the same client is
// still going.
var ErrRunning = errors.New("feed client already running")

// Config configures a Client. Zero durations and limits take the defaults
// above.
type Config struct {
	// URL is the feed's ws:// or wss:// URL; its path picks the URL form
	// (/AEDataTransmitter or /AEConsole). It must carry no user info:
	// credentials come from Credentials. Its name query parameter, if any,
	// is replaced by the session name.
	URL *url.URL
	// User is the application name inside the session name.
	User string
	// Credentials supplies the password at every attempt.
	Credentials auth.Source
	// Location is the zone whose offset the initialization request
	// announces; nil means time.Local.
	Location *time.Location
	// TLSConfig configures TLS for wss:// URLs; nil means the defaults.
	TLSConfig *tls.Config
	// HandshakeTimeout bounds dial, TLS and the websocket upgrade.
	HandshakeTimeout time.Duration
	// ConnectionEventTimeout bounds the wait for the connection event
	// after the upgrade.
	ConnectionEventTimeout time.Duration
	// PingInterval is how often a live session is pinged; the session
	// ends when neither a frame nor a pong arrived for two intervals.
	PingInterval time.Duration
	// ReadLimit is the largest frame accepted, in bytes; a larger frame
	// is discarded as too_large and ends the session.
	ReadLimit int64
	// MinBackoff and MaxBackoff bound the wait between failed attempts.
	MinBackoff, MaxBackoff time.Duration
	// CloseTimeout bounds the wait for the server's reply to the close
	// frame sent at shutdown.
	CloseTimeout time.Duration
	// TokenRenewalLead is how long before the expiry of an expiring
	// credential (see the package documentation) the session is replaced.
	// It should not be longer than the time before expiry at which the
	// source renews the password (10s at least for *auth.IDP); a token that
	// is closer to its expiry than twice the lead when a session starts is
	// left to the server to end.
	TokenRenewalLead time.Duration
	// FailureSummaryInterval is how often a streak of failed attempts is
	// summarized at Warn level; the other failures after the first of a
	// streak are logged at Debug level only.
	FailureSummaryInterval time.Duration
	// Logger receives the session's log; nil discards it.
	Logger *slog.Logger
	// Registerer receives the session's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now stamps session names, TimeZoneOffset, the arrival time of frames
	// and the failure summaries; nil means time.Now. Deadlines and
	// back-off waits always use the real clock.
	Now func() time.Time
	// Sleep waits between attempts and returns early with ctx's error;
	// nil means a timer. Tests replace it to observe the back-off.
	Sleep func(ctx context.Context, d time.Duration) error
	// Random returns a number in [0, 1) for the back-off jitter; nil
	// means math/rand/v2.
	Random func() float64
}

// Client keeps a session with the feed. Create it with New and start it
// with Run.
type Client struct {
	cfg     Config
	handler Handler
	form    protocol.Form
	namer   *protocol.SessionNamer
	logger  *slog.Logger
	metrics *metrics
	dialer  websocket.Dialer

	running atomic.Bool
	ready   atomic.Bool
}

// New checks cfg, fills in its defaults, and registers the session's
// metrics with cfg.Registerer. Frames go to h.
func New(cfg Config, h Handler) (*Client, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: no frame handler", ErrInvalidConfig)
	}
	form, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	cfg = withDefaults(cfg)

	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:     cfg,
		handler: h,
		form:    form,
		namer:   protocol.NewSessionNamer(cfg.User, form),
		logger:  cfg.Logger,
		metrics: m,
		dialer: websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			TLSClientConfig:  cfg.TLSConfig,
			HandshakeTimeout: cfg.HandshakeTimeout,
		},
	}
	return c, nil
}

func validate(cfg Config) (protocol.Form, error) {
	u := cfg.URL
	if u == nil {
		return 0, fmt.Errorf("%w: no feed URL", ErrInvalidConfig)
	}
	if u.User != nil {
		// Never echo the URL: its user info may hold a password.
		return 0, fmt.Errorf("%w: the feed URL must not carry user info (name:password@); "+
			"give the credentials separately", ErrInvalidConfig)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return 0, fmt.Errorf("%w: feed URL scheme %q, want ws or wss", ErrInvalidConfig, u.Scheme)
	}
	if u.Host == "" {
		return 0, fmt.Errorf("%w: the feed URL has no host", ErrInvalidConfig)
	}
	form, err := protocol.FormOf(u.Path)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.User == "" {
		return 0, fmt.Errorf("%w: no user (the application name in the session name)", ErrInvalidConfig)
	}
	if strings.ContainsFunc(cfg.User, func(r rune) bool {
		return r == ':' || unicode.IsSpace(r) || unicode.IsControl(r)
	}) {
		return 0, fmt.Errorf("%w: user %q must not contain a colon, space or control character",
			ErrInvalidConfig, cfg.User)
	}
	if cfg.Credentials == nil {
		return 0, fmt.Errorf("%w: no credential source", ErrInvalidConfig)
	}
	for name, d := range map[string]time.Duration{
		"handshake timeout":        cfg.HandshakeTimeout,
		"connection event timeout": cfg.ConnectionEventTimeout,
		"ping interval":            cfg.PingInterval,
		"minimum back-off":         cfg.MinBackoff,
		"maximum back-off":         cfg.MaxBackoff,
		"close timeout":            cfg.CloseTimeout,
		"failure summary interval": cfg.FailureSummaryInterval,
		"token renewal lead":       cfg.TokenRenewalLead,
	} {
		if d < 0 {
			return 0, fmt.Errorf("%w: negative %s %s", ErrInvalidConfig, name, d)
		}
	}
	if cfg.ReadLimit < 0 {
		return 0, fmt.Errorf("%w: negative read limit %d", ErrInvalidConfig, cfg.ReadLimit)
	}
	if cfg.MinBackoff > 0 && cfg.MaxBackoff > 0 && cfg.MinBackoff > cfg.MaxBackoff {
		return 0, fmt.Errorf("%w: minimum back-off %s above maximum %s",
			ErrInvalidConfig, cfg.MinBackoff, cfg.MaxBackoff)
	}
	return form, nil
}

func withDefaults(cfg Config) Config {
	u := *cfg.URL
	cfg.URL = &u
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.ConnectionEventTimeout == 0 {
		cfg.ConnectionEventTimeout = DefaultConnectionEventTimeout
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.ReadLimit == 0 {
		cfg.ReadLimit = DefaultReadLimit
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = DefaultMinBackoff
		if cfg.MaxBackoff > 0 {
			cfg.MinBackoff = min(cfg.MinBackoff, cfg.MaxBackoff)
		}
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.CloseTimeout == 0 {
		cfg.CloseTimeout = DefaultCloseTimeout
	}
	if cfg.TokenRenewalLead == 0 {
		cfg.TokenRenewalLead = DefaultTokenRenewalLead
	}
	if cfg.FailureSummaryInterval == 0 {
		cfg.FailureSummaryInterval = DefaultFailureSummaryInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Random == nil {
		cfg.Random = rand.Float64
	}
	return cfg
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Ready reports whether a session is initialized and live.
func (c *Client) Ready() bool { return c.ready.Load() }

// Run keeps a session open until ctx ends, reconnecting as needed, then
// closes the session with a close handshake and returns nil once every
// goroutine it started has ended. It returns ErrRunning if called while
// another Run of c is going.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer c.running.Store(false)
	defer c.metrics.setState(StateDisconnected)

	host := c.cfg.URL.Host
	c.logger.Info("starting feed client",
		"host", host,
		"path", c.cfg.URL.Path,
		"user", c.cfg.User,
		"time_zone", c.cfg.Location.String())

	var (
		backoffStreak int  // attempts since the last lasting session, for the back-off
		worked        bool // a session has been initialized before
		failures      failureLog
	)
	for {
		res := c.attempt(ctx, worked, failures.streak)
		if ctx.Err() != nil {
			c.logger.Info("feed client stopped", "host", host)
			return nil
		}
		c.metrics.setState(StateDisconnected)

		var delay time.Duration
		if res.initialized {
			worked = true
			failures.reset()
			if res.lasted >= c.cfg.MinBackoff {
				backoffStreak = 0
			} else {
				backoffStreak++
				delay = c.backoff(backoffStreak)
			}
			if res.renewed {
				c.logger.Info("ended the session ahead of the credential's expiry; connecting with a renewed one",
					"host", host,
					"session", res.session,
					"duration", res.lasted.Round(time.Millisecond),
					"retry_in", delay)
			} else {
				c.logger.Info("disconnected from the feed",
					"host", host,
					"session", res.session,
					"duration", res.lasted.Round(time.Millisecond),
					"reason", res.err.Reason,
					"retry_in", delay,
					"err", res.err)
			}
		} else {
			backoffStreak++
			delay = c.backoff(backoffStreak)
			c.metrics.connectFailure.WithLabelValues(res.err.Reason).Inc()
			failures.record(c, res, delay)
		}
		if res.err.Reason == ReasonAuthRejected {
			// Refused at login, or a working session ended for its
			// credential (an expired token): the next attempt must not
			// present the same password unchecked.
			c.cfg.Credentials.Rejected()
		}

		if delay > 0 {
			if err := c.cfg.Sleep(ctx, delay); err != nil || ctx.Err() != nil {
				c.logger.Info("feed client stopped", "host", host)
				return nil
			}
		}
	}
}

// backoff returns the wait before attempt n+1 after n attempts in a row
// that failed: a random duration between MinBackoff and a ceiling that
// starts at MinBackoff and doubles with each failure up to MaxBackoff.
func (c *Client) backoff(n int) time.Duration {
	ceiling := c.cfg.MinBackoff
	for i := 1; i < n && ceiling < c.cfg.MaxBackoff; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, c.cfg.MaxBackoff)
	spread := float64(ceiling - c.cfg.MinBackoff)
	return c.cfg.MinBackoff + time.Duration(c.cfg.Random()*spread)
}

// failureLog keeps a server that is down for hours from flooding the log:
// the first failure of a streak is a Warn, the next ones are Debug, and a
// Warn summary follows every FailureSummaryInterval while the streak lasts.
type failureLog struct {
	streak      int
	since       time.Time
	lastSummary time.Time
	reasons     map[string]int
}

func (f *failureLog) reset() {
	*f = failureLog{}
}

func (f *failureLog) record(c *Client, res attemptResult, retryIn time.Duration) {
	now := c.cfg.Now()
	f.streak++
	if f.reasons == nil {
		f.reasons = map[string]int{}
	}
	f.reasons[res.err.Reason]++

	attrs := []any{
		"host", c.cfg.URL.Host,
		"session", res.session,
		"reason", res.err.Reason,
		"retry_in", retryIn.Round(time.Millisecond),
		"err", res.err.Err,
	}
	if f.streak == 1 {
		f.since = now
		f.lastSummary = now
		c.logger.Warn("cannot connect to the feed", attrs...)
		return
	}
	c.logger.Debug("cannot connect to the feed", append(attrs, "failures", f.streak)...)
	if now.Sub(f.lastSummary) < c.cfg.FailureSummaryInterval {
		return
	}
	f.lastSummary = now
	c.logger.Warn("still cannot connect to the feed",
		append(attrs,
			"failures", f.streak,
			"failing_since", f.since,
			"failures_by_reason", fmt.Sprint(f.reasons))...)
}

// attemptResult is how one attempt ended.
type attemptResult struct {
	session     string
	initialized bool
	lasted      time.Duration // from initialization to the end, by the real clock
	err         *ConnectError // the cause; for a working session Reason is informative only
	renewed     bool          // the client ended the session to renew an expiring credential
}

// errRenewal is the cause of a session's context when the client ends the
// session ahead of its credential's expiry.
var errRenewal = errors.New("renewing the credential ahead of its expiry")

// attempt opens one session and, once it is initialized, reads it until
// it ends. failures is the length of the current streak of failures, for
// the connect log line.
func (c *Client) attempt(ctx context.Context, worked bool, failures int) attemptResult {
	c.metrics.setState(StateConnecting)
	name := c.namer.Next(c.cfg.Now())
	res := attemptResult{session: name}

	password, err := c.cfg.Credentials.Password(ctx, c.form)
	if err != nil {
		res.err = failure(ReasonCredentials, fmt.Errorf("get password: %w", err))
		return res
	}
	renewAt := c.renewalTime()
	conn, dialErr := c.dial(ctx, name, password)
	if dialErr != nil {
		res.err = dialErr
		return res
	}

	// keepAlive closes the session when sessionCtx ends: at shutdown, or
	// at renewAt.
	sessionCtx := ctx
	if !renewAt.IsZero() {
		var cancel context.CancelFunc
		sessionCtx, cancel = context.WithTimeoutCause(ctx, renewAt.Sub(c.cfg.Now()), errRenewal)
		defer cancel()
	}
	s := newSession(c, conn, name)
	defer s.end()
	go s.keepAlive(sessionCtx)

	c.metrics.setState(StateAuthenticating)
	sessionID, eventErr := s.awaitConnectionEvent()
	if eventErr != nil {
		res.err = eventErr
		return res
	}

	c.metrics.setState(StateInitializing)
	offset := protocol.TimeZoneOffset(c.cfg.Location, c.cfg.Now())
	if initErr := s.initialize(offset); initErr != nil {
		res.err = initErr
		return res
	}

	initializedAt := time.Now()
	res.initialized = true
	if worked {
		c.metrics.reconnects.Inc()
	}
	c.metrics.setState(StateConnected)
	c.ready.Store(true)
	attrs := []any{
		"host", c.cfg.URL.Host,
		"session", name,
		"session_id", sessionID,
		"time_zone_offset", offset,
		"failed_attempts_before", failures,
	}
	if !renewAt.IsZero() {
		attrs = append(attrs, "renew_at", renewAt)
	}
	c.logger.Info("connected to the feed", attrs...)

	err = s.read()
	c.ready.Store(false)
	c.metrics.setState(StateDisconnected)
	res.lasted = time.Since(initializedAt)
	res.err = failure(classifyAfterUpgrade(err), err)
	res.renewed = ctx.Err() == nil && errors.Is(context.Cause(sessionCtx), errRenewal)
	return res
}

// renewalTime returns when a session that starts now is to be ended so
// that it can be replaced with a renewed credential: TokenRenewalLead
// before the expiry of an expiring credential. It is zero when the
// credential does not expire, or expires too soon for a planned renewal to
// help: then the server ends the session, and the auth close code makes
// the source renew.
func (c *Client) renewalTime() time.Time {
	src, ok := c.cfg.Credentials.(interface{ Expiry() time.Time })
	if !ok {
		return time.Time{}
	}
	expiry := src.Expiry()
	if expiry.IsZero() {
		return time.Time{}
	}
	lead := c.cfg.TokenRenewalLead
	renewAt := expiry.Add(-lead)
	if renewAt.Sub(c.cfg.Now()) < lead {
		return time.Time{}
	}
	return renewAt
}

// dial opens the socket. Errors are *ConnectError. The TCP connection is
// closed as soon as ctx ends, as the websocket library watches ctx only
// through its deadline.
func (c *Client) dial(ctx context.Context, name, password string) (*websocket.Conn, *ConnectError) {
	u := *c.cfg.URL
	q := u.Query()
	q.Set("name", name)
	u.RawQuery = q.Encode()
	header := http.Header{"Authorization": {protocol.BasicAuthorization(name, password)}}

	var (
		mu  sync.Mutex
		raw []net.Conn
	)
	d := c.dialer
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var nd net.Dialer
		conn, err := nd.DialContext(ctx, network, addr)
		if err == nil {
			mu.Lock()
			raw = append(raw, conn)
			mu.Unlock()
		}
		return conn, err
	}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		for _, conn := range raw {
			conn.Close()
		}
	})
	defer stop()

	conn, resp, err := d.DialContext(ctx, u.String(), header)
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("upgrade answered with HTTP %s: %w", resp.Status, err)
		}
		return nil, failure(classifyDial(err, resp), fmt.Errorf("dial %s: %w", c.cfg.URL.Host, err))
	}
	return conn, nil
}
