package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acqueon-exporter/acqueon_exporter/capture"
	"github.com/acqueon-exporter/acqueon_exporter/collector"
)

// serveForTest runs serve with args until the test ends; it returns the
// base URL of the HTTP server and a function that stops serve.
func serveForTest(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	addr := freeListenAddress(t)
	var opts options
	args = append(args, "--web.listen-address="+addr, "--acqueon.ping-interval=1s")
	if _, err := newApp(&opts, io.Discard, io.Discard).Parse(args); err != nil {
		t.Fatal(err)
	}
	mapping, err := collector.LoadMapping(opts.mappingFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, &opts, mapping, slog.New(slog.DiscardHandler)) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	base := "http://" + addr
	eventually(t, "a ready exporter", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base, stop
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func TestServeRecordsReloadsAndReplays(t *testing.T) {
	dir := t.TempDir()
	capturePath, mappingFile := filepath.Join(dir, "capture.jsonl"), filepath.Join(dir, "mapping.yml")
	defaultText := string(collector.DefaultMapping())
	writeSiteFile(t, mappingFile, defaultText)

	base, stop := serveForTest(t, "--demo", "--demo.push-interval=20ms", "--record.file="+capturePath,
		"--web.enable-lifecycle", "--mapping.file="+mappingFile)
	eventually(t, "queue series", func() bool { return strings.Contains(scrape(t, base), "acqueon_queue_calls_waiting{") })

	writeSiteFile(t, mappingFile, strings.ReplaceAll(defaultText,
		"name: acqueon_queue_calls_waiting\n", "name: acqueon_queue_calls_waiting_now\n"))
	if code, body := postReload(t, base+"/-/reload"); code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, body)
	}
	eventually(t, "the renamed metric", func() bool {
		return strings.Contains(scrape(t, base), "acqueon_queue_calls_waiting_now{")
	})
	if m := scrape(t, base); !strings.Contains(m, "acqueon_exporter_config_last_reload_successful 1") {
		t.Errorf("reload metrics:\n%s", m)
	}
	stop()

	frames := 0
	if err := capture.ReadFile(capturePath, func(capture.Record) error { frames++; return nil }); err != nil || frames < 3 {
		t.Fatalf("capture: %d frames, %v", frames, err)
	}

	base, stop = serveForTest(t, "--demo.replay="+capturePath, "--demo.replay-speed=0", "--mapping.file="+mappingFile)
	defer stop()
	eventually(t, "replayed series", func() bool { return strings.Contains(scrape(t, base), "acqueon_queue_calls_waiting_now{") })
	resp, err := http.Post(base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("reload without --web.enable-lifecycle: %s, want 403", resp.Status)
	}
}
