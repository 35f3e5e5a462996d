package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/acqueon-exporter/acqueon_exporter/auth/idptest"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

// TestNoIDPSecretInAnythingTheProcessWrites runs the exporter on IDP
// credentials, at debug level, through an unattended sign-in at the
// IDP's login page, a token refresh, a token the feed refuses, a
// reconnect and a shutdown, against an IDP whose error answers repeat
// the request. No password, code, access or refresh token (the one the
// token file keeps among them), nor a base64 form of one, and no
// Authorization header the feed saw may appear in the log, /metrics, the
// landing page, the health pages or an error page.
func TestNoIDPSecretInAnythingTheProcessWrites(t *testing.T) {
	t.Parallel()
	const (
		feedUser = "idpsecrets"
		username = "reader@example.com"
		password = "e2e-idp-password-4f7a21"
	)
	idp := idptest.NewServer(idptest.Config{
		Users: map[string]string{username: password},
		// The exporter refreshes 10s before expiry at the latest, so the
		// first refresh comes about 5s in.
		AccessTokenLifetime: 15 * time.Second,
		LeakyErrors:         true,
	})
	t.Cleanup(idp.Close)
	sim := simulator.New(simulator.Config{
		User: feedUser,
		Authenticate: func(form protocol.Form, feedPassword string) bool {
			return idp.ValidFeedPassword(feedPassword, form)
		},
		TokenExpiry:  idp.FeedTokenExpiry,
		PushInterval: 100 * time.Millisecond,
		Tenant:       simulator.TenantConfig{CampaignGroups: 1, Campaigns: 2, Queues: 1, Agents: 3},
	})
	feedURL := serveFeed(t, sim)

	dir := t.TempDir()
	passwordFile, tokenFile := filepath.Join(dir, "idp-password"), filepath.Join(dir, "token")
	if err := os.WriteFile(passwordFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := start(t,
		"--acqueon.url="+feedURL,
		"--acqueon.user="+feedUser,
		"--acqueon.idp.issuer-url="+idp.URL,
		"--acqueon.idp.client-id=acqueon-exporter",
		"--acqueon.idp.redirect-url="+idptest.DefaultRedirectURL,
		"--acqueon.idp.username="+username,
		"--acqueon.idp.password-file="+passwordFile,
		"--acqueon.idp.token-file="+tokenFile,
		"--acqueon.max-backoff=200ms",
		"--acqueon.ping-interval=500ms",
		"--log.level=debug",
	)
	pages := &pageRecorder{t: t, e: e}
	pages.waitAtLeast("a session on a token", "acqueon_up", 1)
	pages.waitAtLeast("a refreshed token", "acqueon_exporter_token_refreshes_total", 2)
	pages.refuseLoginsThenRecover(sim, 1)
	pages.visitTheOtherPages()
	e.terminate(t)

	secrets := map[string]string{"password": password}
	for i, s := range idp.Secrets() {
		secrets[fmt.Sprintf("IDP secret %d", i)] = s
		secrets[fmt.Sprintf("IDP secret %d in base64", i)] = base64.StdEncoding.EncodeToString([]byte(s))
	}
	addFeedAuthorizations(secrets, sim)
	stored, err := os.ReadFile(tokenFile)
	if err != nil || len(stored) == 0 {
		t.Fatalf("no refresh token stored in the token file: %v", err)
	}
	if counts := idp.Counts(); counts.Logins < 1 || counts.Refreshes < 1 {
		t.Fatalf("the IDP saw %+v; want a sign-in and a refresh", counts)
	}
	checkNoSecretWritten(t, e.logs.String(), pages.pages, secrets,
		"by=login", "by=refresh", "reason=auth_rejected", "connected to the feed", "Shutting down")
}
