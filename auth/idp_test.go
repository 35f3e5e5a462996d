package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"

	"github.com/acqueon-exporter/acqueon_exporter/auth/idptest"
	"github.com/acqueon-exporter/acqueon_exporter/internal/testkit"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testUser     = "perf.reader@example.com"
	testPassword = "pw-Ju7#tq!x0-correct"
	testClientID = "acqueon-exporter"
)

type syncBuffer = testkit.LogBuffer

type fakeClock = testkit.Clock

// fixture is a test IDP and what a source needs to use it. At cleanup it
// checks that no secret reached a log line, a recorded error, the output of
// an interactive login or the metrics of a source.
type fixture struct {
	t         *testing.T
	idp       *idptest.Server
	clock     *fakeClock // nil with the real clock
	logs      *syncBuffer
	transport *http.Transport
	dir       string

	mu      sync.Mutex
	texts   []string // errors and outputs to check
	sources []*IDP   // whose metrics to check
	secrets []string // besides the IDP's
}

func newFixture(t *testing.T, cfg idptest.Config, realClock bool) *fixture {
	t.Helper()
	f := &fixture{
		t:         t,
		logs:      &syncBuffer{},
		transport: &http.Transport{},
		dir:       t.TempDir(),
		secrets:   []string{testPassword},
	}
	if !realClock {
		f.clock = testkit.NewClock(time.Date(2025, 6, 3, 14, 59, 20, 0, time.UTC))
		cfg.Now = f.clock.Now
	}
	if cfg.Users == nil {
		cfg.Users = map[string]string{testUser: testPassword}
	}
	if cfg.AccessTokenLifetime == 0 {
		cfg.AccessTokenLifetime = 100 * time.Second
	}
	f.idp = idptest.NewServer(cfg)
	if cfg.ClientSecret != "" {
		f.secrets = append(f.secrets, cfg.ClientSecret)
	}

	t.Cleanup(func() {
		f.checkNoSecrets()
		f.idp.Close()
		f.transport.CloseIdleConnections()
	})
	return f
}

// config returns a source configuration for the fixture's IDP.
func (f *fixture) config(grant Grant) IDPConfig {
	cfg := IDPConfig{
		IssuerURL:   f.idp.URL,
		ClientID:    testClientID,
		RedirectURL: idptest.DefaultRedirectURL,
		Username:    testUser,
		Password:    SecretRef{Name: "IDP password", File: f.writeFile("password", testPassword), Env: "UNSET_IN_TESTS"},
		TokenFile:   filepath.Join(f.dir, "token.json"),
		Grant:       grant,
		HTTPClient:  &http.Client{Transport: f.transport, Timeout: 10 * time.Second},
		Logger:      slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if f.clock != nil {
		cfg.Now = f.clock.Now
	}
	return cfg
}

// source builds a source and keeps it for the metrics check.
func (f *fixture) source(cfg IDPConfig) *IDP {
	f.t.Helper()
	p, err := NewIDP(cfg)
	if err != nil {
		f.t.Fatalf("NewIDP: %v", err)
	}
	f.mu.Lock()
	f.sources = append(f.sources, p)
	f.mu.Unlock()
	return p
}

func (f *fixture) writeFile(name, content string) string {
	path := filepath.Join(f.dir, name)
	if err := os.WriteFile(path, []byte(content+"\n"), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return path
}

// record keeps err (or any text) for the secrets check and returns it.
func (f *fixture) record(err error) error {
	if err != nil {
		f.mu.Lock()
		f.texts = append(f.texts, err.Error())
		f.mu.Unlock()
	}
	return err
}

func (f *fixture) addSecret(s string) {
	f.mu.Lock()
	f.secrets = append(f.secrets, s)
	f.mu.Unlock()
}

// token returns the raw access token the source hands out now.
func (f *fixture) token(p *IDP) string {
	f.t.Helper()
	pw, err := p.Password(context.Background(), protocol.FormDataTransmitter)
	if f.record(err) != nil {
		f.t.Fatalf("Password: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(pw)
	if err != nil {
		f.t.Fatalf("password is not base64: %v", err)
	}
	return string(raw)
}

// storedRefreshToken reads the token file and checks its mode.
func (f *fixture) storedRefreshToken(path string) string {
	f.t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		f.t.Fatalf("token file: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		f.t.Errorf("token file mode = %v, want 0600", mode)
	}
	tf, err := readTokenFile(path, slog.New(slog.DiscardHandler))
	if err != nil {
		f.t.Fatal(err)
	}
	return tf.RefreshToken
}

func (f *fixture) checkNoSecrets() {
	f.t.Helper()
	f.mu.Lock()
	texts := append([]string{f.logs.String()}, f.texts...)
	secrets := append(f.idp.Secrets(), f.secrets...)
	sources := f.sources
	f.mu.Unlock()
	for _, p := range sources {
		text, err := testutil.CollectAndFormat(p, expfmt.TypeTextPlain)
		if err != nil {
			f.t.Errorf("collect: %v", err)
		}
		texts = append(texts, string(text))
	}

	for _, secret := range secrets {
		for _, text := range texts {
			if secret != "" && strings.Contains(text, secret) {
				f.t.Errorf("a secret (%d characters) appears in:\n%s", len(secret), text)
			}
		}
	}
}

func TestFormLoginSignsInAndEncodesTheTokenPerURLForm(t *testing.T) {
	f := newFixture(t, idptest.Config{}, false)
	cfg := f.config(GrantForm)
	p := f.source(cfg)

	pw, err := p.Password(context.Background(), protocol.FormDataTransmitter)
	if f.record(err) != nil {
		t.Fatalf("Password: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(pw)
	if err != nil {
		t.Fatalf("password on %s is not base64: %v", protocol.PathDataTransmitter, err)
	}
	if !f.idp.Valid(string(raw)) {
		t.Fatal("the IDP does not accept the token")
	}
	console, err := p.Password(context.Background(), protocol.FormConsole)
	if f.record(err) != nil || console != string(raw) {
		t.Errorf("password on %s = %d characters, %v; want the raw token", protocol.PathConsole, len(console), err)
	}

	got := f.idp.Counts()
	want := idptest.Counts{AuthorizationRequests: 1, Logins: 1, CodeExchanges: 1}
	if got != want {
		t.Errorf("IDP counts = %+v, want %+v", got, want)
	}
	if rt := f.storedRefreshToken(cfg.TokenFile); !f.idp.ValidRefreshToken(rt) {
		t.Error("the token file does not hold a refresh token the IDP accepts")
	}
}

func TestFormLoginPassesAConsentPageWithAConfidentialClient(t *testing.T) {
	const secret = "client-secret-Zq9vW"
	f := newFixture(t, idptest.Config{Consent: true, ClientSecret: secret}, false)
	cfg := f.config(GrantForm)
	cfg.ClientSecret = SecretRef{Name: "IDP client secret", File: f.writeFile("client-secret", secret)}
	p := f.source(cfg)

	if tok := f.token(p); !f.idp.Valid(tok) {
		t.Fatal("the IDP does not accept the token")
	}
	if c := f.idp.Counts(); c.Logins != 1 || c.CodeExchanges != 1 {
		t.Errorf("IDP counts = %+v, want one login and one code exchange", c)
	}
}

func TestWrongPasswordIsReportedAsALoginFailure(t *testing.T) {
	const wrong = "not-the-password-4711"
	f := newFixture(t, idptest.Config{}, false)
	f.addSecret(wrong)
	cfg := f.config(GrantForm)
	cfg.Password.File = f.writeFile("wrong-password", wrong)
	p := f.source(cfg)

	_, err := p.Password(context.Background(), protocol.FormDataTransmitter)
	f.record(err)
	if !errors.Is(err, ErrLoginFailed) {
		t.Fatalf("Password error = %v, want ErrLoginFailed", err)
	}
	for _, want := range []string{"login page", "Invalid username or password"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if c := f.idp.Counts(); c.FailedLogins != 1 || c.Logins != 0 {
		t.Errorf("IDP counts = %+v, want exactly one failed login", c)
	}

	// The refused password is not tried again, so the account is not
	// locked by an exporter that keeps reconnecting.
	_, err = p.Password(context.Background(), protocol.FormDataTransmitter)
	if !errors.Is(f.record(err), ErrLoginFailed) || f.idp.Counts().AuthorizationRequests != 1 {
		t.Errorf("second attempt: error %v, IDP counts %+v; want ErrLoginFailed without asking the IDP",
			err, f.idp.Counts())
	}

	want := `
# HELP acqueon_exporter_token_refresh_failures_total Failed attempts to obtain an access token from the Acqueon IDP.
# TYPE acqueon_exporter_token_refresh_failures_total counter
acqueon_exporter_token_refresh_failures_total 2
`
	if err := testutil.CollectAndCompare(p, strings.NewReader(want),
		"acqueon_exporter_token_refresh_failures_total"); err != nil {
		t.Error(err)
	}

	// A corrected password file is used at the next attempt.
	f.writeFile("wrong-password", testPassword)
	if tok := f.token(p); !f.idp.Valid(tok) {
		t.Error("no valid token after the password was corrected")
	}
}

func TestCodeExchangeWithAWrongVerifierIsRejected(t *testing.T) {
	f := newFixture(t, idptest.Config{LeakyErrors: true}, false)
	p := f.source(f.config(GrantForm))
	ctx := context.Background()
	oc, err := p.oauthConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}

	verifier, wrongVerifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	f.addSecret(wrongVerifier)
	authURL := oc.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier))
	callback, err := p.authorizer.Authorize(ctx, authURL, oc.RedirectURL)
	if f.record(err) != nil {
		t.Fatalf("Authorize: %v", err)
	}
	code, err := codeFromCallback(callback, "state-1")
	if err != nil {
		t.Fatal(err)
	}

	_, err = exchangeCode(ctx, p.client, oc, code, wrongVerifier)
	f.record(err)
	var idpErr *IDPError
	if !errors.As(err, &idpErr) || idpErr.Code != "invalid_grant" {
		t.Fatalf("exchange with a wrong verifier: error %v, want invalid_grant from the IDP", err)
	}
	// The IDP spends a code at the first attempt: the right verifier is
	// too late now.
	_, err = exchangeCode(ctx, p.client, oc, code, verifier)
	if f.record(err) == nil {
		t.Fatal("a spent code was exchanged again")
	}
	if c := f.idp.Counts(); c.CodeExchanges != 0 || c.TokenFailures != 2 {
		t.Errorf("IDP counts = %+v, want no exchange and two failures", c)
	}
}

func TestAuthorizationResponseWithAnotherStateIsRejected(t *testing.T) {
	cb, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/callback?code=abc&state=other", nil)
	if _, err := codeFromCallback(cb.URL, "mine"); !errors.Is(err, errStateMismatch) {
		t.Errorf("error = %v, want a state mismatch", err)
	}
	denied, _ := http.NewRequest(http.MethodGet,
		"http://127.0.0.1/callback?error=access_denied&error_description=no+way&state=mine", nil)
	_, err := codeFromCallback(denied.URL, "mine")
	var idpErr *IDPError
	if !errors.As(err, &idpErr) || idpErr.Code != "access_denied" || !strings.Contains(err.Error(), "no way") {
		t.Errorf("error = %v, want access_denied with its description", err)
	}
}

func TestTokenIsRefreshedAheadOfExpiryAndTheRotatedTokenStored(t *testing.T) {
	f := newFixture(t, idptest.Config{AccessTokenLifetime: 100 * time.Second}, false)
	cfg := f.config(GrantForm)
	p := f.source(cfg)

	first := f.token(p)
	firstRefresh := f.storedRefreshToken(cfg.TokenFile)

	f.clock.Advance(79 * time.Second) // before 80% of the lifetime
	if f.token(p) != first {
		t.Fatal("the token was renewed long before it was due")
	}
	f.clock.Advance(2 * time.Second)
	second := f.token(p)
	if second == first || !f.idp.Valid(second) {
		t.Fatal("the token was not renewed at 80% of its lifetime")
	}
	if !f.idp.Valid(first) {
		t.Error("the old token had expired before the refresh")
	}
	if c := f.idp.Counts(); c.Refreshes != 1 || c.Logins != 1 {
		t.Errorf("IDP counts = %+v, want one login and one refresh", c)
	}

	stored := f.storedRefreshToken(cfg.TokenFile)
	if stored == firstRefresh || !f.idp.ValidRefreshToken(stored) {
		t.Error("the token file does not hold the rotated refresh token")
	}
	if f.idp.ValidRefreshToken(firstRefresh) {
		t.Error("the IDP still accepts the spent refresh token")
	}
}

func TestRefusedRefreshLeadsToAFreshLogin(t *testing.T) {
	f := newFixture(t, idptest.Config{}, false)
	p := f.source(f.config(GrantForm))
	first := f.token(p)

	f.idp.RefuseRefreshes(true)
	f.clock.Advance(90 * time.Second)
	second := f.token(p)
	if second == first || !f.idp.Valid(second) {
		t.Fatal("no new token after the refresh was refused")
	}
	if c := f.idp.Counts(); c.Logins != 2 || c.Refreshes != 0 || c.TokenFailures != 1 {
		t.Errorf("IDP counts = %+v, want a refused refresh and a second login", c)
	}
	want := `
# HELP acqueon_exporter_token_refresh_failures_total Failed attempts to obtain an access token from the Acqueon IDP.
# TYPE acqueon_exporter_token_refresh_failures_total counter
acqueon_exporter_token_refresh_failures_total 1
# HELP acqueon_exporter_token_refreshes_total Access tokens obtained from the Acqueon IDP, by refresh or by signing in.
# TYPE acqueon_exporter_token_refreshes_total counter
acqueon_exporter_token_refreshes_total 2
`
	if err := testutil.CollectAndCompare(p, strings.NewReader(want),
		"acqueon_exporter_token_refresh_failures_total", "acqueon_exporter_token_refreshes_total"); err != nil {
		t.Error(err)
	}
	if !strings.Contains(f.logs.String(), "refused the refresh token; signing in again") {
		t.Errorf("the log does not tell of the fresh login:\n%s", f.logs)
	}
}

func TestRejectedTokenIsReplacedAtTheNextConnect(t *testing.T) {
	f := newFixture(t, idptest.Config{}, false)
	p := f.source(f.config(GrantForm))

	first := f.token(p)
	if f.token(p) != first {
		t.Fatal("a fresh token was not reused")
	}
	p.Rejected()
	second := f.token(p)
	if second == first {
		t.Fatal("the rejected token was handed out again")
	}
	if f.token(p) != second {
		t.Error("the new token was not reused")
	}
	if c := f.idp.Counts(); c.Refreshes != 1 || c.Logins != 1 {
		t.Errorf("IDP counts = %+v, want one login and one refresh", c)
	}
}

func TestExpiryGaugeFollowsTheToken(t *testing.T) {
	f := newFixture(t, idptest.Config{AccessTokenLifetime: 100 * time.Second}, false)
	p := f.source(f.config(GrantForm))
	start := f.clock.Now()

	const counters = `
# HELP acqueon_exporter_token_refresh_failures_total Failed attempts to obtain an access token from the Acqueon IDP.
# TYPE acqueon_exporter_token_refresh_failures_total counter
acqueon_exporter_token_refresh_failures_total 0
# HELP acqueon_exporter_token_refreshes_total Access tokens obtained from the Acqueon IDP, by refresh or by signing in.
# TYPE acqueon_exporter_token_refreshes_total counter
acqueon_exporter_token_refreshes_total %d
`
	const gauge = `
# HELP acqueon_exporter_token_expiry_timestamp_seconds Expiry of the Acqueon IDP access token in use, in seconds since the epoch.
# TYPE acqueon_exporter_token_expiry_timestamp_seconds gauge
acqueon_exporter_token_expiry_timestamp_seconds %d
`
	compare := func(want string) {
		t.Helper()
		if err := testutil.CollectAndCompare(p, strings.NewReader(want)); err != nil {
			t.Error(err)
		}
	}

	compare(sprintf(counters, 0)) // no token, no expiry
	f.token(p)
	compare(sprintf(gauge, start.Unix()+100) + sprintf(counters, 1))
	if !p.Expiry().Equal(start.Add(100 * time.Second)) {
		t.Errorf("Expiry() = %v, want %v", p.Expiry(), start.Add(100*time.Second))
	}
	f.clock.Advance(85 * time.Second)
	f.token(p)
	compare(sprintf(gauge, start.Unix()+185) + sprintf(counters, 2))
}

func TestPasswordGrant(t *testing.T) {
	f := newFixture(t, idptest.Config{PasswordGrant: true}, false)
	cfg := f.config(GrantPassword)
	cfg.RedirectURL = ""
	p := f.source(cfg)

	if tok := f.token(p); !f.idp.Valid(tok) {
		t.Fatal("the IDP does not accept the token")
	}
	if c := f.idp.Counts(); c.PasswordGrants != 1 || c.AuthorizationRequests != 0 {
		t.Errorf("IDP counts = %+v, want one password grant and no login page", c)
	}

	const wrong = "wrong-password-0815"
	f.addSecret(wrong)
	cfg.Password.File = f.writeFile("wrong", wrong)
	cfg.TokenFile = ""
	_, err := f.source(cfg).Password(context.Background(), protocol.FormConsole)
	if !errors.Is(f.record(err), ErrLoginFailed) {
		t.Errorf("error with a wrong password = %v, want ErrLoginFailed", err)
	}
}

func TestPasswordGrantTheIDPDoesNotAllowIsAnError(t *testing.T) {
	f := newFixture(t, idptest.Config{}, false)
	p := f.source(f.config(GrantPassword))
	_, err := p.Password(context.Background(), protocol.FormConsole)
	var idpErr *IDPError
	if !errors.As(f.record(err), &idpErr) || idpErr.Code != "unauthorized_client" {
		t.Errorf("error = %v, want unauthorized_client from the IDP", err)
	}
}

func TestRefreshTokenGrantRunsOnTheTokenFileAlone(t *testing.T) {
	f := newFixture(t, idptest.Config{}, false)
	cfg := f.config(GrantRefreshToken)
	cfg.Username, cfg.Password, cfg.RedirectURL = "", SecretRef{}, ""

	_, err := NewIDP(cfg)
	if !errors.Is(f.record(err), ErrLoginRequired) || !strings.Contains(err.Error(), "acqueon_exporter login") {
		t.Fatalf("NewIDP without a token file: error %v, want one that asks for a login", err)
	}

	f.interactiveLogin(cfg)
	p := f.source(cfg)
	if tok := f.token(p); !f.idp.Valid(tok) {
		t.Fatal("the IDP does not accept the token")
	}
	if c := f.idp.Counts(); c.Refreshes != 1 || c.Logins != 1 {
		t.Errorf("IDP counts = %+v, want the interactive login and one refresh", c)
	}
	if !f.idp.ValidRefreshToken(f.storedRefreshToken(cfg.TokenFile)) {
		t.Error("the rotated refresh token was not stored")
	}

	// A refused refresh cannot be mended without a person.
	f.idp.RefuseRefreshes(true)
	p.Rejected()
	_, err = p.Password(context.Background(), protocol.FormDataTransmitter)
	if !errors.Is(f.record(err), ErrLoginRequired) {
		t.Fatalf("error after a refused refresh = %v, want ErrLoginRequired", err)
	}
	if c := f.idp.Counts(); c.Logins != 1 {
		t.Errorf("IDP counts = %+v: the source signed in by itself", c)
	}

	// Once the operator signed in again, the running source picks it up.
	f.idp.RefuseRefreshes(false)
	f.interactiveLogin(cfg)
	if tok := f.token(p); !f.idp.Valid(tok) {
		t.Fatal("no token after the new login")
	}
}

func TestTokenFileReadableByOthersIsWarnedAbout(t *testing.T) {
	f := newFixture(t, idptest.Config{}, false)
	cfg := f.config(GrantForm)
	f.source(cfg)
	f.token(f.sources[0])
	if err := os.Chmod(cfg.TokenFile, 0o644); err != nil {
		t.Fatal(err)
	}
	p := f.source(cfg)
	if !strings.Contains(f.logs.String(), "readable by group or others") {
		t.Errorf("no warning about the token file's mode:\n%s", f.logs)
	}
	// The file is used, and rewritten with mode 0600 at the next rotation.
	p.Rejected()
	f.token(p)
	f.storedRefreshToken(cfg.TokenFile)
}

func TestTokenFileOfAnotherClientIsNotUsed(t *testing.T) {
	f := newFixture(t, idptest.Config{}, false)
	cfg := f.config(GrantRefreshToken)
	cfg.Username, cfg.Password = "", SecretRef{}
	f.interactiveLogin(cfg)

	cfg.ClientID = "another-client"
	_, err := NewIDP(cfg)
	if f.record(err) == nil || !strings.Contains(err.Error(), "belongs to client") {
		t.Errorf("error = %v, want one about the file's client", err)
	}
}

func TestRunRefreshesTheTokenAheadOfExpiry(t *testing.T) {
	f := newFixture(t, idptest.Config{AccessTokenLifetime: time.Second}, true)
	cfg := f.config(GrantForm)
	cfg.MinRefreshMargin = time.Millisecond
	p := f.source(cfg)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()

	deadline := time.Now().Add(10 * time.Second)
	for f.idp.Counts().Refreshes < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no two refreshes within 10s; IDP counts %+v", f.idp.Counts())
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not waiting for it to happen
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
	if c := f.idp.Counts(); c.Logins != 1 {
		t.Errorf("IDP counts = %+v, want a single login", c)
	}
	if time.Until(p.Expiry()) <= 0 {
		t.Errorf("the token in hand expired at %v", p.Expiry())
	}
}

func TestMissingTokenFileIsNoErrorForGrantForm(t *testing.T) {
	f := newFixture(t, idptest.Config{}, false)
	cfg := f.config(GrantForm)
	if _, err := os.Stat(cfg.TokenFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("token file exists before the test")
	}
	f.source(cfg)
	if strings.Contains(f.logs.String(), "ignoring") {
		t.Errorf("a missing token file was warned about:\n%s", f.logs)
	}
}

// sprintf formats an expected metrics text.
func sprintf(format string, args ...any) string {
	return strings.TrimPrefix(fmt.Sprintf(format, args...), "\n")
}

// The IDP of this test repeats requests, codes and tokens in its error
// answers; the fixture's cleanup then looks for every secret in the debug
// log, in every error and in the metrics.
func TestNoSecretReachesLogsErrorsOrMetrics(t *testing.T) {
	f := newFixture(t, idptest.Config{LeakyErrors: true, PasswordGrant: true}, false)
	cfg := f.config(GrantForm)
	p := f.source(cfg)
	f.token(p)

	f.idp.RefuseRefreshes(true)
	p.Rejected()
	f.token(p) // refused refresh, fresh login
	if !strings.Contains(f.logs.String(), "invalid_grant") {
		t.Fatalf("the refused refresh was not logged:\n%s", f.logs)
	}

	rt := cfg
	rt.Grant, rt.Username, rt.Password = GrantRefreshToken, "", SecretRef{}
	_, err := f.source(rt).Password(context.Background(), protocol.FormConsole)
	if !errors.Is(f.record(err), ErrLoginRequired) {
		t.Errorf("error = %v, want ErrLoginRequired", err)
	}

	const wrong = "wrong-password-leaky-1"
	f.addSecret(wrong)
	pg := cfg
	pg.Grant, pg.TokenFile = GrantPassword, ""
	pg.Password.File = f.writeFile("wrong", wrong)
	_, err = f.source(pg).Password(context.Background(), protocol.FormConsole)
	if !errors.Is(f.record(err), ErrLoginFailed) {
		t.Errorf("error = %v, want ErrLoginFailed", err)
	}
	_, err = f.source(func() IDPConfig { c := pg; c.Grant = GrantForm; return c }()).
		Password(context.Background(), protocol.FormConsole)
	if !errors.Is(f.record(err), ErrLoginFailed) {
		t.Errorf("error = %v, want ErrLoginFailed", err)
	}
}

func TestParseScopes(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "[]",
		"openid offline_access":           "[openid offline_access]",
		"openid,offline_access, metrics ": "[openid offline_access metrics]",
	} {
		if got := fmt.Sprint(ParseScopes(in)); got != want {
			t.Errorf("ParseScopes(%q) = %s, want %s", in, got, want)
		}
	}
	if ParseScopes(" ") != nil {
		t.Error("an empty list does not mean the default")
	}
}
