package faults

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
	"github.com/acqueon-exporter/acqueon_exporter/auth/idptest"
	"github.com/acqueon-exporter/acqueon_exporter/internal/testkit"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

func TestDuplicateLoginIsRefusedAndTheNextNameIsAccepted(t *testing.T) {
	// Two exporters whose clocks agree to the second pick the same session
	// name: the server takes the first and refuses the second as a
	// duplicate login.
	start := time.Unix(1_764_770_645, 0)
	f, first, _ := connected(t, feedOptions{}, exporterOptions{clock: testkit.NewClock(start)})
	second := startExporter(t, exporterOptions{url: f.url(), clock: testkit.NewClock(start)})

	m := second.waitUp(t)
	if got := m.get("acqueon_exporter_connect_failures_total", "reason", "auth_rejected"); got != 1 {
		t.Errorf("connect_failures_total{reason=auth_rejected} %v, want 1 for the duplicate", got)
	}
	second.waitLog(t, "cannot connect to the feed", "reason=auth_rejected", "403")
	refused := 0
	for _, s := range f.sim.Sessions() {
		if s.Refused == "duplicate login" {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("the server refused %d duplicate logins, want 1", refused)
	}
	if first.mustScrape(t).get("acqueon_up") != 1 {
		t.Error("the first exporter lost its session")
	}
}

// rejectionCounter is a credential source that counts the feed's refusals.
type rejectionCounter struct {
	auth.Source
	rejected atomic.Int32
}

func (r *rejectionCounter) Rejected() {
	r.rejected.Add(1)
	r.Source.Rejected()
}

// sleepLog is a wsclient Config.Sleep that records its waits and waits
// for real.
type sleepLog struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepLog) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func (s *sleepLog) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

func TestRefusedCredentialBacksOffWithGrowingDelays(t *testing.T) {
	for _, refusal := range []simulator.Refusal{simulator.RefuseWithStatus, simulator.RefuseAfterUpgrade} {
		t.Run(refusal.String(), func(t *testing.T) {
			creds := &rejectionCounter{Source: auth.NewStatic(feedPassword)}
			sleeps := &sleepLog{}
			f, e, _ := connected(t,
				feedOptions{sim: func(c *simulator.Config) { c.Refusal = refusal }},
				exporterOptions{credentials: creds, client: func(c *wsclient.Config) {
					c.Sleep = sleeps.sleep
					c.Random = func() float64 { return 0.999 } // the top of each jitter range
				}})
			s := e.scrapeDuring()
			f.sim.SetFaults(simulator.Faults{RejectCredentials: true})
			f.sim.DropAll()

			m := e.waitMetrics(t, "refusals counted", waitTimeout, func(m metrics) bool {
				return m.get("acqueon_exporter_connect_failures_total", "reason", "auth_rejected") >= 6
			})
			if m.get("acqueon_up") != 0 {
				t.Error("acqueon_up is not 0 while the credential is refused")
			}
			e.waitLog(t, "cannot connect to the feed", "reason=auth_rejected")
			if creds.rejected.Load() == 0 {
				t.Error("the credential source was never told of a refusal")
			}

			f.sim.SetFaults(simulator.Faults{})
			e.checkRecovered(t, time.Now())
			s.check(t)

			// The waits after refusals grow from MinBackoff to MaxBackoff.
			waits := sleeps.recorded()
			if len(waits) < 6 {
				t.Fatalf("only %d waits recorded: %v", len(waits), waits)
			}
			for i := 1; i < 5; i++ {
				if waits[i] < waits[i-1] {
					t.Errorf("wait %d (%s) shorter than the one before (%s): %v", i, waits[i], waits[i-1], waits)
				}
			}
			if waits[0] > 2*minBackoff || waits[4] < maxBackoff*9/10 {
				t.Errorf("waits %v do not grow from about %s to about %s", waits[:5], minBackoff, maxBackoff)
			}
		})
	}
}

// idpFault is how the IDP in front of the test's provider misbehaves.
type idpFault int32

const (
	idpOK idpFault = iota
	idpError
	idpSlow
	idpDown // every connection is closed without an answer
)

// faultyIDP serves an idptest provider on loopback behind a switch that
// makes it fail.
type faultyIDP struct {
	*idptest.IDP
	url   string
	fault atomic.Int32
}

func startFaultyIDP(t *testing.T, cfg idptest.Config) *faultyIDP {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	cfg.Issuer = "http://" + srv.Listener.Addr().String()
	p := &faultyIDP{IDP: idptest.New(cfg), url: cfg.Issuer}
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch idpFault(p.fault.Load()) {
		case idpError:
			http.Error(w, "internal error", http.StatusInternalServerError)
		case idpSlow:
			// Slower than the exporter's HTTP client waits.
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			http.Error(w, "too late", http.StatusGatewayTimeout)
		case idpDown:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				conn.Close()
			}
		default:
			p.IDP.ServeHTTP(w, r)
		}
	})
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

func (p *faultyIDP) set(f idpFault) { p.fault.Store(int32(f)) }

const (
	idpUser     = "feed-reader"
	idpPassword = "idp-password-5e0b1c"
)

// newIDPSource returns the exporter's IDP credential source for p, on the
// password grant, logging to logs.
func newIDPSource(t *testing.T, p *faultyIDP, e *logBuffer) *auth.IDP {
	t.Helper()
	src, err := auth.NewIDP(auth.IDPConfig{
		IssuerURL: p.url,
		ClientID:  "acqueon-exporter",
		Username:  idpUser,
		Password: auth.SecretRef{Name: "IDP password", Env: "FAULTS_IDP_PASSWORD",
			LookupEnv: func(string) (string, bool) { return idpPassword, true }},
		Grant:      auth.GrantPassword,
		HTTPClient: &http.Client{Timeout: 300 * time.Millisecond},
		Logger:     testLogger(e).With("component", "idp"),
	})
	if err != nil {
		t.Fatalf("auth.NewIDP: %v", err)
	}
	return src
}

// idpFeed returns a feed that accepts the tokens of p.
func idpFeed(t *testing.T, p *faultyIDP) *feed {
	t.Helper()
	return startFeed(t, feedOptions{sim: func(c *simulator.Config) {
		c.Authenticate = func(form protocol.Form, password string) bool {
			return p.ValidFeedPassword(password, form)
		}
	}})
}

func TestIDPFailuresAreCredentialFailuresAndTheSessionComesBackWithTheIDP(t *testing.T) {
	p := startFaultyIDP(t, idptest.Config{Users: map[string]string{idpUser: idpPassword}, PasswordGrant: true})
	f := idpFeed(t, p)
	logs := &logBuffer{}
	src := newIDPSource(t, p, logs)
	p.set(idpError) // before the first connect
	e := startExporter(t, exporterOptions{url: f.url(), credentials: src, logs: logs,
		register: []prometheus.Collector{src}})
	s := e.scrapeDuring()

	for _, fault := range []struct {
		name  string
		fault idpFault
	}{
		{"error 500", idpError},
		{"slow", idpSlow},
		{"down", idpDown},
	} {
		p.set(fault.fault)
		was := e.mustScrape(t).get("acqueon_exporter_connect_failures_total", "reason", "credentials")
		m := e.waitMetrics(t, "credential failures while the IDP is "+fault.name, waitTimeout, func(m metrics) bool {
			return m.get("acqueon_exporter_connect_failures_total", "reason", "credentials") >= was+2
		})
		if m.get("acqueon_up") != 0 {
			t.Errorf("acqueon_up is not 0 while the IDP is %s", fault.name)
		}
		if m.get("acqueon_exporter_token_refresh_failures_total") == 0 {
			t.Errorf("no token refresh failure counted while the IDP is %s", fault.name)
		}
	}
	e.waitLog(t, "cannot connect to the feed", "reason=credentials")
	if n := len(f.sim.Sessions()); n != 0 {
		t.Errorf("the feed saw %d connects without a token", n)
	}

	p.set(idpOK)
	back := time.Now()
	m := e.checkRecovered(t, back)
	s.check(t)
	if _, ok := m.value("acqueon_exporter_token_expiry_timestamp_seconds"); !ok {
		t.Error("no token expiry exported once a token was obtained")
	}
	if !strings.Contains(logs.String(), "obtained an IDP access token") {
		t.Error("the log does not say that a token was obtained")
	}
}
