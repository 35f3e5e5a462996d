package wsclient_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
	"github.com/acqueon-exporter/acqueon_exporter/auth/idptest"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

const (
	idpUser     = "perf.reader@example.com"
	idpPassword = "idp-Pw-7q#x-correct"
)

// idpFeed is a session on IDP tokens over loopback: the test IDP, a
// simulator that takes only its tokens and closes a session when its token
// expires, an IDP credential source that signs in at the IDP's login page,
// and a client whose registry also holds the source's token metrics.
type idpFeed struct {
	idp *idptest.Server
	sim *simulator.Server
	src *auth.IDP
	tc  *testClient
	// logs holds the log lines of the source and the simulator; the
	// client's are in tc.logs.
	logs *logBuffer
}

type idpFeedOptions struct {
	lifetime time.Duration // of access tokens
	// serverAhead is how far the simulator's clock runs ahead of the
	// IDP's: the server sees tokens expire that much earlier.
	serverAhead time.Duration
	// hideExpiry hides the source's Expiry from the client, so that the
	// client plans no renewal and the server's close is all it sees.
	hideExpiry bool
	// runSource runs the source's background refresh.
	runSource bool
	source    func(*auth.IDPConfig)
	client    func(*wsclient.Config)
}

func startIDPFeed(t *testing.T, opts idpFeedOptions) *idpFeed {
	t.Helper()
	f := &idpFeed{logs: &logBuffer{}}
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	f.idp = idptest.NewServer(idptest.Config{
		Users:               map[string]string{idpUser: idpPassword},
		AccessTokenLifetime: opts.lifetime,
	})
	t.Cleanup(f.idp.Close)

	simNow := time.Now
	if opts.serverAhead != 0 {
		simNow = func() time.Time { return time.Now().Add(opts.serverAhead) }
	}
	sim, ts := startSimulator(t, simulator.Config{
		User: testUser,
		Authenticate: func(form protocol.Form, password string) bool {
			_, issued := f.idp.FeedTokenExpiry(form, password)
			return issued // whether it expired is the server's to say, by its own clock
		},
		TokenExpiry: f.idp.FeedTokenExpiry,
		Logger:      logger.With("component", "simulator"),
		Now:         simNow,
	}, false)
	f.sim = sim

	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	cfg := auth.IDPConfig{
		IssuerURL:   f.idp.URL,
		ClientID:    "acqueon-exporter",
		RedirectURL: idptest.DefaultRedirectURL,
		Username:    idpUser,
		Password: auth.SecretRef{
			Name:      "IDP password",
			Env:       "TEST_IDP_PASSWORD",
			LookupEnv: func(string) (string, bool) { return idpPassword, true },
		},
		HTTPClient:       &http.Client{Transport: transport, Timeout: 5 * time.Second},
		MinRefreshMargin: 100 * time.Millisecond,
		RetryInterval:    50 * time.Millisecond,
		Logger:           logger.With("component", "idp"),
	}
	if opts.source != nil {
		opts.source(&cfg)
	}
	src, err := auth.NewIDP(cfg)
	if err != nil {
		t.Fatalf("NewIDP: %v", err)
	}
	f.src = src
	if opts.runSource {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = src.Run(ctx)
		}()
		t.Cleanup(func() {
			cancel()
			<-done
		})
	}

	var creds auth.Source = src
	if opts.hideExpiry {
		creds = struct{ auth.Source }{src}
	}
	f.tc = newTestClient(t, feedURL(t, ts, protocol.PathDataTransmitter), func(c *wsclient.Config) {
		c.Credentials = creds
		if opts.client != nil {
			opts.client(c)
		}
	})
	f.tc.reg.MustRegister(src)
	return f
}

// checkNoSecrets fails the test if a password, code, verifier or token,
// raw or as the feed password, appears in any log line.
func (f *idpFeed) checkNoSecrets(t *testing.T) {
	t.Helper()
	logs := f.tc.logs.String() + f.logs.String()
	for _, secret := range append(f.idp.Secrets(), idpPassword) {
		for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret))} {
			if strings.Contains(logs, form) {
				t.Errorf("a secret (%d characters) appears in the log:\n%s", len(form), logs)
			}
		}
	}
	for _, s := range f.sim.Sessions() {
		if auth := strings.TrimPrefix(s.Authorization, "Basic "); auth != "" && strings.Contains(logs, auth) {
			t.Errorf("an Authorization header appears in the log:\n%s", logs)
		}
	}
}

// tokenOf returns the access token a session presented.
func tokenOf(t *testing.T, s simulator.Session) string {
	t.Helper()
	basic, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s.Authorization, "Basic "))
	if err != nil {
		t.Fatalf("authorization of %s: %v", s.Name, err)
	}
	_, password, _ := strings.Cut(string(basic), ":")
	token, err := base64.StdEncoding.DecodeString(password)
	if err != nil {
		t.Fatalf("password of %s is not base64: %v", s.Name, err)
	}
	return string(token)
}

func (f *idpFeed) checkNoFailedAttempts(t *testing.T) {
	t.Helper()
	for _, reason := range wsclient.Reasons() {
		if got := f.tc.metric(t, "acqueon_exporter_connect_failures_total", "reason", reason); got != 0 {
			t.Errorf("%s failures = %v, want 0", reason, got)
		}
	}
	for _, s := range f.sim.Sessions() {
		if s.Refused != "" {
			t.Errorf("server refused %s: %s", s.Name, s.Refused)
		}
	}
}

func TestIDPSessionIsRenewedWithAFreshTokenAheadOfExpiry(t *testing.T) {
	t.Parallel()
	f := startIDPFeed(t, idpFeedOptions{
		lifetime:  2 * time.Second,
		runSource: true,
		// The source refreshes 1s before expiry, the client replaces the
		// session 600ms before it.
		source: func(c *auth.IDPConfig) { c.MinRefreshMargin = time.Second },
		client: func(c *wsclient.Config) { c.TokenRenewalLead = 600 * time.Millisecond },
	})
	stop := f.tc.start(t)
	waitInitialized(t, f.sim, 1)
	firstExpiry := f.tc.metric(t, "acqueon_exporter_token_expiry_timestamp_seconds", "", "")
	sessions := waitInitialized(t, f.sim, 3)
	stop()

	lastExpiry := f.tc.metric(t, "acqueon_exporter_token_expiry_timestamp_seconds", "", "")
	if firstExpiry <= 0 || lastExpiry < firstExpiry+1 {
		t.Errorf("token expiry gauge went from %v to %v over two renewals of 2s tokens", firstExpiry, lastExpiry)
	}
	tokens := map[string]bool{}
	for i, s := range sessions[:3] {
		token := tokenOf(t, s)
		if tokens[token] {
			t.Errorf("session %d presented a token already used", i)
		}
		tokens[token] = true
		// The client's own close handshake, not the echo of the server's
		// close at expiry (4401). Which of the two the server saw first is
		// up to the scheduler on a loaded machine, so End is not checked.
		if i < 2 && s.ClientCloseCode != websocket.CloseNormalClosure {
			t.Errorf("session %d ended with %q, client close code %d, %v after it started; "+
				"want the client's close handshake before expiry",
				i, s.End, s.ClientCloseCode, s.Disconnected.Sub(s.Connected))
		}
	}
	if n := strings.Count(f.tc.logs.String(), "ahead of the credential's expiry"); n < 2 {
		t.Errorf("client logged %d renewals ahead of expiry, want 2:\n%s", n, f.tc.logs)
	}
	counts := f.idp.Counts()
	if counts.Logins != 1 || counts.Refreshes < 2 {
		t.Errorf("IDP saw %d logins and %d refreshes, want 1 login and at least 2 refreshes", counts.Logins, counts.Refreshes)
	}
	if got := f.tc.metric(t, "acqueon_exporter_token_refreshes_total", "", ""); got < 3 {
		t.Errorf("token refreshes = %v, want at least 3 (a login and two refreshes)", got)
	}
	if got := f.tc.metric(t, "acqueon_exporter_token_refresh_failures_total", "", ""); got != 0 {
		t.Errorf("token refresh failures = %v, want 0", got)
	}
	f.checkNoFailedAttempts(t)
	f.checkNoSecrets(t)
}

func TestIDPSessionClosedByTheServerAtExpiryReconnectsWithAFreshToken(t *testing.T) {
	t.Parallel()
	// The server's clock runs a second ahead, so it ends the session while
	// the source still thinks the token good: only the close tells the
	// source to renew before the next connect.
	f := startIDPFeed(t, idpFeedOptions{
		lifetime:    2 * time.Second,
		serverAhead: time.Second,
		hideExpiry:  true,
		source:      func(c *auth.IDPConfig) { c.RefreshFraction = 0.01 },
	})
	f.tc.start(t)
	sessions := waitInitialized(t, f.sim, 2)

	if sessions[0].End != "token expired" {
		t.Errorf("first session ended with %q, want the server's close at token expiry", sessions[0].End)
	}
	if tokenOf(t, sessions[0]) == tokenOf(t, sessions[1]) {
		t.Error("the session was re-established with the token the server had closed it for")
	}
	if got := f.idp.Counts().Refreshes; got != 1 {
		t.Errorf("IDP saw %d refreshes, want 1", got)
	}
	f.checkNoFailedAttempts(t)
	f.checkNoSecrets(t)
}

func TestIDPRefusedRefreshLeadsToAFreshLoginAndTheSessionRecovers(t *testing.T) {
	t.Parallel()
	f := startIDPFeed(t, idpFeedOptions{
		lifetime:  2 * time.Second,
		runSource: true,
		source:    func(c *auth.IDPConfig) { c.MinRefreshMargin = time.Second },
		client:    func(c *wsclient.Config) { c.TokenRenewalLead = 600 * time.Millisecond },
	})
	f.tc.start(t)
	waitInitialized(t, f.sim, 1)
	f.idp.RefuseRefreshes(true) // as if the refresh token had been revoked
	sessions := waitInitialized(t, f.sim, 2)

	counts := f.idp.Counts()
	if counts.Logins != 2 || counts.Refreshes != 0 || counts.TokenFailures < 1 {
		t.Errorf("IDP saw %d logins, %d refreshes, %d refused token requests; want 2, 0, at least 1",
			counts.Logins, counts.Refreshes, counts.TokenFailures)
	}
	if tokenOf(t, sessions[0]) == tokenOf(t, sessions[1]) {
		t.Error("the session was re-established with the old token")
	}
	if got := f.tc.metric(t, "acqueon_exporter_token_refresh_failures_total", "", ""); got < 1 {
		t.Errorf("token refresh failures = %v, want the refused refresh counted", got)
	}
	if got := f.tc.metric(t, "acqueon_exporter_token_refreshes_total", "", ""); got < 2 {
		t.Errorf("token refreshes = %v, want both logins counted", got)
	}
	f.checkNoFailedAttempts(t)
	f.checkNoSecrets(t)
}
