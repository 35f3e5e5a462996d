package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/acqueon-exporter/acqueon_exporter/internal/testkit"
)

// webCert writes a certificate for 127.0.0.1, issued by a CA of the
// test's own, and its key to dir; it returns their paths and a pool that
// trusts the CA.
func webCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	ca := testkit.NewCA(t, "acqueon_exporter e2e")
	leaf := ca.Leaf(t, nil, []net.IP{net.IPv4(127, 0, 0, 1)})
	keyDER, err := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	var chain []byte
	for _, der := range leaf.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	certFile, keyFile = filepath.Join(dir, "web.crt"), filepath.Join(dir, "web.key")
	writeFile(t, certFile, chain)
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return certFile, keyFile, ca.Pool
}

func writeFile(t *testing.T, path string, content []byte) {
	t.Helper()
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWebConfigServesOnlyAuthenticatedTLSScrapes(t *testing.T) {
	t.Parallel()
	const user, password = "prometheus", "scrape-password-61c2"
	dir := t.TempDir()
	certFile, keyFile, pool := webCert(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, fmt.Appendf(nil,
		"tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n",
		certFile, keyFile, user, hash), 0o600); err != nil {
		t.Fatal(err)
	}

	e := launch(t, "--demo", "--web.config.file="+webConfig)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	defer client.CloseIdleConnections()
	get := func(scheme, path, user, password string) (int, string, error) {
		req, err := http.NewRequest(http.MethodGet, scheme+"://"+e.addr+path, nil)
		if err != nil {
			return 0, "", err
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}

	waitFor(t, 20*time.Second, "an authenticated TLS scrape with a live session", func() (bool, string) {
		code, body, err := get("https", "/metrics", user, password)
		return code == http.StatusOK && strings.Contains(body, "acqueon_up 1"), fmt.Sprint(code, err)
	})
	if !strings.Contains(e.logs.String(), "TLS is enabled") {
		t.Errorf("the log does not say that TLS is on:\n%s", e.logs.String())
	}

	for _, tc := range []struct {
		name, path, user, password string
	}{
		{"no credentials", "/metrics", "", ""},
		{"wrong password", "/metrics", user, "wrong"},
		{"unknown user", "/metrics", "someone", password},
		{"landing page without credentials", "/", "", ""},
	} {
		code, body, err := get("https", tc.path, tc.user, tc.password)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if code != http.StatusUnauthorized || strings.Contains(body, "acqueon_") {
			t.Errorf("%s: answered %d, want 401 without metrics", tc.name, code)
		}
	}

	code, body, err := get("http", "/metrics", user, password)
	if err == nil && (code == http.StatusOK || strings.Contains(body, "acqueon_")) {
		t.Errorf("plain HTTP was served: %d", code)
	}

	untrusting := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer untrusting.CloseIdleConnections()
	if resp, err := untrusting.Get("https://" + e.addr + "/metrics"); err == nil {
		resp.Body.Close()
		t.Error("a client that does not trust the certificate completed the TLS handshake")
	}
}
