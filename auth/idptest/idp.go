// Package idptest is an OpenID provider for tests and demonstrations: it
// serves discovery, a login page with an anti-forgery field bound to a
// cookie, the authorization code flow with S256 PKCE, rotating refresh
// tokens, the password grant when enabled, and an introspection endpoint.
// Tokens live in memory and are short-lived by choice. It counts what it
// was asked, and can be told to refuse refreshes.
package idptest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

// Config describes the provider.
type Config struct {
	// Issuer is the provider's URL; empty means the scheme and host of each
	// request. NewServer sets it to the server's URL.
	Issuer string
	// ClientID is the one client; default "acqueon-exporter".
	ClientID string
	// ClientSecret, when set, makes the client confidential: the token
	// endpoint wants it by Basic authorization or in the form.
	ClientSecret string
	// RedirectURLs are the client's registered redirect URIs, matched
	// exactly, except that a loopback http URL without a port matches any
	// port (RFC 8252, section 7.3). Default DefaultRedirectURL.
	RedirectURLs []string
	// Users maps usernames to passwords.
	Users map[string]string
	// AccessTokenLifetime is rounded down to whole seconds, at least one;
	// default one minute.
	AccessTokenLifetime time.Duration
	// PasswordGrant enables the resource owner password credentials grant.
	PasswordGrant bool
	// Consent adds a page after the login form on which the user allows
	// (or denies) the client.
	Consent bool
	// LeakyErrors makes error answers of the token endpoint repeat the
	// request, secrets included, as careless providers do; clients must
	// not pass such text on.
	LeakyErrors bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultRedirectURL is the redirect URI registered when none is given.
const DefaultRedirectURL = "http://127.0.0.1/callback"

// Counts says what the provider was asked.
type Counts struct {
	// AuthorizationRequests counts valid authorization requests.
	AuthorizationRequests int
	// Logins and FailedLogins count login form submissions.
	Logins, FailedLogins int
	// CodeExchanges, Refreshes and PasswordGrants count tokens issued by
	// each grant.
	CodeExchanges, Refreshes, PasswordGrants int
	// TokenFailures counts refused token requests.
	TokenFailures int
}

// IDP is the provider, an http.Handler.
type IDP struct {
	cfg  Config
	mux  *http.ServeMux
	page *template.Template

	mu            sync.Mutex
	issuer        string
	refuseRefresh bool
	pending       map[string]*authRequest // by request id
	codes         map[string]*grant
	accessTokens  map[string]time.Time // expiry
	refreshTokens map[string]*grant
	secrets       []string
	counts        Counts
}

// authRequest is an authorization request waiting for the user.
type authRequest struct {
	id            string
	session, csrf string // cookie value and form field bound to it
	redirectURI   string
	state         string
	challenge     string
	scope         string
	user          string // set once the login succeeded
	issuedAt      time.Time
}

// grant is what a code or refresh token stands for.
type grant struct {
	user, scope string
	redirectURI string // codes only
	challenge   string // codes only
	issuedAt    time.Time
}

const (
	sessionCookie = "idp_session"
	codeLifetime  = time.Minute
	loginLifetime = 10 * time.Minute
)

// New returns the provider for cfg.
func New(cfg Config) *IDP {
	if cfg.ClientID == "" {
		cfg.ClientID = "acqueon-exporter"
	}
	if len(cfg.RedirectURLs) == 0 {
		cfg.RedirectURLs = []string{DefaultRedirectURL}
	}
	if cfg.AccessTokenLifetime <= 0 {
		cfg.AccessTokenLifetime = time.Minute
	}
	cfg.AccessTokenLifetime = max(cfg.AccessTokenLifetime.Truncate(time.Second), time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	i := &IDP{
		cfg:           cfg,
		mux:           http.NewServeMux(),
		page:          template.Must(template.New("page").Parse(pageTemplate)),
		issuer:        strings.TrimSuffix(cfg.Issuer, "/"),
		pending:       map[string]*authRequest{},
		codes:         map[string]*grant{},
		accessTokens:  map[string]time.Time{},
		refreshTokens: map[string]*grant{},
	}
	i.mux.HandleFunc("GET /.well-known/openid-configuration", i.discovery)
	i.mux.HandleFunc("GET /authorize", i.authorize)
	i.mux.HandleFunc("POST /login", i.login)
	i.mux.HandleFunc("POST /consent", i.consent)
	i.mux.HandleFunc("POST /token", i.token)
	i.mux.HandleFunc("POST /introspect", i.introspect)
	return i
}

// ServeHTTP serves the provider's endpoints.
func (i *IDP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	i.mux.ServeHTTP(w, r)
}

// Server is an IDP on a loopback httptest server.
type Server struct {
	*IDP
	// URL is the issuer.
	URL string
	srv *httptest.Server
}

// NewServer starts the provider on a loopback port; its issuer is the
// server's URL.
func NewServer(cfg Config) *Server {
	srv := httptest.NewUnstartedServer(nil)
	cfg.Issuer = "http://" + srv.Listener.Addr().String()
	idp := New(cfg)
	srv.Config.Handler = idp
	srv.Start()
	return &Server{IDP: idp, URL: srv.URL, srv: srv}
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Valid reports whether token is an access token the provider issued and
// that has not expired. The feed's simulator uses it to accept tokens.
func (i *IDP) Valid(token string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	expiry, ok := i.accessTokens[token]
	return ok && i.cfg.Now().Before(expiry)
}

// ValidFeedPassword reports whether password, as a feed client sends it
// in the Basic authorization of a session on a URL of the given form,
// carries a valid access token: base64 of the token on /AEDataTransmitter,
// the token itself on /AEConsole.
func (i *IDP) ValidFeedPassword(password string, form protocol.Form) bool {
	if form == protocol.FormConsole {
		return i.Valid(password)
	}
	token, err := base64.StdEncoding.DecodeString(password)
	return err == nil && i.Valid(string(token))
}

// TokenExpiry returns when an access token the provider issued expires,
// also when that time has passed; false for a token it never issued.
func (i *IDP) TokenExpiry(token string) (time.Time, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	expiry, ok := i.accessTokens[token]
	return expiry, ok
}

// FeedTokenExpiry is TokenExpiry for a password as a feed client sends it
// on a URL of the given form (see ValidFeedPassword). Its signature is
// that of the feed simulator's TokenExpiry hook.
func (i *IDP) FeedTokenExpiry(form protocol.Form, password string) (time.Time, bool) {
	token := password
	if form != protocol.FormConsole {
		raw, err := base64.StdEncoding.DecodeString(password)
		if err != nil {
			return time.Time{}, false
		}
		token = string(raw)
	}
	return i.TokenExpiry(token)
}

// ValidRefreshToken reports whether the provider would accept token in a
// refresh.
func (i *IDP) ValidRefreshToken(token string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	_, ok := i.refreshTokens[token]
	return ok
}

// RefuseRefreshes makes the provider answer every refresh with
// invalid_grant while refuse is true.
func (i *IDP) RefuseRefreshes(refuse bool) {
	i.mu.Lock()
	i.refuseRefresh = refuse
	i.mu.Unlock()
}

// Counts returns what the provider was asked so far.
func (i *IDP) Counts() Counts {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.counts
}

// Secrets returns every secret the provider issued or was sent: codes,
// access and refresh tokens, PKCE verifiers, and the users' passwords and
// the client secret. Tests look for them where they must not be.
func (i *IDP) Secrets() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := slices.Clone(i.secrets)
	for _, pw := range i.cfg.Users {
		out = append(out, pw)
	}
	if i.cfg.ClientSecret != "" {
		out = append(out, i.cfg.ClientSecret)
	}
	return out
}

// issuerOf returns the issuer; with none configured, the request's origin.
func (i *IDP) issuerOf(r *http.Request) string {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.issuer != "" {
		return i.issuer
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (i *IDP) discovery(w http.ResponseWriter, r *http.Request) {
	issuer := i.issuerOf(r)
	grants := []string{"authorization_code", "refresh_token"}
	if i.cfg.PasswordGrant {
		grants = append(grants, "password")
	}
	authMethods := []string{"none"}
	if i.cfg.ClientSecret != "" {
		authMethods = []string{"client_secret_basic", "client_secret_post"}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                issuer + "/authorize",
		"token_endpoint":                        issuer + "/token",
		"introspection_endpoint":                issuer + "/introspect",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 grants,
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": authMethods,
		"scopes_supported":                      []string{"openid", "offline_access"},
	})
}

// authorize starts a login: it checks the request and shows the login
// form. An unknown client or redirect URI gets an error page, never a
// redirect; other errors go back to the client.
func (i *IDP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != i.cfg.ClientID {
		i.showError(w, http.StatusBadRequest, "Unknown client.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if !i.registered(redirectURI) {
		i.showError(w, http.StatusBadRequest, "The redirect URI is not registered for this client.")
		return
	}
	state := q.Get("state")
	switch {
	case q.Get("response_type") != "code":
		redirectError(w, r, redirectURI, state, "unsupported_response_type", "only code is supported")
		return
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		redirectError(w, r, redirectURI, state, "invalid_request", "PKCE with S256 is required")
		return
	}

	req := &authRequest{
		id:          newToken(),
		session:     newToken(),
		csrf:        newToken(),
		redirectURI: redirectURI,
		state:       state,
		challenge:   q.Get("code_challenge"),
		scope:       q.Get("scope"),
		issuedAt:    i.cfg.Now(),
	}
	i.mu.Lock()
	i.pending[req.id] = req
	i.counts.AuthorizationRequests++
	i.mu.Unlock()

	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: req.session, Path: "/", HttpOnly: true})
	i.show(w, http.StatusOK, pageData{Login: true, Request: req.id, CSRF: req.csrf})
}

// registered reports whether uri is a registered redirect URI.
func (i *IDP) registered(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil || uri == "" {
		return false
	}
	for _, reg := range i.cfg.RedirectURLs {
		if reg == uri {
			return true
		}
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || ru.Port() != "" || !isLoopback(ru.Hostname()) {
			continue
		}
		if u.Scheme == ru.Scheme && u.Hostname() == ru.Hostname() && u.Path == ru.Path && u.RawQuery == ru.RawQuery {
			return true
		}
	}
	return false
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// pendingFor returns the authorization request a form post continues,
// if the post carries its anti-forgery field and session cookie.
func (i *IDP) pendingFor(r *http.Request) *authRequest {
	cookie, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	req := i.pending[r.PostFormValue("request")]
	if req == nil || i.cfg.Now().Sub(req.issuedAt) > loginLifetime ||
		!equal(cookie.Value, req.session) || !equal(r.PostFormValue("csrf_token"), req.csrf) {
		return nil
	}
	return req
}

func (i *IDP) login(w http.ResponseWriter, r *http.Request) {
	req := i.pendingFor(r)
	if req == nil {
		i.showError(w, http.StatusBadRequest, "The form has expired or was not sent by this page.")
		return
	}
	user := r.PostFormValue("identifier")
	want, known := i.cfg.Users[user]
	if !known || !equal(r.PostFormValue("password"), want) {
		i.mu.Lock()
		i.counts.FailedLogins++
		i.mu.Unlock()
		i.show(w, http.StatusOK, pageData{Login: true, Request: req.id, CSRF: req.csrf,
			Error: "Invalid username or password."})
		return
	}

	i.mu.Lock()
	i.counts.Logins++
	req.user = user
	i.mu.Unlock()
	if i.cfg.Consent {
		i.show(w, http.StatusOK, pageData{Consent: true, Request: req.id, CSRF: req.csrf})
		return
	}
	i.finish(w, r, req)
}

func (i *IDP) consent(w http.ResponseWriter, r *http.Request) {
	req := i.pendingFor(r)
	if req == nil || req.user == "" {
		i.showError(w, http.StatusBadRequest, "The form has expired or was not sent by this page.")
		return
	}
	if r.PostFormValue("decision") != "allow" {
		i.mu.Lock()
		delete(i.pending, req.id)
		i.mu.Unlock()
		redirectError(w, r, req.redirectURI, req.state, "access_denied", "the user denied access")
		return
	}
	i.finish(w, r, req)
}

// finish ends a login with a code for the client.
func (i *IDP) finish(w http.ResponseWriter, r *http.Request, req *authRequest) {
	code := newToken()
	i.mu.Lock()
	delete(i.pending, req.id)
	i.codes[code] = &grant{
		user:        req.user,
		scope:       req.scope,
		redirectURI: req.redirectURI,
		challenge:   req.challenge,
		issuedAt:    i.cfg.Now(),
	}
	i.secrets = append(i.secrets, code)
	i.mu.Unlock()

	redirectTo(w, r, req.redirectURI, url.Values{"code": {code}, "state": {req.state}})
}

func (i *IDP) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		i.tokenError(w, r, http.StatusBadRequest, "invalid_request", "unreadable form", "")
		return
	}
	if !i.clientAuthenticated(r) {
		i.tokenError(w, r, http.StatusUnauthorized, "invalid_client", "client authentication failed", "")
		return
	}

	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		i.exchangeCode(w, r)
	case "refresh_token":
		i.refresh(w, r)
	case "password":
		i.passwordGrant(w, r)
	default:
		i.tokenError(w, r, http.StatusBadRequest, "unsupported_grant_type", "", "")
	}
}

// clientAuthenticated checks the client: its secret for a confidential
// one (Basic or form), its ID for a public one.
func (i *IDP) clientAuthenticated(r *http.Request) bool {
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != i.cfg.ClientID {
		return false
	}
	return i.cfg.ClientSecret == "" || equal(secret, i.cfg.ClientSecret)
}

func (i *IDP) exchangeCode(w http.ResponseWriter, r *http.Request) {
	code := r.PostForm.Get("code")
	verifier := r.PostForm.Get("code_verifier")
	i.mu.Lock()
	g := i.codes[code]
	delete(i.codes, code) // single use, whatever comes of it
	if verifier != "" {
		i.secrets = append(i.secrets, verifier)
	}
	i.mu.Unlock()

	switch {
	case g == nil || i.cfg.Now().Sub(g.issuedAt) > codeLifetime:
		i.tokenError(w, r, http.StatusBadRequest, "invalid_grant", "unknown, used or expired code", code)
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		i.tokenError(w, r, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the request", "")
	case !equal(challengeOf(verifier), g.challenge):
		i.tokenError(w, r, http.StatusBadRequest, "invalid_grant", "code_verifier does not match", verifier)
	default:
		i.issue(w, g.user, g.scope, func(c *Counts) { c.CodeExchanges++ })
	}
}

func (i *IDP) refresh(w http.ResponseWriter, r *http.Request) {
	offered := r.PostForm.Get("refresh_token")
	i.mu.Lock()
	g := i.refreshTokens[offered]
	refuse := i.refuseRefresh
	if !refuse {
		delete(i.refreshTokens, offered) // rotation: the old one is spent
	}
	i.mu.Unlock()

	if g == nil || refuse {
		i.tokenError(w, r, http.StatusBadRequest, "invalid_grant", "refresh token is not valid", offered)
		return
	}
	i.issue(w, g.user, g.scope, func(c *Counts) { c.Refreshes++ })
}

func (i *IDP) passwordGrant(w http.ResponseWriter, r *http.Request) {
	if !i.cfg.PasswordGrant {
		i.tokenError(w, r, http.StatusBadRequest, "unauthorized_client", "the password grant is off", "")
		return
	}
	user := r.PostForm.Get("username")
	want, known := i.cfg.Users[user]
	if !known || !equal(r.PostForm.Get("password"), want) {
		i.tokenError(w, r, http.StatusBadRequest, "invalid_grant", "wrong username or password", "")
		return
	}
	i.issue(w, user, r.PostForm.Get("scope"), func(c *Counts) { c.PasswordGrants++ })
}

// issue answers with a new access token and a new refresh token.
func (i *IDP) issue(w http.ResponseWriter, user, scope string, count func(*Counts)) {
	access, refresh := newToken(), newToken()
	now := i.cfg.Now()
	i.mu.Lock()
	i.accessTokens[access] = now.Add(i.cfg.AccessTokenLifetime)
	i.refreshTokens[refresh] = &grant{user: user, scope: scope, issuedAt: now}
	i.secrets = append(i.secrets, access, refresh)
	count(&i.counts)
	i.mu.Unlock()

	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  access,
		"token_type":    "Bearer",
		"expires_in":    int(i.cfg.AccessTokenLifetime / time.Second),
		"refresh_token": refresh,
		"scope":         scope,
	})
}

// introspect answers RFC 7662 token introspection for access tokens, for
// servers that check tokens from another process.
func (i *IDP) introspect(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || !i.clientAuthenticated(r) {
		i.tokenError(w, r, http.StatusUnauthorized, "invalid_client", "client authentication failed", "")
		return
	}
	tok := r.PostForm.Get("token")
	if !i.Valid(tok) {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	i.mu.Lock()
	expiry := i.accessTokens[tok]
	i.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"active": true, "exp": expiry.Unix(),
		"client_id": i.cfg.ClientID, "token_type": "Bearer"})
}

// tokenError answers a token request with an OAuth error. With
// LeakyErrors the description also names leak (the code or token offered)
// and the answer repeats the whole request.
func (i *IDP) tokenError(w http.ResponseWriter, r *http.Request, status int, code, description, leak string) {
	i.mu.Lock()
	i.counts.TokenFailures++
	i.mu.Unlock()

	body := map[string]any{"error": code}
	if description != "" {
		body["error_description"] = description
	}
	if i.cfg.LeakyErrors {
		body["error_description"] = strings.TrimSpace(description + " " + leak)
		body["request"] = r.PostForm.Encode()
	}
	writeJSON(w, status, body)
}

func redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state, code, description string) {
	redirectTo(w, r, redirectURI, url.Values{
		"error":             {code},
		"error_description": {description},
		"state":             {state},
	})
}

// redirectTo sends the user agent to redirectURI with params added to
// its query.
func redirectTo(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	u, _ := url.Parse(redirectURI) // registered, so parsable
	q := u.Query()
	for k, v := range params {
		if len(v) > 0 && v[0] != "" {
			q[k] = v
		}
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// pageData fills the page template.
type pageData struct {
	Login, Consent bool
	Request, CSRF  string
	Error          string
}

func (i *IDP) show(w http.ResponseWriter, status int, data pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = i.page.Execute(w, data)
}

func (i *IDP) showError(w http.ResponseWriter, status int, message string) {
	i.show(w, status, pageData{Error: message})
}

// pageTemplate is deliberately like real login pages: a second form
// before the login form, labels, a checkbox left unchecked, hidden fields
// and a relative action.
const pageTemplate = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in - Test IDP</title></head>
<body>
<header>
  <form id="language" method="get" action="/authorize">
    <select name="ui_locales"><option value="en" selected>English</option><option value="de">Deutsch</option></select>
    <button type="submit">Change language</button>
  </form>
</header>
<main>
{{if .Error}}<div class="alert alert-error" role="alert">{{.Error}}</div>{{end}}
{{if .Login}}
  <form id="login" method="post" action="login">
    <input type="hidden" name="request" value="{{.Request}}">
    <input type="hidden" name="csrf_token" value="{{.CSRF}}">
    <label for="identifier">Email or user name</label>
    <input id="identifier" type="text" name="identifier" autocomplete="username" autofocus>
    <label for="password">Password</label>
    <input id="password" type="password" name="password" autocomplete="current-password">
    <label><input type="checkbox" name="remember" value="yes"> Stay signed in</label>
    <button type="submit" name="action" value="login">Sign in</button>
  </form>
  <form id="recover" method="get" action="/recover"><button type="submit">Forgot your password?</button></form>
{{end}}
{{if .Consent}}
  <p>acqueon_exporter wants to read performance metrics on your behalf.</p>
  <form id="consent" method="post" action="consent">
    <input type="hidden" name="request" value="{{.Request}}">
    <input type="hidden" name="csrf_token" value="{{.CSRF}}">
    <button type="submit" name="decision" value="deny">Deny</button>
    <button type="submit" name="decision" value="allow">Allow</button>
  </form>
{{end}}
</main>
</body>
</html>
`

// newToken returns a new random token.
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// challengeOf returns the S256 code challenge of a PKCE verifier.
func challengeOf(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
