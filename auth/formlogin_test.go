package auth

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loginSite serves hand-written login pages; each test sets the routes.
func loginSite(t *testing.T, routes map[string]http.HandlerFunc) (*FormLogin, string) {
	t.Helper()
	mux := http.NewServeMux()
	for pattern, h := range routes {
		mux.HandleFunc(pattern, h)
	}
	srv := httptest.NewServer(mux)
	transport := &http.Transport{}
	t.Cleanup(func() {
		srv.Close()
		transport.CloseIdleConnections()
	})
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(testPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	return &FormLogin{
		HTTPClient: &http.Client{Transport: transport, Timeout: 10 * time.Second},
		Username:   testUser,
		Password:   SecretRef{Name: "password", File: pwFile},
	}, srv.URL
}

func writePage(w http.ResponseWriter, body string, args ...any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!DOCTYPE html><html><body>"+body+"</body></html>", args...)
}

func TestFormLoginHandlesIdentifierFirstPages(t *testing.T) {
	login, site := loginSite(t, map[string]http.HandlerFunc{
		"GET /authorize": func(w http.ResponseWriter, r *http.Request) {
			writePage(w, `<form method="post" action="/identify">
				<input type="hidden" name="flow" value="%s">
				<input type="email" name="loginfmt"><input type="submit" value="Next"></form>`,
				html.EscapeString(r.URL.Query().Get("state")))
		},
		"POST /identify": func(w http.ResponseWriter, r *http.Request) {
			if r.PostFormValue("loginfmt") != testUser {
				http.Error(w, "unknown user", http.StatusBadRequest)
				return
			}
			writePage(w, `<form method="post" action="/password">
				<input type="hidden" name="flow" value="%s">
				<input type="hidden" name="loginfmt" value="%s">
				<input type="password" name="passwd"><button>Sign in</button></form>`,
				html.EscapeString(r.PostFormValue("flow")), html.EscapeString(testUser))
		},
		"POST /password": func(w http.ResponseWriter, r *http.Request) {
			if r.PostFormValue("passwd") != testPassword || r.PostFormValue("loginfmt") != testUser {
				http.Error(w, "wrong", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, DefaultRedirectURL+"?code=c1&state="+r.PostFormValue("flow"), http.StatusFound)
		},
	})

	callback, err := login.Authorize(context.Background(), site+"/authorize?state=s1", DefaultRedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := codeFromCallback(callback, "s1"); err != nil || code != "c1" {
		t.Errorf("code %q, error %v; want c1", code, err)
	}
}

func TestFormLoginTakesAnAnswerPostedInAForm(t *testing.T) {
	login, site := loginSite(t, map[string]http.HandlerFunc{
		"GET /authorize": func(w http.ResponseWriter, r *http.Request) {
			writePage(w, `<form method="post" action="/login"><input name="user">
				<input type="password" name="pass"><input type="submit"></form>`)
		},
		"POST /login": func(w http.ResponseWriter, r *http.Request) {
			// response_mode=form_post: a page that posts the answer to the
			// client by script; the redirect URL has nothing listening.
			writePage(w, `<form method="post" action="%s"><input type="hidden" name="code" value="c2">
				<input type="hidden" name="state" value="s2"></form>
				<script>document.forms[0].submit()</script>`, DefaultRedirectURL)
		},
	})

	callback, err := login.Authorize(context.Background(), site+"/authorize", DefaultRedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := codeFromCallback(callback, "s2"); err != nil || code != "c2" {
		t.Errorf("code %q, error %v; want c2", code, err)
	}
}

func TestFormLoginExplainsWhatItCannotSignInTo(t *testing.T) {
	login, site := loginSite(t, map[string]http.HandlerFunc{
		"GET /script": func(w http.ResponseWriter, r *http.Request) {
			writePage(w, `<div id="app"></div><script src="/app.js"></script>`)
		},
		"GET /otp": func(w http.ResponseWriter, r *http.Request) {
			writePage(w, `<form method="post" action="/login"><input name="user">
				<input type="password" name="pass"><input type="submit"></form>`)
		},
		"POST /login": func(w http.ResponseWriter, r *http.Request) {
			writePage(w, `<p class="hint">Enter the code from your authenticator app.</p>
				<form method="post" action="/otp"><input name="otp" inputmode="numeric"><button>Verify</button></form>`)
		},
		"GET /json": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_request"}`)
		},
		"GET /loop": func(w http.ResponseWriter, r *http.Request) {
			writePage(w, `<form method="post" action="/loop"><button name="go" value="1">Continue</button></form>`)
		},
		"POST /loop": func(w http.ResponseWriter, r *http.Request) {
			writePage(w, `<form method="post" action="/loop"><button name="go" value="1">Continue</button></form>`)
		},
	})

	for path, want := range map[string]string{
		"/script": "no login form on " + site + "/script",
		"/otp":    "multi-factor prompts",
		"/json":   "answered HTTP 400 with application/json",
		"/loop":   "did not reach the redirect URL after 5 pages",
	} {
		_, err := login.Authorize(context.Background(), site+path+"?state=secret-state", DefaultRedirectURL)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one that says %q", path, err, want)
			continue
		}
		if strings.Contains(err.Error(), "secret-state") || strings.Contains(err.Error(), testPassword) {
			t.Errorf("%s: error %q shows the request's query or the password", path, err)
		}
	}
}
