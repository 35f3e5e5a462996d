package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
	"github.com/acqueon-exporter/acqueon_exporter/auth/idptest"
)

// TestLoginCommandStoresARefreshTokenAfterABrowserSignIn runs
// `acqueon_exporter login` against a test IDP, signs in at the URL it
// prints as a person would, and checks the token file it leaves behind.
func TestLoginCommandStoresARefreshTokenAfterABrowserSignIn(t *testing.T) {
	const user, password = "operator", "login-e2e-password-61c0"
	idp := idptest.NewServer(idptest.Config{Users: map[string]string{user: password}})
	defer idp.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")

	cmd := exec.Command(binary, "login",
		"--acqueon.idp.issuer-url="+idp.URL,
		"--acqueon.idp.client-id=acqueon-exporter",
		"--acqueon.idp.token-file="+tokenFile,
		"--timeout=30s",
	)
	// No browser to open here: the test is the browser.
	cmd.Env = append(os.Environ(), "PATH=/nonexistent", "DISPLAY=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()

	printed := &syncBuffer{}
	authURL := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			_, _ = printed.Write([]byte(sc.Text() + "\n"))
			if u := regexp.MustCompile(`https?://\S+/authorize\?\S+`).FindString(sc.Text()); u != "" {
				select {
				case authURL <- u:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()

	var u string
	select {
	case u = <-authURL:
	case <-time.After(20 * time.Second):
		t.Fatalf("no authorization URL printed:\n%s\n%s", printed.String(), logs.String())
	}
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	redirect := parsed.Query().Get("redirect_uri")

	// Sign in as a person would, then let the browser land on the
	// exporter's loopback listener.
	login := &auth.FormLogin{Username: user, Password: auth.SecretRef{
		Name: "test password", Env: "TEST_PASSWORD",
		LookupEnv: func(string) (string, bool) { return password, true },
	}}
	landing, err := login.Authorize(context.Background(), u, redirect)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	resp, err := http.Get(landing.String())
	if err != nil {
		t.Fatalf("redirect to the exporter: %v", err)
	}
	_ = resp.Body.Close()

	if err := cmd.Wait(); err != nil {
		t.Fatalf("login exited with %v\n%s\n%s", err, printed.String(), logs.String())
	}
	st, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", st.Mode().Perm())
	}
	stored, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	var kept struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(stored, &kept); err != nil || !idp.ValidRefreshToken(kept.RefreshToken) {
		t.Errorf("the token file holds no refresh token the IDP accepts (%v)", err)
	}
	if !strings.Contains(printed.String(), tokenFile) {
		t.Errorf("login did not say where the token went:\n%s", printed.String())
	}
	if idp.Counts().CodeExchanges != 1 {
		t.Errorf("code exchanges %d, want 1", idp.Counts().CodeExchanges)
	}
	for _, secret := range append(idp.Secrets(), password) {
		if strings.Contains(printed.String()+logs.String(), secret) {
			t.Errorf("login printed a secret")
		}
	}
}
