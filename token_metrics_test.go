package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

// TestTokenCountersWithoutAnIDP checks that with API keys, from files or
// in the demo, the IDP token counters are exported at zero and the expiry
// gauge is absent.
func TestTokenCountersWithoutAnIDP(t *testing.T) {
	_, feed := startSiteFeed(t, simulator.Config{})
	dir := t.TempDir()
	keyFile, secretFile := filepath.Join(dir, "api-key"), filepath.Join(dir, "secret-key")
	for file, content := range map[string]string{keyFile: siteKey, secretFile: siteSecret} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, args := range map[string][]string{
		"key files": {"--acqueon.url=" + feed.String(), "--acqueon.user=" + siteUser,
			"--acqueon.api-key-file=" + keyFile, "--acqueon.secret-key-file=" + secretFile},
		"demo": {"--demo"},
	} {
		t.Run(name, func(t *testing.T) {
			base, stop := serveForTest(t, args...)
			defer stop()
			m := scrape(t, base)
			for _, want := range []string{
				"\nacqueon_exporter_token_refreshes_total 0\n",
				"\nacqueon_exporter_token_refresh_failures_total 0\n",
			} {
				if !strings.Contains(m, want) {
					t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
				}
			}
			if strings.Contains(m, "acqueon_exporter_token_expiry_timestamp_seconds") {
				t.Error("/metrics has a token expiry without an IDP")
			}
		})
	}
}
