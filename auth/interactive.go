package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// InteractiveLogin lets a person sign in at the IDP in a browser, for IDPs
// whose login page the exporter cannot fill in by itself, and stores the
// refresh token in cfg.TokenFile for grant refresh-token.
//
// It listens on the loopback redirect URL (RFC 8252, section 7.3): the
// host must be 127.0.0.1, [::1] or localhost (served on 127.0.0.1), and a
// URL without a port, or with port 0, gets a free port, which the IDP must
// accept for a native client. It prints the authorization URL to out and
// hands it to openBrowser when that is not nil (see OpenBrowser); then it
// waits, until ctx ends, for the IDP's redirect, checks its state,
// exchanges the code with the PKCE verifier and writes the token file.
// Only cfg's IDP, client, redirect, scope, token file, HTTP client and
// logger fields are used.
func InteractiveLogin(ctx context.Context, cfg IDPConfig, out io.Writer, openBrowser func(string) error) error {
	if cfg.ClientID == "" {
		return errors.New("login: no client ID")
	}
	if cfg.IssuerURL == "" && (cfg.AuthURL == "" || cfg.TokenURL == "") {
		return errors.New("login: no issuer URL (or authorization and token URLs)")
	}
	if cfg.TokenFile == "" {
		return errors.New("login: no token file to store the refresh token in")
	}
	if cfg.RedirectURL == "" {
		cfg.RedirectURL = DefaultRedirectURL
	}
	cfg.Grant = GrantForm

	ln, redirect, err := listenLoopback(cfg.RedirectURL)
	if err != nil {
		return err
	}
	defer ln.Close()
	cfg.RedirectURL = redirect.String()

	p := newIDP(cfg)
	warnIfSharedRef(cfg.ClientSecret, p.log)
	oc, err := p.oauthConfig(ctx)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}

	verifier := oauth2.GenerateVerifier()
	state := rand.Text()
	authURL := oc.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	callbacks := make(chan *url.URL, 1)
	srv := &http.Server{
		Handler:           callbackHandler(redirect.Path, state, callbacks),
		ReadHeaderTimeout: 10 * time.Second,
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	defer func() {
		_ = srv.Close()
		<-served
	}()

	fmt.Fprintf(out, "Sign in to the Acqueon IDP: open this URL in a browser on this machine:\n\n    %s\n\n", authURL)
	if openBrowser != nil {
		if err := openBrowser(authURL); err != nil {
			fmt.Fprintf(out, "(Could not open a browser: %v. Open the URL yourself.)\n", err)
		}
	}
	fmt.Fprintf(out, "Waiting for the IDP to redirect to %s ...\n", redactURL(redirect.String()))

	var callback *url.URL
	select {
	case callback = <-callbacks:
	case <-ctx.Done():
		return fmt.Errorf("login: no answer from the IDP: %w", ctx.Err())
	}
	code, err := codeFromCallback(callback, state)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	tok, err := exchangeCode(ctx, p.client, oc, code, verifier, oc.ClientSecret)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if tok.RefreshToken == "" {
		return errors.New("login: the IDP issued no refresh token; " +
			"ask for the offline_access scope, or allow refresh tokens for the client")
	}

	err = writeTokenFile(cfg.TokenFile, tokenFile{
		IDP:          cfg.idpName(),
		ClientID:     cfg.ClientID,
		RefreshToken: tok.RefreshToken,
		SavedAt:      p.now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	where, err := filepath.Abs(cfg.TokenFile)
	if err != nil {
		where = cfg.TokenFile
	}
	fmt.Fprintf(out, "Signed in. Stored the refresh token in %s (mode 0600).\n"+
		"Run the exporter with --acqueon.idp.grant=refresh-token --acqueon.idp.token-file=%s\n",
		where, cfg.TokenFile)
	return nil
}

// listenLoopback listens where a loopback redirect URL points and returns
// the URL with the port actually used.
func listenLoopback(raw string) (net.Listener, *url.URL, error) {
	redirect, err := url.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("login: redirect URL: %w", err)
	}
	if redirect.Scheme != "http" {
		return nil, nil, fmt.Errorf("login: redirect URL %s: want http on a loopback address", raw)
	}
	host := redirect.Hostname()
	listenHost := host
	switch host {
	case "127.0.0.1", "::1":
	case "localhost":
		listenHost = "127.0.0.1"
	default:
		return nil, nil, fmt.Errorf("login: redirect URL %s: the host must be 127.0.0.1, [::1] or localhost", raw)
	}
	port := redirect.Port()
	if port == "" {
		port = "0"
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(listenHost, port))
	if err != nil {
		return nil, nil, fmt.Errorf("login: listen for the IDP's redirect: %w", err)
	}
	_, actual, _ := net.SplitHostPort(ln.Addr().String())
	redirect.Host = net.JoinHostPort(host, actual)
	return ln, redirect, nil
}

// callbackHandler takes the IDP's redirect at path and passes the first
// one whose state matches to callbacks. Answers with another state are
// turned away, so that no other page can end the login.
func callbackHandler(path, state string, callbacks chan<- *url.URL) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimSuffix(r.URL.Path, "/") != strings.TrimSuffix(path, "/") {
			http.NotFound(w, r)
			return
		}
		got := r.URL.Query().Get("state")
		if subtle.ConstantTimeCompare([]byte(got), []byte(state)) != 1 {
			writeLoginPage(w, http.StatusBadRequest, "This answer does not belong to the login in progress.")
			return
		}
		select {
		case callbacks <- r.URL:
			writeLoginPage(w, http.StatusOK, "The IDP answered. Return to the terminal to see the result; "+
				"you can close this window.")
		default:
			writeLoginPage(w, http.StatusConflict, "The login already received an answer.")
		}
	})
}

func writeLoginPage(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head><title>acqueon_exporter login</title></head>"+
		"<body><p>%s</p></body></html>\n", html.EscapeString(message))
}

// OpenBrowser opens u in the desktop's browser: with open on macOS, else
// with xdg-open. It returns once the opener has started.
func OpenBrowser(u string) error {
	name := "xdg-open"
	if runtime.GOOS == "darwin" {
		name = "open"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("open a browser: %w", err)
	}
	cmd := exec.Command(path, u)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("open a browser: %w", err)
	}
	go func() { _ = cmd.Wait() }() // reap the opener
	return nil
}
