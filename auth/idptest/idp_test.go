package idptest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	user     = "reader"
	password = "reader-password-1"
	verifier = "a-verifier-of-the-required-length-abcdefghijklmnopqrstuvwxyz"
)

// session is a user agent for the provider that does not follow the
// redirect to the client.
type session struct {
	t      *testing.T
	srv    *Server
	client *http.Client
}

func start(t *testing.T, cfg Config) *session {
	t.Helper()
	if cfg.Users == nil {
		cfg.Users = map[string]string{user: password}
	}
	srv := NewServer(cfg)
	transport := &http.Transport{}
	t.Cleanup(func() {
		srv.Close()
		transport.CloseIdleConnections()
	})
	jar, _ := cookiejar.New(nil)
	return &session{t: t, srv: srv, client: &http.Client{
		Jar:       jar,
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

var hiddenField = regexp.MustCompile(`name="(request|csrf_token)" value="([^"]*)"`)

// loginPage opens the login page of an authorization request and returns
// its hidden fields.
func (s *session) loginPage(redirectURI string) url.Values {
	s.t.Helper()
	q := url.Values{
		"client_id":             {"acqueon-exporter"},
		"redirect_uri":          {redirectURI},
		"response_type":         {"code"},
		"scope":                 {"openid offline_access"},
		"state":                 {"st"},
		"code_challenge":        {challengeOf(verifier)},
		"code_challenge_method": {"S256"},
	}
	resp, err := s.client.Get(s.srv.URL + "/authorize?" + q.Encode())
	if err != nil {
		s.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fields := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(string(body), -1) {
		fields.Set(m[1], m[2])
	}
	if len(fields) != 2 {
		s.t.Fatalf("login page (HTTP %d) without its hidden fields:\n%s", resp.StatusCode, body)
	}
	return fields
}

// post submits a form and returns the response, body read.
func (s *session) post(path string, form url.Values) (*http.Response, string) {
	s.t.Helper()
	resp, err := s.client.PostForm(s.srv.URL+path, form)
	if err != nil {
		s.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// code signs in and returns the code from the redirect.
func (s *session) code(redirectURI string) string {
	s.t.Helper()
	form := s.loginPage(redirectURI)
	form.Set("identifier", user)
	form.Set("password", password)
	resp, body := s.post("/login", form)
	loc, err := resp.Location()
	if err != nil {
		s.t.Fatalf("login answered HTTP %d without a redirect:\n%s", resp.StatusCode, body)
	}
	if loc.Query().Get("state") != "st" {
		s.t.Errorf("state in the redirect = %q, want st", loc.Query().Get("state"))
	}
	return loc.Query().Get("code")
}

// tokenRequest posts to the token endpoint and decodes the answer.
func (s *session) tokenRequest(form url.Values) (int, map[string]any) {
	s.t.Helper()
	form.Set("client_id", "acqueon-exporter")
	resp, body := s.post("/token", form)
	var answer map[string]any
	if err := json.Unmarshal([]byte(body), &answer); err != nil {
		s.t.Fatalf("token endpoint: %v in %s", err, body)
	}
	return resp.StatusCode, answer
}

func exchange(code, v string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {DefaultRedirectURL}, "code_verifier": {v}}
}

func TestCodeIsSingleUseAndBoundToTheVerifier(t *testing.T) {
	s := start(t, Config{})

	code := s.code(DefaultRedirectURL)
	if status, answer := s.tokenRequest(exchange(code, verifier+"x")); status != 400 || answer["error"] != "invalid_grant" {
		t.Errorf("wrong verifier: HTTP %d %v, want 400 invalid_grant", status, answer)
	}
	if status, _ := s.tokenRequest(exchange(code, verifier)); status != 400 {
		t.Errorf("second use of a code: HTTP %d, want 400", status)
	}

	code = s.code(DefaultRedirectURL)
	status, answer := s.tokenRequest(exchange(code, verifier))
	access, _ := answer["access_token"].(string)
	if status != 200 || !s.srv.Valid(access) {
		t.Fatalf("exchange: HTTP %d %v, want a valid access token", status, answer)
	}
	if c := s.srv.Counts(); c.CodeExchanges != 1 || c.TokenFailures != 2 || c.Logins != 2 {
		t.Errorf("counts = %+v", c)
	}
}

func TestRefreshTokensRotateAndCanBeRefused(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := start(t, Config{AccessTokenLifetime: 3 * time.Second, Now: func() time.Time { return now }})
	_, answer := s.tokenRequest(exchange(s.code(DefaultRedirectURL), verifier))
	if answer["expires_in"] != float64(3) {
		t.Errorf("expires_in = %v, want 3", answer["expires_in"])
	}
	old := answer["refresh_token"].(string)

	_, answer = s.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {old}})
	fresh, _ := answer["refresh_token"].(string)
	if fresh == "" || fresh == old || !s.srv.ValidRefreshToken(fresh) || s.srv.ValidRefreshToken(old) {
		t.Fatalf("refresh answer %v: want a new refresh token replacing the old one", answer)
	}
	access, _ := answer["access_token"].(string)
	if !s.srv.Valid(access) {
		t.Fatal("the refreshed access token is not valid")
	}

	s.srv.RefuseRefreshes(true)
	if status, answer := s.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh}}); status != 400 || answer["error"] != "invalid_grant" {
		t.Errorf("refused refresh: HTTP %d %v, want 400 invalid_grant", status, answer)
	}
	now = now.Add(3 * time.Second)
	if s.srv.Valid(access) {
		t.Error("an access token is valid past its lifetime")
	}
}

func TestLoginFormWantsItsAntiForgeryFieldAndCookie(t *testing.T) {
	s := start(t, Config{})
	form := s.loginPage(DefaultRedirectURL)
	form.Set("identifier", user)
	form.Set("password", password)

	forged := url.Values{"request": form["request"], "csrf_token": {"guess"},
		"identifier": {user}, "password": {password}}
	if resp, _ := s.post("/login", forged); resp.StatusCode != 400 {
		t.Errorf("wrong anti-forgery field: HTTP %d, want 400", resp.StatusCode)
	}
	s.client.Jar, _ = cookiejar.New(nil)
	if resp, _ := s.post("/login", form); resp.StatusCode != 400 {
		t.Errorf("post without the session cookie: HTTP %d, want 400", resp.StatusCode)
	}
}

func TestWrongPasswordShowsTheFormAgain(t *testing.T) {
	s := start(t, Config{})
	form := s.loginPage(DefaultRedirectURL)
	form.Set("identifier", user)
	form.Set("password", "wrong")
	resp, body := s.post("/login", form)
	if resp.StatusCode != 200 || !strings.Contains(body, `role="alert"`) || !strings.Contains(body, `type="password"`) {
		t.Errorf("HTTP %d, want the login form with an error message:\n%s", resp.StatusCode, body)
	}
	if c := s.srv.Counts(); c.FailedLogins != 1 || c.Logins != 0 {
		t.Errorf("counts = %+v", c)
	}
}

func TestRedirectURIMustBeRegistered(t *testing.T) {
	s := start(t, Config{RedirectURLs: []string{"https://exporter.example.com/cb", DefaultRedirectURL}})
	for uri, want := range map[string]int{
		"https://exporter.example.com/cb":       200,
		"https://exporter.example.com/cb/other": 400,
		"http://127.0.0.1:43123/callback":       200, // loopback, any port
		"http://127.0.0.1:43123/other":          400,
		"http://evil.example.com/callback":      400,
	} {
		q := url.Values{"client_id": {"acqueon-exporter"}, "redirect_uri": {uri}, "response_type": {"code"},
			"code_challenge": {challengeOf(verifier)}, "code_challenge_method": {"S256"}}
		resp, err := s.client.Get(s.srv.URL + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("redirect_uri %s: HTTP %d, want %d", uri, resp.StatusCode, want)
		}
	}
}

func TestAuthorizationWithoutPKCEGoesBackWithAnError(t *testing.T) {
	s := start(t, Config{})
	q := url.Values{"client_id": {"acqueon-exporter"}, "redirect_uri": {DefaultRedirectURL},
		"response_type": {"code"}, "state": {"st"}, "code_challenge": {"plain"}, "code_challenge_method": {"plain"}}
	resp, err := s.client.Get(s.srv.URL + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("state") != "st" {
		t.Errorf("redirect %v (%v), want invalid_request with the state", loc, err)
	}
}

func TestPasswordGrantOnlyWhenEnabled(t *testing.T) {
	form := url.Values{"grant_type": {"password"}, "username": {user}, "password": {password}}
	off := start(t, Config{})
	if status, answer := off.tokenRequest(form); status != 400 || answer["error"] != "unauthorized_client" {
		t.Errorf("disabled: HTTP %d %v", status, answer)
	}
	on := start(t, Config{PasswordGrant: true})
	status, answer := on.tokenRequest(form)
	if access, _ := answer["access_token"].(string); status != 200 || !on.srv.Valid(access) {
		t.Errorf("enabled: HTTP %d %v", status, answer)
	}
}

func TestIntrospectionTellsActiveTokens(t *testing.T) {
	s := start(t, Config{PasswordGrant: true})
	_, answer := s.tokenRequest(url.Values{"grant_type": {"password"}, "username": {user}, "password": {password}})
	for tok, want := range map[string]bool{answer["access_token"].(string): true, "made-up": false} {
		_, body := s.post("/introspect", url.Values{"client_id": {"acqueon-exporter"}, "token": {tok}})
		var got struct{ Active bool }
		if err := json.Unmarshal([]byte(body), &got); err != nil || got.Active != want {
			t.Errorf("introspection = %s (%v), want active %v", body, err, want)
		}
	}
}

func TestFeedPasswordCarriesTheTokenPerURLForm(t *testing.T) {
	s := start(t, Config{PasswordGrant: true})
	_, answer := s.tokenRequest(url.Values{"grant_type": {"password"}, "username": {user}, "password": {password}})
	access := answer["access_token"].(string)
	encoded := base64.StdEncoding.EncodeToString([]byte(access))
	for _, c := range []struct {
		password string
		form     protocol.Form
		want     bool
	}{
		{encoded, protocol.FormDataTransmitter, true},
		{access, protocol.FormConsole, true},
		{access, protocol.FormDataTransmitter, false},
		{encoded, protocol.FormConsole, false},
	} {
		if got := s.srv.ValidFeedPassword(c.password, c.form); got != c.want {
			t.Errorf("ValidFeedPassword(%s form, encoded %v) = %v, want %v",
				c.form, c.password == encoded, got, c.want)
		}
	}
}

func TestTokenExpiryOutlivesValidity(t *testing.T) {
	now := time.Date(2025, 6, 3, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	s := start(t, Config{PasswordGrant: true, AccessTokenLifetime: 90 * time.Second, Now: clock})
	_, answer := s.tokenRequest(url.Values{"grant_type": {"password"}, "username": {user}, "password": {password}})
	access := answer["access_token"].(string)
	encoded := base64.StdEncoding.EncodeToString([]byte(access))
	want := now.Add(90 * time.Second)

	if got, ok := s.srv.TokenExpiry(access); !ok || !got.Equal(want) {
		t.Errorf("TokenExpiry = %v, %v; want %v, true", got, ok, want)
	}
	if got, ok := s.srv.FeedTokenExpiry(protocol.FormDataTransmitter, encoded); !ok || !got.Equal(want) {
		t.Errorf("FeedTokenExpiry(base64 on %s) = %v, %v; want %v, true", protocol.FormDataTransmitter, got, ok, want)
	}
	if got, ok := s.srv.FeedTokenExpiry(protocol.FormConsole, access); !ok || !got.Equal(want) {
		t.Errorf("FeedTokenExpiry(raw on %s) = %v, %v; want %v, true", protocol.FormConsole, got, ok, want)
	}
	if _, ok := s.srv.FeedTokenExpiry(protocol.FormDataTransmitter, access); ok {
		t.Error("FeedTokenExpiry knows a raw token on the base64 form")
	}
	if _, ok := s.srv.TokenExpiry("never-issued"); ok {
		t.Error("TokenExpiry knows a token that was never issued")
	}

	mu.Lock()
	now = now.Add(91 * time.Second)
	mu.Unlock()
	if s.srv.Valid(access) {
		t.Error("expired token is still valid")
	}
	if got, ok := s.srv.TokenExpiry(access); !ok || !got.Equal(want) {
		t.Errorf("TokenExpiry of the expired token = %v, %v; want %v, true", got, ok, want)
	}
}
