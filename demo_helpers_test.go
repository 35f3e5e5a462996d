package main

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

// runDemoSession runs a feed session against a started demo until the
// test ends, handing frames to h and registering its metrics on reg.
// Back-off is short, so a dropped session comes back at once.
func runDemoSession(t *testing.T, demo *demoFeed, h wsclient.Handler, reg prometheus.Registerer) *wsclient.Client {
	t.Helper()
	client, err := wsclient.New(wsclient.Config{
		URL:         demo.url,
		User:        demo.user,
		Credentials: demo.credentials,
		Location:    time.UTC,
		MinBackoff:  time.Millisecond,
		MaxBackoff:  10 * time.Millisecond,
		Registerer:  reg,
	}, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- client.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return client
}
