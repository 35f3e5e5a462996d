package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

// TestSignInAtAnOpenIDProviderWrittenElsewhere runs the unattended login
// against the example OpenID provider of github.com/zitadel/oidc, whose
// login page (a form with a hidden request id, a username field without a
// type and a password field) and token endpoint nobody here wrote. The
// example's user store names its first user test-user@<issuer host>
// with password verysecure.
func TestSignInAtAnOpenIDProviderWrittenElsewhere(t *testing.T) {
	const (
		clientID = "acqueon-native"
		password = "verysecure"
	)
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	clients := map[string]*storage.Client{
		clientID: storage.NativeClient(clientID, DefaultRedirectURL),
	}
	store := storage.NewStorageWithClients(storage.NewUserStore(issuer), clients)
	srv.Config.Handler = exampleop.SetupServer(issuer, store, nil, false)
	srv.Start()
	transport := &http.Transport{}
	defer func() {
		srv.Close()
		transport.CloseIdleConnections()
	}()

	dir := t.TempDir()
	logs := &syncBuffer{}
	f := &fixture{t: t, dir: dir}
	cfg := IDPConfig{
		IssuerURL:   issuer,
		ClientID:    clientID,
		RedirectURL: DefaultRedirectURL,
		Username:    "test-user@127.0.0.1",
		Password:    SecretRef{Name: "IDP password", File: f.writeFile("password", password)},
		TokenFile:   filepath.Join(dir, "token.json"),
		HTTPClient:  &http.Client{Transport: transport, Timeout: 10 * time.Second},
		Logger:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	p, err := NewIDP(cfg)
	if err != nil {
		t.Fatal(err)
	}

	first := rawToken(t, p)
	userinfo := userinfoEndpoint(t, cfg.HTTPClient, issuer)
	if status := bearerStatus(t, cfg.HTTPClient, userinfo, first); status != http.StatusOK {
		t.Fatalf("userinfo with the token: HTTP %d, want 200\nlog:\n%s", status, logs)
	}
	firstRefresh := f.storedRefreshToken(cfg.TokenFile)

	p.Rejected()
	second := rawToken(t, p)
	if second == first {
		t.Fatal("no new token after Rejected")
	}
	if status := bearerStatus(t, cfg.HTTPClient, userinfo, second); status != http.StatusOK {
		t.Errorf("userinfo with the refreshed token: HTTP %d, want 200", status)
	}
	if f.storedRefreshToken(cfg.TokenFile) == firstRefresh {
		t.Error("the rotated refresh token was not stored")
	}

	want := "" +
		"# HELP acqueon_exporter_token_refreshes_total Access tokens obtained from the Acqueon IDP, by refresh or by signing in.\n" +
		"# TYPE acqueon_exporter_token_refreshes_total counter\n" +
		"acqueon_exporter_token_refreshes_total 2\n"
	if err := testutil.CollectAndCompare(p, strings.NewReader(want),
		"acqueon_exporter_token_refreshes_total"); err != nil {
		t.Error(err)
	}

	wrong := cfg
	wrong.TokenFile = ""
	wrong.Password.File = f.writeFile("wrong-password", "not-verysecure")
	q, err := NewIDP(wrong)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Password(context.Background(), protocol.FormConsole); !errors.Is(err, ErrLoginFailed) {
		t.Errorf("error with a wrong password = %v, want ErrLoginFailed", err)
	}

	for _, secret := range []string{password, first, second, firstRefresh} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a secret (%d characters) is in the log:\n%s", len(secret), logs)
		}
	}
}

func rawToken(t *testing.T, p *IDP) string {
	t.Helper()
	tok, err := p.Password(context.Background(), protocol.FormConsole)
	if err != nil {
		t.Fatalf("Password: %v", err)
	}
	return tok
}

func userinfoEndpoint(t *testing.T, client *http.Client, issuer string) string {
	t.Helper()
	doc := struct {
		Userinfo string `json:"userinfo_endpoint"`
	}{}
	resp, err := client.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer drainClose(resp.Body)
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.Userinfo == "" {
		t.Fatalf("no userinfo endpoint in the discovery document: %v", err)
	}
	return doc.Userinfo
}

func bearerStatus(t *testing.T, client *http.Client, endpoint, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, endpoint, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	drainClose(resp.Body)
	return resp.StatusCode
}
