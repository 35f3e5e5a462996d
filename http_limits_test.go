package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
	"github.com/acqueon-exporter/acqueon_exporter/collector"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

// blockingCollector holds every Collect until released, so that scrapes
// stay in flight as long as a test needs.
type blockingCollector struct {
	desc    *prometheus.Desc
	entered chan struct{}
	release chan struct{}
}

func (c *blockingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *blockingCollector) Collect(ch chan<- prometheus.Metric) {
	c.entered <- struct{}{}
	<-c.release
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1)
}

func TestScrapesBeyondMaxRequestsGet503(t *testing.T) {
	const limit = 2
	block := &blockingCollector{
		desc:    prometheus.NewDesc("test_blocking", "Blocks.", nil, nil),
		entered: make(chan struct{}, limit+1),
		release: make(chan struct{}),
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(block)
	coll, err := collector.New(collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	session, err := wsclient.New(wsclient.Config{
		URL:         &url.URL{Scheme: "ws", Host: "127.0.0.1:1", Path: protocol.PathDataTransmitter},
		User:        "limits",
		Credentials: auth.NewStatic("unused"),
	}, coll)
	if err != nil {
		t.Fatal(err)
	}
	opts := &options{telemetryPath: "/metrics", maxRequests: limit, scrapeTimeout: 10 * time.Second}
	srv := httptest.NewServer(newHandler(opts, registry, coll.Gatherer(registry), session, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(block.release) }) }
	defer release() // before srv.Close, which waits for the blocked scrapes

	var wg sync.WaitGroup
	codes := make(chan int, limit)
	for range limit {
		wg.Go(func() {
			resp, err := http.Get(srv.URL + "/metrics")
			if err != nil {
				t.Error(err)
				codes <- 0
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	for range limit {
		select {
		case <-block.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the scrapes within the limit never reached the collector")
		}
	}

	// Without a limit this scrape would wait for the blocked ones.
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatalf("scrape %d of a limit of %d: %v, want 503 at once", limit+1, limit, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("scrape %d of a limit of %d answered %s, want 503", limit+1, limit, resp.Status)
	}
	// Health checks are no scrapes and are not limited.
	if health, err := http.Get(srv.URL + "/-/healthy"); err != nil || health.StatusCode != http.StatusOK {
		t.Errorf("/-/healthy during full scrapes: %v %v", health, err)
	} else {
		health.Body.Close()
	}

	release()
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("a scrape within the limit answered %d, want 200", code)
		}
	}
}

// freeListenAddress returns a loopback address with a port that was free
// a moment ago.
func freeListenAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSlowHeadersAreCutByTheReadHeaderTimeout runs the real HTTP server
// of serve and plays a slowloris client: it opens a connection and sends
// its headers a few bytes at a time, never finishing them. The server must
// close the connection once its header timeout has passed, and keep
// serving scrapes meanwhile.
func TestSlowHeadersAreCutByTheReadHeaderTimeout(t *testing.T) {
	t.Parallel()
	const headerTimeout = 2 * time.Second
	addr := freeListenAddress(t)
	var opts options
	if _, err := newApp(&opts, io.Discard, io.Discard).Parse([]string{
		"--demo", "--demo.push-interval=100ms", "--web.listen-address=" + addr,
		"--web.read-header-timeout=" + headerTimeout.String(),
	}); err != nil {
		t.Fatal(err)
	}
	mapping, err := collector.LoadMapping("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, &opts, mapping, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	waitHTTP(t, "http://"+addr+"/-/healthy")

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	opened := time.Now()
	if _, err := fmt.Fprintf(conn, "GET /metrics HTTP/1.1\r\nHost: %s\r\n", addr); err != nil {
		t.Fatal(err)
	}

	// Trickle a header that never ends, a byte every 100ms, until the
	// server hangs up.
	closed := make(chan time.Duration, 1)
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(conn))
		closed <- time.Since(opened)
	}()
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	scraped := false
	for {
		select {
		case took := <-closed:
			if took < headerTimeout-100*time.Millisecond {
				t.Errorf("the slow client was cut after %s, before the %s header timeout", took, headerTimeout)
			}
			if !scraped {
				t.Error("no scrape was served while the slow client was connected")
			}
			t.Logf("slow client cut after %s", took.Round(time.Millisecond))
			return
		case <-ticker.C:
			if time.Since(opened) > 5*headerTimeout {
				t.Fatalf("the server still holds a connection whose headers never ended after %s", 5*headerTimeout)
			}
			if _, err := conn.Write([]byte("X")); err != nil && !errors.Is(err, net.ErrClosed) {
				// A reset from the server is also a cut; the reader reports when.
				continue
			}
			if !scraped {
				resp, err := http.Get("http://" + addr + "/metrics")
				if err == nil {
					scraped = resp.StatusCode == http.StatusOK
					resp.Body.Close()
				}
			}
		}
	}
}

// waitHTTP polls u until it answers 200.
func waitHTTP(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 20s: %v", u, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
