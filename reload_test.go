package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
	"github.com/acqueon-exporter/acqueon_exporter/collector"
	"github.com/acqueon-exporter/acqueon_exporter/internal/testkit"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

type syncBuffer = testkit.LogBuffer

type reloadClock = testkit.Clock

// reloadMetrics returns the reload gauges.
func reloadMetrics(t *testing.T, reg *prometheus.Registry) (successful, at float64) {
	t.Helper()
	successful, ok1 := gaugeValue(t, reg, "acqueon_exporter_config_last_reload_successful")
	at, ok2 := gaugeValue(t, reg, "acqueon_exporter_config_last_reload_success_timestamp_seconds")
	if !ok1 || !ok2 {
		t.Fatal("reload metrics missing")
	}
	return successful, at
}

func writeSiteFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// lineOf returns the 1-based line of text that contains s.
func lineOf(text, s string) int {
	for i, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			return i + 1
		}
	}
	return 0
}

func postReload(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestReloadSwapsTheMappingWhileTheSessionStaysUp(t *testing.T) {
	sim, feed := startSiteFeed(t, simulator.Config{
		PushInterval: 20 * time.Millisecond,
		Tenant:       simulator.TenantConfig{Seed: 5},
	})
	dir := t.TempDir()
	mappingFile := filepath.Join(dir, "mapping.yml")
	defaultText := string(collector.DefaultMapping())
	writeSiteFile(t, mappingFile, defaultText)
	mapping, err := collector.LoadMapping(mappingFile)
	if err != nil {
		t.Fatal(err)
	}
	coll, err := collector.New(collector.Options{Mapping: mapping})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(coll.Unchecked())
	started := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	clock := testkit.NewClock(started)
	logs := &syncBuffer{}
	reload, err := newReloader(reloaderConfig{
		MappingFile: mappingFile,
		Collector:   coll,
		Logger:      slog.New(slog.NewTextHandler(logs, nil)),
		Now:         clock.Now,
	}, reg)
	if err != nil {
		t.Fatal(err)
	}
	if ok, at := reloadMetrics(t, reg); ok != 1 || at != float64(started.Unix()) {
		t.Errorf("at start: successful %v at %v, want 1 at %v", ok, at, started.Unix())
	}
	api := httptest.NewServer(reload.handler(true))
	defer api.Close()

	client, _ := runSiteSession(t, feed, auth.NewStatic(sitePassword(siteKey, siteSecret)), coll)
	eventually(t, "queue series", func() bool {
		return strings.Contains(vendorExposition(t, coll.Unchecked()), "acqueon_queue_calls_waiting{")
	})
	before := sim.Sessions()

	// A valid mapping with a renamed metric applies from the next frame.
	writeSiteFile(t, mappingFile, strings.ReplaceAll(defaultText,
		"name: acqueon_queue_calls_waiting\n", "name: acqueon_queue_calls_waiting_now\n"))
	clock.Set(started.Add(time.Hour))
	if code, body := postReload(t, api.URL); code != http.StatusOK {
		t.Fatalf("valid mapping: %d %s", code, body)
	}
	eventually(t, "the renamed metric", func() bool {
		text := vendorExposition(t, coll.Unchecked())
		return strings.Contains(text, "acqueon_queue_calls_waiting_now{") &&
			!strings.Contains(text, "acqueon_queue_calls_waiting{")
	})
	if ok, at := reloadMetrics(t, reg); ok != 1 || at != float64(started.Add(time.Hour).Unix()) {
		t.Errorf("after a valid reload: successful %v at %v", ok, at)
	}

	// An invalid one is refused with file and line; the last good one stays.
	invalid := strings.ReplaceAll(defaultText, "name: acqueon_queue_oldest_call_age_seconds\n",
		"name: acqueon_queue_oldest_call_age_seconds_total\n")
	writeSiteFile(t, mappingFile, invalid)
	clock.Set(started.Add(2 * time.Hour))
	code, body := postReload(t, api.URL)
	wantWhere := fmt.Sprintf("%s:%d:", mappingFile, lineOf(invalid, "acqueon_queue_oldest_call_age_seconds_total"))
	if code != http.StatusInternalServerError || !strings.Contains(body, wantWhere) || !strings.Contains(body, "_total") {
		t.Errorf("invalid mapping: %d %q, want 500 naming %s", code, body, wantWhere)
	}
	if !strings.Contains(logs.String(), wantWhere) {
		t.Errorf("the log does not name %s:\n%s", wantWhere, logs.String())
	}
	if ok, at := reloadMetrics(t, reg); ok != 0 || at != float64(started.Add(time.Hour).Unix()) {
		t.Errorf("after a refused reload: successful %v at %v, want 0 at the last success", ok, at)
	}
	pushed := sim.Sessions()[0].Pushed
	eventually(t, "more frames", func() bool { return sim.Sessions()[0].Pushed > pushed+2 })
	if text := vendorExposition(t, coll.Unchecked()); !strings.Contains(text, "acqueon_queue_calls_waiting_now{") {
		t.Errorf("the last good mapping is gone:\n%s", text)
	}

	// One session all along.
	after := sim.Sessions()
	if len(after) != 1 || after[0].Name != before[0].Name || after[0].SessionID != before[0].SessionID ||
		!after[0].Disconnected.IsZero() || !client.Ready() {
		t.Errorf("sessions before %+v, after %+v", before, after)
	}
}

func TestSIGHUPReloads(t *testing.T) {
	dir := t.TempDir()
	mappingFile := filepath.Join(dir, "mapping.yml")
	writeSiteFile(t, mappingFile, "messages: {}\n")
	coll, err := collector.New(collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reload, err := newReloader(reloaderConfig{MappingFile: mappingFile, Collector: coll}, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload.watchSignals(ctx)

	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refused reload", func() bool {
		ok, _ := reloadMetrics(t, reg)
		return ok == 0
	})
	writeSiteFile(t, mappingFile, string(collector.DefaultMapping()))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the successful reload", func() bool {
		ok, _ := reloadMetrics(t, reg)
		return ok == 1
	})
}

func TestReloadEndpointFollowsPrometheus(t *testing.T) {
	coll, err := collector.New(collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reload, err := newReloader(reloaderConfig{Collector: coll}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		enabled bool
		method  string
		want    int
	}{
		{false, http.MethodPost, http.StatusForbidden},
		{false, http.MethodGet, http.StatusMethodNotAllowed},
		{true, http.MethodGet, http.StatusMethodNotAllowed},
		{true, http.MethodPost, http.StatusOK},
		{true, http.MethodPut, http.StatusOK},
	} {
		rec := httptest.NewRecorder()
		reload.handler(tc.enabled).ServeHTTP(rec, httptest.NewRequest(tc.method, "/-/reload", nil))
		if rec.Code != tc.want {
			t.Errorf("lifecycle %v, %s: %d %q, want %d", tc.enabled, tc.method, rec.Code, rec.Body, tc.want)
		}
	}
}

func TestARotatedAPIKeyFileIsUsedAtTheNextConnect(t *testing.T) {
	accepted := map[string]bool{sitePassword("key-1", "secret-1"): true, sitePassword("key-2", "secret-2"): true}
	sim, feed := startSiteFeed(t, simulator.Config{
		User:         siteUser,
		PushInterval: 20 * time.Millisecond,
		Authenticate: func(_ protocol.Form, password string) bool { return accepted[password] },
	})
	dir := t.TempDir()
	keyFile, secretFile := filepath.Join(dir, "api-key"), filepath.Join(dir, "secret-key")
	writeSiteFile(t, keyFile, "key-1\n")
	writeSiteFile(t, secretFile, "secret-1\n")
	src, err := apiKeySource(keyFile, secretFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	coll, err := collector.New(collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reload, err := newReloader(reloaderConfig{
		Collector: coll,
		Secrets:   credentialRefs(&options{apiKeyFile: keyFile, secretKeyFile: secretFile}),
	}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runSiteSession(t, feed, src, coll)
	eventually(t, "a session", func() bool { s := sim.Sessions(); return len(s) == 1 && s[0].Initialized })

	writeSiteFile(t, keyFile, "key-2\n")
	writeSiteFile(t, secretFile, "secret-2\n")
	if err := reload.Reload(); err != nil {
		t.Fatalf("reload with rotated files: %v", err)
	}
	if n := sim.DropAll(); n != 1 {
		t.Fatalf("dropped %d sessions", n)
	}
	eventually(t, "a second session", func() bool { s := sim.Sessions(); return len(s) == 2 && s[1].Initialized })

	sessions := sim.Sessions()
	for i, want := range []string{sitePassword("key-1", "secret-1"), sitePassword("key-2", "secret-2")} {
		wantHeader := "Basic " + base64.StdEncoding.EncodeToString([]byte(sessions[i].Name+":"+want))
		if sessions[i].Authorization != wantHeader {
			t.Errorf("session %d authorized with %q, want the password of key-%d", i, sessions[i].Authorization, i+1)
		}
	}

	// A credential file that can no longer be read fails the reload.
	if err := os.Remove(secretFile); err != nil {
		t.Fatal(err)
	}
	if err := reload.Reload(); err == nil || !strings.Contains(err.Error(), "secret key") {
		t.Errorf("reload without the secret key file: %v", err)
	}
}

func TestReloadChecksTheIDPPasswordFile(t *testing.T) {
	var opts options
	passwordFile := filepath.Join(t.TempDir(), "idp-password")
	_, err := newApp(&opts, io.Discard, io.Discard).Parse([]string{
		"--acqueon.url=wss://feed.example:4747/AEDataTransmitter", "--acqueon.user=site",
		"--acqueon.idp.issuer-url=https://idp.example", "--acqueon.idp.client-id=exporter",
		"--acqueon.idp.username=watcher", "--acqueon.idp.password-file=" + passwordFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	refs := credentialRefs(&opts)
	if len(refs) != 1 || refs[0].File != passwordFile {
		t.Fatalf("credentials checked at reload: %+v", refs)
	}
	coll, err := collector.New(collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reload, err := newReloader(reloaderConfig{Collector: coll, Secrets: refs}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := reload.Reload(); err == nil || !strings.Contains(err.Error(), "IDP password") {
		t.Errorf("reload without the IDP password file: %v", err)
	}
	writeSiteFile(t, passwordFile, "rotated\n")
	if err := reload.Reload(); err != nil {
		t.Errorf("reload with the IDP password file: %v", err)
	}
}
