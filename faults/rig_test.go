package faults

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
	"github.com/acqueon-exporter/acqueon_exporter/collector"
	"github.com/acqueon-exporter/acqueon_exporter/internal/testkit"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

// TestMain fails the suite if any goroutine outlives it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	feedUser      = "FAULTS"
	feedAPIKey    = "fault-api-key-7c1e"
	feedSecretKey = "fault-secret-key-93ab"

	// waitTimeout bounds every wait for a condition.
	waitTimeout = 15 * time.Second
	// Short timings of the session under test.
	pingInterval = 100 * time.Millisecond
	minBackoff   = 10 * time.Millisecond
	maxBackoff   = 100 * time.Millisecond
	// recoveryBudget is how long a session may take to come back once a
	// fault is over: the longest back-off, a handshake and the connection
	// event on a loaded CI machine running the race detector.
	recoveryBudget = maxBackoff + 5*time.Second
	// heapLimit is a generous bound on the heap in use after a fault and
	// a garbage collection.
	heapLimit = 256 << 20
)

// feedPassword is the password the simulator accepts.
var feedPassword = base64.StdEncoding.EncodeToString([]byte(feedAPIKey + ":" + feedSecretKey))

// defaultPayload is a small contact center: two campaigns, a queue and an
// agent.
const defaultPayload = `{"Timestamp": 1764770645123,
 "Campaigns": [
  {"CampaignId": "101", "CampaignName": "Collections East", "CampaignGroupId": "12",
   "CampaignGroupName": "Collections", "Status": "Running", "DialingMode": "Predictive",
   "Attempts": 38000, "Connects": 9100, "ActiveCalls": 61, "AbandonRate": 1.32},
  {"CampaignId": "102", "CampaignName": "Collections West", "CampaignGroupId": "12",
   "CampaignGroupName": "Collections", "Status": "Paused", "DialingMode": "Preview",
   "Attempts": 1200, "Connects": 300, "ActiveCalls": 0, "AbandonRate": 0}],
 "Queues": [{"QueueId": "7", "QueueName": "Billing", "CallsWaiting": 3, "ServiceLevel": 87.5}],
 "Agents": [{"AgentId": "a-1001", "AgentName": "J. Doe", "State": "Talking", "ReasonCode": "",
   "StateDuration": 125, "CampaignGroupId": "12"}]}`

type fakeClock = testkit.Clock

type logBuffer = testkit.LogBuffer

// feed is the simulator behind a listener that the test can take down
// and bring back on the same port.
type feed struct {
	sim     *simulator.Server
	payload atomic.Pointer[[]byte]
	tls     *tls.Config // nil for plain ws://
	addr    string

	mu  sync.Mutex
	srv *http.Server
}

// feedOptions change the simulator's configuration before it starts.
type feedOptions struct {
	sim func(*simulator.Config)
	tls *tls.Config
}

// startFeed runs a simulator on a loopback port that pushes the feed's
// current payload every 50ms.
func startFeed(t *testing.T, opts feedOptions) *feed {
	t.Helper()
	f := &feed{tls: opts.tls}
	f.setPayload([]byte(defaultPayload))
	cfg := simulator.Config{
		User:         feedUser,
		APIKey:       feedAPIKey,
		SecretKey:    feedSecretKey,
		PushInterval: 50 * time.Millisecond,
		Payload:      func(time.Time, int) []byte { return *f.payload.Load() },
	}
	if opts.sim != nil {
		opts.sim(&cfg)
	}
	f.sim = simulator.New(cfg)
	f.up(t)
	t.Cleanup(func() {
		f.sim.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.srv != nil {
			f.srv.Close()
		}
	})
	return f
}

func (f *feed) setPayload(data []byte) { f.payload.Store(&data) }

// up listens on the feed's port (a new one the first time) and serves.
func (f *feed) up(t *testing.T) {
	t.Helper()
	addr := f.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var (
		ln  net.Listener
		err error
	)
	// The port was just released; give the kernel a moment if needed.
	deadline := time.Now().Add(waitTimeout)
	for {
		ln, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	f.addr = ln.Addr().String()
	srv := &http.Server{
		Handler:           f.sim,
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         f.tls,
		// Refused TLS handshakes are expected; keep them out of the output.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go func() {
		if f.tls != nil {
			_ = srv.ServeTLS(ln, "", "")
		} else {
			_ = srv.Serve(ln)
		}
	}()
}

// down closes the listener and drops every open socket: the server is gone.
func (f *feed) down() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	f.sim.DropAll()
}

// url returns the feed's websocket URL on /AEDataTransmitter.
func (f *feed) url() *url.URL {
	scheme := "ws"
	if f.tls != nil {
		scheme = "wss"
	}
	return &url.URL{Scheme: scheme, Host: f.addr, Path: protocol.PathDataTransmitter}
}

// exporter is the exporter's pieces wired as main.go wires them, with
// /metrics, served by the collector's Gatherer, on a loopback HTTP server.
type exporter struct {
	client *wsclient.Client
	coll   *collector.Collector
	reg    *prometheus.Registry
	web    *httptest.Server
	logs   *logBuffer

	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan error
}

// exporterOptions change the defaults of startExporter.
type exporterOptions struct {
	url         *url.URL
	credentials auth.Source
	clock       *fakeClock
	client      func(*wsclient.Config)
	collector   func(*collector.Options)
	// register adds collectors besides the session's and the collector.
	register []prometheus.Collector
	// logs receives the log; nil means a new buffer.
	logs *logBuffer
}

// testLogger logs at debug level, as text, to b.
func testLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startExporter builds and runs the exporter against opts.url.
func startExporter(t *testing.T, opts exporterOptions) *exporter {
	t.Helper()
	e := &exporter{reg: prometheus.NewRegistry(), logs: opts.logs, done: make(chan error, 1)}
	if e.logs == nil {
		e.logs = &logBuffer{}
	}
	logger := testLogger(e.logs)

	collOpts := collector.Options{
		EntityTTL: time.Minute,
		Logger:    logger.With("component", "collector"),
	}
	if opts.clock != nil {
		collOpts.Now = opts.clock.Now
	}
	if opts.collector != nil {
		opts.collector(&collOpts)
	}
	coll, err := collector.New(collOpts)
	if err != nil {
		t.Fatalf("collector.New: %v", err)
	}
	e.coll = coll
	// As in main.go, the collector is not registered: /metrics is served
	// by its Gatherer, which adds the feed's metrics to the registry's.
	e.reg.MustRegister(opts.register...)

	creds := opts.credentials
	if creds == nil {
		creds = auth.NewStatic(feedPassword)
	}
	cfg := wsclient.Config{
		URL:                    opts.url,
		User:                   feedUser,
		Credentials:            creds,
		Location:               time.UTC,
		HandshakeTimeout:       time.Second,
		ConnectionEventTimeout: time.Second,
		PingInterval:           pingInterval,
		ReadLimit:              1 << 20,
		MinBackoff:             minBackoff,
		MaxBackoff:             maxBackoff,
		CloseTimeout:           200 * time.Millisecond,
		Logger:                 logger.With("component", "session"),
		Registerer:             e.reg,
	}
	if opts.clock != nil {
		cfg.Now = opts.clock.Now
	}
	if opts.client != nil {
		opts.client(&cfg)
	}
	client, err := wsclient.New(cfg, coll)
	if err != nil {
		t.Fatalf("wsclient.New: %v", err)
	}
	e.client = client

	e.web = httptest.NewServer(promhttp.HandlerForTransactional(coll.Gatherer(e.reg), promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 40,
		Timeout:             10 * time.Second,
		Registry:            e.reg,
	}))
	t.Cleanup(e.web.Close)

	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- client.Run(ctx) }()
	t.Cleanup(func() { e.stop(t) })
	return e
}

// stop ends the session and waits for Run to return.
func (e *exporter) stop(t *testing.T) {
	t.Helper()
	e.stopOnce.Do(func() {
		e.cancel()
		select {
		case err := <-e.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("Run did not return after its context ended")
		}
	})
}

// scrape fetches and parses /metrics.
func (e *exporter) scrape() (metrics, error) {
	resp, err := http.Get(e.web.URL + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics answered %s: %s", resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	return metrics(families), nil
}

// mustScrape is scrape that fails the test on an error.
func (e *exporter) mustScrape(t *testing.T) metrics {
	t.Helper()
	m, err := e.scrape()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// metrics is one scrape, parsed.
type metrics map[string]*dto.MetricFamily

// value returns the value of the series of name whose labels include the
// given name/value pairs, and whether there is one.
func (m metrics) value(name string, labels ...string) (float64, bool) {
	f := m[name]
	if f == nil {
		return 0, false
	}
	for _, s := range f.GetMetric() {
		if hasLabels(s, labels) {
			switch {
			case s.Counter != nil:
				return s.GetCounter().GetValue(), true
			case s.Gauge != nil:
				return s.GetGauge().GetValue(), true
			default:
				return s.GetUntyped().GetValue(), true
			}
		}
	}
	return 0, false
}

// get is value with 0 for a missing series.
func (m metrics) get(name string, labels ...string) float64 {
	v, _ := m.value(name, labels...)
	return v
}

// count returns how many series name has.
func (m metrics) count(name string) int {
	if f := m[name]; f != nil {
		return len(f.GetMetric())
	}
	return 0
}

// vendorSeries counts the series of the vendor metrics
// (acqueon_campaign_*, acqueon_queue_*, acqueon_agent_*).
func (m metrics) vendorSeries() int {
	n := 0
	for name, f := range m {
		for _, p := range []string{"acqueon_campaign_", "acqueon_queue_", "acqueon_agent_"} {
			if strings.HasPrefix(name, p) {
				n += len(f.GetMetric())
			}
		}
	}
	return n
}

func hasLabels(s *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range s.GetLabel() {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// waitMetrics scrapes until cond holds for a scrape, and returns that
// scrape. what says what is awaited, for the failure message.
func (e *exporter) waitMetrics(t *testing.T, what string, timeout time.Duration, cond func(metrics) bool) metrics {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		m, err := e.scrape()
		if err == nil && cond(m) {
			return m
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s (last scrape error: %v)\nlog:\n%s",
				timeout, what, lastErr, tail(e.logs.String(), 40))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitUp waits for a live session with vendor series.
func (e *exporter) waitUp(t *testing.T) metrics {
	t.Helper()
	return e.waitMetrics(t, "the session is up with vendor series", waitTimeout, func(m metrics) bool {
		return m.get("acqueon_up") == 1 && m.get("acqueon_exporter_connection_state", "state", "connected") == 1 &&
			m.vendorSeries() > 0
	})
}

// waitLog waits until the log holds every one of parts on one line.
func (e *exporter) waitLog(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		for line := range strings.SplitSeq(e.logs.String(), "\n") {
			if containsAll(line, parts) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q\nlog:\n%s", parts, tail(e.logs.String(), 40))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// scraper scrapes /metrics in the background while a fault lasts.
type scraper struct {
	e        *exporter
	stopCh   chan struct{}
	done     chan struct{}
	ok       atomic.Int64
	failures atomic.Int64
	slowest  atomic.Int64 // nanoseconds
	mu       sync.Mutex
	firstErr error
}

// scrapeDuring starts scraping every 20ms until the returned scraper's
// check is called.
func (e *exporter) scrapeDuring() *scraper {
	s := &scraper{e: e, stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			start := time.Now()
			_, err := e.scrape()
			took := time.Since(start)
			if took.Nanoseconds() > s.slowest.Load() {
				s.slowest.Store(took.Nanoseconds())
			}
			if err != nil {
				s.failures.Add(1)
				s.mu.Lock()
				if s.firstErr == nil {
					s.firstErr = err
				}
				s.mu.Unlock()
			} else {
				s.ok.Add(1)
			}
			select {
			case <-s.stopCh:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return s
}

// check stops scraping and fails the test if any scrape failed or none
// was made.
func (s *scraper) check(t *testing.T) {
	t.Helper()
	close(s.stopCh)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.failures.Load(); n > 0 {
		t.Errorf("%d scrapes during the fault failed; the first: %v", n, s.firstErr)
	}
	if s.ok.Load() == 0 {
		t.Errorf("no scrape succeeded during the fault")
	}
	t.Logf("scrapes during the fault: %d, slowest %s", s.ok.Load(), time.Duration(s.slowest.Load()))
}

// checkHeap fails the test if, after a garbage collection, the heap in
// use exceeds heapLimit.
func checkHeap(t *testing.T) {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > heapLimit {
		t.Errorf("heap in use after the fault: %d MiB, over %d MiB", ms.HeapAlloc>>20, heapLimit>>20)
	}
}

// checkRecovered waits until the session is back within recoveryBudget of
// since, with vendor series.
func (e *exporter) checkRecovered(t *testing.T, since time.Time) metrics {
	t.Helper()
	e.waitMetrics(t, "the session came back", recoveryBudget, func(m metrics) bool {
		return m.get("acqueon_up") == 1 && m.vendorSeries() > 0
	})
	t.Logf("session back %s after the fault ended", time.Since(since).Round(time.Millisecond))
	// A registry collects the session's metrics one by one while the
	// session changes them, so the scrape that saw acqueon_up turn 1 may
	// hold the reconnect counter from just before; the next one has it.
	return e.mustScrape(t)
}

// connected is the usual start of a fault test: a feed, an exporter on
// it, and a session that is up.
func connected(t *testing.T, fo feedOptions, eo exporterOptions) (*feed, *exporter, metrics) {
	t.Helper()
	f := startFeed(t, fo)
	if eo.url == nil {
		eo.url = f.url()
	}
	e := startExporter(t, eo)
	return f, e, e.waitUp(t)
}
