package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

// Grant names how an IDP source obtains a token when it holds no refresh
// token that the IDP still accepts.
type Grant string

// The grants of --acqueon.idp.grant.
const (
	// GrantForm is the authorization code flow with PKCE (S256), with the
	// exporter itself signing in at the IDP's login page.
	GrantForm Grant = "form"
	// GrantPassword is the resource owner password credentials grant, for
	// IDPs that still allow it.
	GrantPassword Grant = "password"
	// GrantRefreshToken runs on the refresh token that the interactive
	// login (acqueon_exporter login) stored in the token file, and never
	// signs in by itself.
	GrantRefreshToken Grant = "refresh-token"
)

// Grants returns the names of all grants, the default first.
func Grants() []string {
	return []string{string(GrantForm), string(GrantPassword), string(GrantRefreshToken)}
}

// DefaultScopes returns the scopes asked for when none are configured:
// openid, and offline_access because most OpenID providers issue a refresh
// token only when it is asked for. Without a refresh token every renewal is
// a full sign-in, and the token file has nothing to keep.
func DefaultScopes() []string { return []string{"openid", "offline_access"} }

// ParseScopes splits a scope list given as one flag value, separated by
// spaces or commas. An empty list gives nil, which means DefaultScopes.
func ParseScopes(s string) []string {
	scopes := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	if len(scopes) == 0 {
		return nil
	}
	return scopes
}

// DefaultRedirectURL is a loopback redirect URL in the sense of RFC 8252:
// the interactive login listens on 127.0.0.1 at a port of its choosing, and
// the unattended login stops at it without fetching it.
const DefaultRedirectURL = "http://127.0.0.1/callback"

// Errors that callers tell apart.
var (
	// ErrLoginFailed means the IDP did not accept the username and password
	// at its login page (or the password grant).
	ErrLoginFailed = errors.New("login failed at the IDP")
	// ErrRefreshRefused means the IDP answered a refresh with an OAuth error
	// (invalid_grant for a revoked, expired or already rotated token).
	ErrRefreshRefused = errors.New("the IDP refused the refresh token")
	// ErrLoginRequired means the source runs on grant refresh-token and has
	// no refresh token the IDP accepts: an operator must run
	// `acqueon_exporter login` again.
	ErrLoginRequired = errors.New("no usable refresh token: run `acqueon_exporter login` again")
)

// IDPConfig configures a source of Acqueon IDP access tokens. Its fields
// follow the --acqueon.idp.* flags.
type IDPConfig struct {
	// IssuerURL is the IDP; the endpoints come from its
	// /.well-known/openid-configuration unless AuthURL and TokenURL are
	// both given.
	IssuerURL string
	// AuthURL is the authorization endpoint; it overrides discovery.
	AuthURL string
	// TokenURL is the token endpoint; it overrides discovery.
	TokenURL string
	// ClientID names the IDP app.
	ClientID string
	// ClientSecret is needed only for a confidential client; a reference
	// with neither file nor set environment variable means a public client.
	ClientSecret SecretRef
	// RedirectURL is the redirect URI registered for the client. The
	// unattended login never fetches it; the interactive login listens on
	// it (loopback only).
	RedirectURL string
	// Scopes to ask for; nil means DefaultScopes.
	Scopes []string
	// Username is the external user that signs in (grants form and
	// password).
	Username string
	// Password is that user's password, read at every sign-in.
	Password SecretRef
	// TokenFile keeps the refresh token between runs. Optional for grants
	// form and password, required for refresh-token.
	TokenFile string
	// Grant says how a token is obtained without a refresh token; empty
	// means GrantForm.
	Grant Grant

	// HTTPClient talks to the IDP (its TLS configuration is the caller's);
	// nil means a client with the default transport and a one-minute
	// timeout.
	HTTPClient *http.Client
	// Authorizer signs in for grant form; nil means a FormLogin with
	// Username and Password.
	Authorizer Authorizer
	// RefreshFraction is the part of a token's lifetime before its expiry
	// at which it is refreshed; zero means 0.2.
	RefreshFraction float64
	// MinRefreshMargin is the least time before expiry at which a token is
	// refreshed; zero means 10s, what golang.org/x/oauth2 keeps. Tests set
	// it lower. A session replaces itself shortly before its token expires
	// (wsclient's TokenRenewalLead, 10s by default) and then asks for a
	// password: keep this margin at least that long, so that the new
	// session gets a new token.
	MinRefreshMargin time.Duration
	// RetryInterval is Run's first wait after a failed attempt; it doubles
	// up to MaxRetryInterval. Zero means 5s and 5m.
	RetryInterval, MaxRetryInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives what the source does, never a secret; nil discards.
	Logger *slog.Logger
}

// IDP is a Source of Acqueon IDP access tokens. It signs in once, refreshes
// the token ahead of its expiry and keeps rotated refresh tokens in the
// token file. It implements prometheus.Collector for the token metrics.
//
// Renewal happens lazily in Password, just before a connect, and ahead of
// time in Run if the caller runs it. The feed ends a session whose token
// expired, whatever is refreshed meanwhile; Expiry tells the session when
// that will be, so it can plan a reconnect.
type IDP struct {
	cfg        IDPConfig
	client     *http.Client
	authorizer Authorizer
	log        *slog.Logger
	now        func() time.Time

	// lock is held while a token is looked at or obtained; a channel so
	// that waiting for it honours a context.
	lock chan struct{}
	// Guarded by lock.
	oauth        *oauth2.Config
	accessToken  Secret
	refreshToken Secret
	refused      Secret // refresh token the IDP refused; not tried again
	// refusedPassword is the SHA-256 of the password of a failed login.
	refusedPassword *[sha256.Size]byte
	obtainedAt      time.Time
	gen             uint64 // counts access tokens obtained

	// mu guards the fields below; it is never held during I/O.
	mu          sync.Mutex
	expiry      time.Time // zero: unknown, or no token
	handedOut   uint64    // generation that Password returned last
	rejectedGen uint64    // generation the feed refused
	refreshes   float64
	failures    float64

	wake chan struct{} // tells Run to look at the token again

	expiryDesc, refreshesDesc, failuresDesc *prometheus.Desc
}

// IDP is a credential source and a metrics collector.
var (
	_ Source               = (*IDP)(nil)
	_ prometheus.Collector = (*IDP)(nil)
)

// NewIDP checks cfg and returns the source. It does not contact the IDP:
// endpoints are discovered at the first use. With grant refresh-token the
// token file must exist; with the other grants it is read if present.
func NewIDP(cfg IDPConfig) (*IDP, error) {
	if cfg.Grant == "" {
		cfg.Grant = GrantForm
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	p := newIDP(cfg)
	warnIfSharedRef(cfg.Password, p.log)
	warnIfSharedRef(cfg.ClientSecret, p.log)

	if cfg.TokenFile == "" {
		return p, nil
	}
	if err := p.loadTokenFile(); err != nil {
		if cfg.Grant == GrantRefreshToken {
			return nil, err
		}
		p.log.Warn("ignoring the IDP token file; signing in instead", "file", cfg.TokenFile, "err", err)
	}
	return p, nil
}

func newIDP(cfg IDPConfig) *IDP {
	if cfg.Scopes == nil {
		cfg.Scopes = DefaultScopes()
	}
	if cfg.RefreshFraction <= 0 || cfg.RefreshFraction >= 1 {
		cfg.RefreshFraction = 0.2
	}
	if cfg.MinRefreshMargin <= 0 {
		cfg.MinRefreshMargin = 10 * time.Second
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 5 * time.Second
	}
	if cfg.MaxRetryInterval < cfg.RetryInterval {
		cfg.MaxRetryInterval = max(5*time.Minute, cfg.RetryInterval)
	}
	p := &IDP{
		cfg:    cfg,
		client: cfg.HTTPClient,
		log:    cfg.Logger,
		now:    cfg.Now,
		lock:   make(chan struct{}, 1),
		wake:   make(chan struct{}, 1),
		expiryDesc: prometheus.NewDesc("acqueon_exporter_token_expiry_timestamp_seconds",
			"Expiry of the Acqueon IDP access token in use, in seconds since the epoch.", nil, nil),
		refreshesDesc: tokenRefreshesDesc,
		failuresDesc:  tokenFailuresDesc,
	}
	if p.client == nil {
		p.client = &http.Client{Timeout: time.Minute}
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.authorizer = cfg.Authorizer
	if p.authorizer == nil {
		p.authorizer = &FormLogin{
			HTTPClient: p.client,
			Username:   cfg.Username,
			Password:   cfg.Password,
			Logger:     p.log,
		}
	}
	return p
}

func (c IDPConfig) check() error {
	switch c.Grant {
	case GrantForm, GrantPassword, GrantRefreshToken:
	default:
		return fmt.Errorf("idp grant %q: want one of %s", c.Grant, strings.Join(Grants(), ", "))
	}
	if c.ClientID == "" {
		return errors.New("idp: no client ID")
	}
	if c.IssuerURL == "" && c.TokenURL == "" {
		return errors.New("idp: no issuer URL (or token URL)")
	}
	if c.Grant == GrantForm && c.IssuerURL == "" && c.AuthURL == "" {
		return errors.New("idp: grant form needs an issuer URL or an authorization URL")
	}
	if c.Grant == GrantForm && c.RedirectURL == "" {
		return errors.New("idp: grant form needs the client's registered redirect URL")
	}
	if c.Grant == GrantForm || c.Grant == GrantPassword {
		if c.Username == "" {
			return fmt.Errorf("idp: grant %s needs a username", c.Grant)
		}
		if !c.Password.Configured() {
			return fmt.Errorf("idp: grant %s needs a password (give a file, or set %s): %w",
				c.Grant, c.Password.Env, ErrNoSecret)
		}
	}
	if c.Grant == GrantRefreshToken && c.TokenFile == "" {
		return errors.New("idp: grant refresh-token needs the token file that `acqueon_exporter login` wrote")
	}
	return nil
}

// Password returns the access token for the next connect: base64 of it on
// /AEDataTransmitter, the token itself on /AEConsole. It obtains a new one
// when there is none, when the feed rejected the last one, or when the
// current one is due for refresh.
func (p *IDP) Password(ctx context.Context, form protocol.Form) (string, error) {
	token, err := p.token(ctx)
	if err != nil {
		return "", err
	}
	if form == protocol.FormConsole {
		return token.Reveal(), nil
	}
	return base64.StdEncoding.EncodeToString([]byte(token.Reveal())), nil
}

// Rejected marks the token that Password returned last as refused by the
// feed: the next Password obtains a new one (by refresh, or by signing in
// again when the refresh is refused).
func (p *IDP) Rejected() {
	p.mu.Lock()
	p.rejectedGen = p.handedOut
	p.mu.Unlock()
	p.poke()
}

// Expiry returns when the access token that Password returns now expires;
// zero when there is none yet or the IDP did not say.
func (p *IDP) Expiry() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.expiry
}

// Run keeps a fresh token ready until ctx ends: it obtains one at once,
// then refreshes it ahead of expiry (see Password), and retries failures
// with a doubling wait. It returns nil when ctx ends. Running it is
// optional; without it Password renews on demand.
func (p *IDP) Run(ctx context.Context) error {
	retry := p.cfg.RetryInterval
	for {
		wait, err := p.refreshIfDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			p.log.Warn("could not obtain an IDP access token; retrying", "retry_in", retry, "err", err)
			wait = retry
			retry = min(2*retry, p.cfg.MaxRetryInterval)
		} else {
			retry = p.cfg.RetryInterval
		}

		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-p.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// refreshIfDue renews the token if it is due and returns how long to wait
// until the next one is due.
func (p *IDP) refreshIfDue(ctx context.Context) (time.Duration, error) {
	if err := p.acquire(ctx); err != nil {
		return 0, err
	}
	defer p.release()

	if !p.usable() {
		if err := p.renew(ctx); err != nil {
			return 0, err
		}
	}
	due := p.refreshAt()
	if due.IsZero() {
		// No known expiry: nothing to do until the feed rejects the token.
		return 24 * time.Hour, nil
	}
	return max(due.Sub(p.now()), 0), nil
}

// token returns the access token to hand out, renewing it if needed.
func (p *IDP) token(ctx context.Context) (Secret, error) {
	if err := p.acquire(ctx); err != nil {
		return "", err
	}
	defer p.release()

	if !p.usable() {
		err := p.renew(ctx)
		if err != nil && !p.stillValid() {
			return "", err
		}
		if err != nil {
			p.log.Warn("could not renew the IDP access token; using the current one until it expires",
				"expiry", p.Expiry(), "err", err)
		}
	}

	p.mu.Lock()
	p.handedOut = p.gen
	p.mu.Unlock()
	return p.accessToken, nil
}

func (p *IDP) acquire(ctx context.Context) error {
	select {
	case p.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for the IDP token: %w", ctx.Err())
	}
}

func (p *IDP) release() { <-p.lock }

// poke wakes Run so that it looks at the token again.
func (p *IDP) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// usable reports whether the current token may be handed out without
// renewal: it exists, the feed did not refuse it, and it is not due for
// refresh. Called with lock held.
func (p *IDP) usable() bool {
	if p.accessToken == "" {
		return false
	}
	p.mu.Lock()
	rejected := p.rejectedGen == p.gen
	p.mu.Unlock()
	if rejected {
		return false
	}
	due := p.refreshAt()
	return due.IsZero() || p.now().Before(due)
}

// stillValid reports whether the current token, though due for refresh,
// has not expired and was not refused. Called with lock held.
func (p *IDP) stillValid() bool {
	if p.accessToken == "" {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rejectedGen == p.gen {
		return false
	}
	return p.expiry.IsZero() || p.now().Before(p.expiry)
}

// refreshAt returns when the current token is due for refresh: a fraction
// of its lifetime before expiry, at least MinRefreshMargin before it, but
// never before half its lifetime has passed, so that very short-lived
// tokens do not make every call a refresh. Zero when the expiry is
// unknown. Called with lock held.
func (p *IDP) refreshAt() time.Time {
	expiry := p.Expiry()
	if expiry.IsZero() {
		return time.Time{}
	}
	lifetime := expiry.Sub(p.obtainedAt)
	margin := max(time.Duration(float64(lifetime)*p.cfg.RefreshFraction), p.cfg.MinRefreshMargin)
	margin = min(margin, lifetime/2)
	return expiry.Add(-margin)
}

// renew obtains a new access token: by refresh when a refresh token is
// held, else (or when the IDP refuses the refresh) by signing in, unless
// the grant is refresh-token. Called with lock held.
func (p *IDP) renew(ctx context.Context) error {
	oc, err := p.oauthConfig(ctx)
	if err != nil {
		p.failed(ctx)
		return err
	}

	if p.refreshToken == "" && p.cfg.Grant == GrantRefreshToken {
		// An operator may have run the login again since.
		if err := p.loadTokenFile(); err != nil {
			p.failed(ctx)
			return err
		}
	}
	if p.refreshToken != "" {
		start := p.now()
		tok, err := p.refresh(ctx, oc)
		if err == nil {
			p.accept(tok, start, "refresh")
			return nil
		}
		p.failed(ctx)
		if !errors.Is(err, ErrRefreshRefused) {
			return err
		}
		p.refused, p.refreshToken = p.refreshToken, ""
		if p.cfg.Grant == GrantRefreshToken {
			return fmt.Errorf("%w: %w", ErrLoginRequired, err)
		}
		p.log.Warn("the IDP refused the refresh token; signing in again", "err", err)
	}

	start := p.now()
	tok, err := p.login(ctx, oc)
	if err != nil {
		p.failed(ctx)
		return err
	}
	p.accept(tok, start, "login")
	return nil
}

func (p *IDP) refresh(ctx context.Context, oc *oauth2.Config) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, p.client)
	tok, err := oc.TokenSource(ctx, &oauth2.Token{RefreshToken: p.refreshToken.Reveal()}).Token()
	if err != nil {
		err = tokenRequestError("refresh the IDP token", err, p.secrets(oc, p.refreshToken.Reveal())...)
		var idpErr *IDPError
		if errors.As(err, &idpErr) && idpErr.refusal() {
			return nil, fmt.Errorf("%w: %w", ErrRefreshRefused, err)
		}
		return nil, err
	}
	return tok, nil
}

// login signs in with the configured grant. A password that the IDP
// refused is not tried again until it changes: an exporter that reconnects
// for ever must not lock the account. Called with lock held.
func (p *IDP) login(ctx context.Context, oc *oauth2.Config) (*oauth2.Token, error) {
	if p.cfg.Grant == GrantRefreshToken {
		return nil, ErrLoginRequired
	}
	password, err := p.cfg.Password.Read()
	if err != nil {
		return nil, fmt.Errorf("sign in at the IDP: %w", err)
	}
	fingerprint := sha256.Sum256([]byte(password.Reveal()))
	if p.refusedPassword != nil && *p.refusedPassword == fingerprint {
		return nil, fmt.Errorf("%w with this password before; it is not tried again until it changes, "+
			"so that the account is not locked", ErrLoginFailed)
	}

	var tok *oauth2.Token
	if p.cfg.Grant == GrantPassword {
		tok, err = p.passwordGrant(ctx, oc, password)
	} else {
		tok, err = authorizationCodeFlow(ctx, p.client, oc, p.authorizer, p.secrets(oc, password.Reveal())...)
	}
	if errors.Is(err, ErrLoginFailed) {
		p.refusedPassword = &fingerprint
	}
	return tok, err
}

func (p *IDP) passwordGrant(ctx context.Context, oc *oauth2.Config, password Secret) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, p.client)
	tok, err := oc.PasswordCredentialsToken(ctx, p.cfg.Username, password.Reveal())
	if err != nil {
		err = tokenRequestError("password grant", err, p.secrets(oc, password.Reveal())...)
		var idpErr *IDPError
		if errors.As(err, &idpErr) && idpErr.Code == "invalid_grant" {
			return nil, fmt.Errorf("%w: %w", ErrLoginFailed, err)
		}
		return nil, err
	}
	return tok, nil
}

// accept makes tok the current token, stores a new refresh token and
// updates the metrics. start is when the request was sent, the base of
// expires_in. Called with lock held.
func (p *IDP) accept(tok *oauth2.Token, start time.Time, how string) {
	var expiry time.Time
	switch {
	case tok.ExpiresIn > 0:
		expiry = start.Add(time.Duration(tok.ExpiresIn) * time.Second)
	case !tok.Expiry.IsZero():
		expiry = tok.Expiry
	}

	p.accessToken = Secret(tok.AccessToken)
	p.obtainedAt = start
	p.gen++
	p.mu.Lock()
	p.expiry = expiry
	p.refreshes++
	p.mu.Unlock()
	p.poke()

	if expiry.IsZero() {
		p.log.Info("obtained an IDP access token without a stated expiry", "by", how)
	} else {
		p.log.Info("obtained an IDP access token", "by", how, "expiry", expiry, "lifetime", expiry.Sub(start))
	}

	if tok.RefreshToken == "" || Secret(tok.RefreshToken) == p.refreshToken {
		return
	}
	p.refreshToken = Secret(tok.RefreshToken)
	p.storeRefreshToken()
}

// failed counts a failed attempt, unless the caller gave up on it.
func (p *IDP) failed(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	p.mu.Lock()
	p.failures++
	p.mu.Unlock()
}

// secrets lists what must never show in an error of a request made with
// oc, plus extra.
func (p *IDP) secrets(oc *oauth2.Config, extra ...string) []string {
	return append(extra, oc.ClientSecret, p.accessToken.Reveal(), p.refreshToken.Reveal())
}

// Describe sends the descriptors of the token metrics.
func (p *IDP) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.expiryDesc
	ch <- p.refreshesDesc
	ch <- p.failuresDesc
}

// Collect sends the token metrics. The expiry is absent while no token
// with a known expiry is held.
func (p *IDP) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	expiry, refreshes, failures := p.expiry, p.refreshes, p.failures
	p.mu.Unlock()

	if !expiry.IsZero() {
		ch <- prometheus.MustNewConstMetric(p.expiryDesc, prometheus.GaugeValue,
			float64(expiry.UnixNano())/1e9)
	}
	ch <- prometheus.MustNewConstMetric(p.refreshesDesc, prometheus.CounterValue, refreshes)
	ch <- prometheus.MustNewConstMetric(p.failuresDesc, prometheus.CounterValue, failures)
}
