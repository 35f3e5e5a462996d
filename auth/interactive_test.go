package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acqueon-exporter/acqueon_exporter/auth/idptest"
)

// browse acts as a person at a browser: it opens the authorization URL,
// types the credentials into the login form, submits it and follows the
// IDP's redirect to the loopback listener.
func (f *fixture) browse(authURL, username, password string) error {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Transport: f.transport, Timeout: 10 * time.Second}
	resp, err := client.Get(authURL)
	if err != nil {
		return err
	}
	p, err := readPage(resp)
	if err != nil {
		return err
	}
	form := p.loginForm()
	if form == nil {
		return errors.New("no login form")
	}
	values := form.values(false)
	values.Set(form.usernameField().name, username)
	values.Set(form.passwordField().name, password)
	target, err := form.target(p.url)
	if err != nil {
		return err
	}
	resp, err = client.Do(form.request(context.Background(), target, values))
	if err != nil {
		return err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the page after the login answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// interactiveLogin runs InteractiveLogin with a browser that signs in as
// the test user, and checks what it printed and stored.
func (f *fixture) interactiveLogin(cfg IDPConfig) {
	f.t.Helper()
	var out bytes.Buffer
	var browserErr error
	err := InteractiveLogin(context.Background(), cfg, &out, func(u string) error {
		browserErr = f.browse(u, testUser, testPassword)
		return browserErr
	})
	f.record(errors.New(out.String()))
	if browserErr != nil {
		f.t.Fatalf("browser: %v", browserErr)
	}
	if f.record(err) != nil {
		f.t.Fatalf("InteractiveLogin: %v\noutput:\n%s", err, &out)
	}

	abs, _ := filepath.Abs(cfg.TokenFile)
	if !strings.Contains(out.String(), "Stored the refresh token in "+abs) {
		f.t.Errorf("the output does not say where the token went:\n%s", &out)
	}
	if !f.idp.ValidRefreshToken(f.storedRefreshToken(cfg.TokenFile)) {
		f.t.Error("the token file does not hold a refresh token the IDP accepts")
	}
}

func TestInteractiveLoginStoresTheRefreshToken(t *testing.T) {
	f := newFixture(t, idptest.Config{}, false)
	cfg := f.config(GrantRefreshToken)
	cfg.TokenFile = filepath.Join(f.dir, "state", "token.json")
	if err := os.Mkdir(filepath.Dir(cfg.TokenFile), 0o700); err != nil {
		t.Fatal(err)
	}
	f.interactiveLogin(cfg)

	if c := f.idp.Counts(); c.Logins != 1 || c.CodeExchanges != 1 {
		t.Errorf("IDP counts = %+v, want one login and one code exchange", c)
	}
	entries, _ := os.ReadDir(filepath.Dir(cfg.TokenFile))
	if len(entries) != 1 {
		t.Errorf("the token file's directory holds %d entries, want the file alone", len(entries))
	}
}

func TestInteractiveLoginTurnsAwayAnAnswerWithAnotherState(t *testing.T) {
	f := newFixture(t, idptest.Config{}, false)
	cfg := f.config(GrantRefreshToken)

	var forged int
	var browserErr error
	err := InteractiveLogin(context.Background(), cfg, &bytes.Buffer{}, func(authURL string) error {
		u, _ := url.Parse(authURL)
		redirect := u.Query().Get("redirect_uri")
		resp, err := (&http.Client{Transport: f.transport}).Get(redirect + "?code=forged-code&state=forged-state")
		if err != nil {
			browserErr = err
			return err
		}
		drainClose(resp.Body)
		forged = resp.StatusCode
		browserErr = f.browse(authURL, testUser, testPassword)
		return browserErr
	})
	if browserErr != nil || f.record(err) != nil {
		t.Fatalf("browser: %v; InteractiveLogin: %v", browserErr, err)
	}
	if forged != http.StatusBadRequest {
		t.Errorf("an answer with another state got HTTP %d, want 400", forged)
	}
}

func TestInteractiveLoginReportsTheIDPsError(t *testing.T) {
	f := newFixture(t, idptest.Config{}, false)
	cfg := f.config(GrantRefreshToken)

	err := InteractiveLogin(context.Background(), cfg, &bytes.Buffer{}, func(authURL string) error {
		u, _ := url.Parse(authURL)
		q := u.Query()
		answer := q.Get("redirect_uri") + "?" + url.Values{
			"error":             {"access_denied"},
			"error_description": {"the user said no"},
			"state":             {q.Get("state")},
		}.Encode()
		resp, err := (&http.Client{Transport: f.transport}).Get(answer)
		if err == nil {
			drainClose(resp.Body)
		}
		return err
	})
	var idpErr *IDPError
	if !errors.As(f.record(err), &idpErr) || idpErr.Code != "access_denied" {
		t.Fatalf("error = %v, want access_denied", err)
	}
	if _, err := os.Stat(cfg.TokenFile); err == nil {
		t.Error("a token file was written")
	}
}

func TestInteractiveLoginEndsWithItsContext(t *testing.T) {
	f := newFixture(t, idptest.Config{}, false)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	err := InteractiveLogin(ctx, f.config(GrantRefreshToken), &out, nil)
	if !errors.Is(f.record(err), context.DeadlineExceeded) {
		t.Errorf("error = %v, want the context's", err)
	}
	if !strings.Contains(out.String(), f.idp.URL+"/authorize?") {
		t.Errorf("the output does not show the authorization URL:\n%s", &out)
	}
}

func TestInteractiveLoginWantsALoopbackRedirect(t *testing.T) {
	f := newFixture(t, idptest.Config{}, false)
	cfg := f.config(GrantRefreshToken)
	cfg.RedirectURL = "https://exporter.example.com/callback"
	err := InteractiveLogin(context.Background(), cfg, &bytes.Buffer{}, nil)
	if f.record(err) == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("error = %v, want one about loopback addresses", err)
	}
}
