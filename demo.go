package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
	"github.com/acqueon-exporter/acqueon_exporter/auth/idptest"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

// demoOptions are the --demo flags: the built-in simulator and the size of
// the contact center it plays.
type demoOptions struct {
	enabled      bool
	listen       string
	pushInterval time.Duration
	dropEvery    time.Duration
	tenant       simulator.TenantConfig

	// idp signs in at a built-in test IDP instead of using an API key.
	idp              bool
	idpTokenLifetime time.Duration

	replay replayOptions
}

func addDemoFlags(app *kingpin.Application, opts *demoOptions) {
	app.Flag("demo", "Start the built-in feed simulator on loopback and export from it.").
		BoolVar(&opts.enabled)
	app.Flag("demo.listen-address", "Address of the simulator with --demo.").
		Default("127.0.0.1:0").StringVar(&opts.listen)
	durationVar(app, "demo.push-interval",
		"How often the simulator pushes a full snapshot.",
		"1s", &opts.pushInterval)
	durationVar(app, "demo.drop-every",
		"Drop the simulator's sessions this often, without a close frame, to watch the exporter "+
			"reconnect (soak tests). 0: never.",
		"0s", &opts.dropEvery)
	intVar(app, "demo.campaign-groups",
		"Campaign groups the simulator plays.",
		"3", &opts.tenant.CampaignGroups)
	intVar(app, "demo.campaigns",
		"Campaigns the simulator plays.",
		"8", &opts.tenant.Campaigns)
	intVar(app, "demo.queues", "Queues the simulator plays.", "4", &opts.tenant.Queues)
	intVar(app, "demo.agents", "Agents the simulator plays.", "36", &opts.tenant.Agents)
	app.Flag("demo.idp", "Implies --demo. Start a test IDP on loopback as well; the exporter signs in "+
		"at its login page and connects with its short-lived access tokens instead of an API key, "+
		"and the simulator ends every session whose token expires.").
		Action(func(*kingpin.ParseContext) error {
			if opts.idp {
				opts.enabled = true
			}
			return nil
		}).
		BoolVar(&opts.idp)
	durationVar(app, "demo.idp.token-lifetime",
		"Lifetime of the test IDP's access tokens with --demo.idp (whole seconds). Sessions are "+
			"renewed 10s before their token expires; with tokens shorter than 20s the simulator ends them.",
		"2m", &opts.idpTokenLifetime)
	addReplayFlags(app, &opts.replay, &opts.enabled)
}

// demoFeed is a running simulator and what a session needs to reach it.
type demoFeed struct {
	url         *url.URL
	user        string
	credentials auth.Source
	// collector exports the token metrics with --demo.idp; nil otherwise.
	collector prometheus.Collector
	close     func()
}

// startDemo starts the simulator on loopback with credentials made up for
// this run.
func startDemo(opts demoOptions, logger *slog.Logger) (*demoFeed, error) {
	if opts.tenant.Campaigns < 1 || opts.tenant.CampaignGroups < 1 ||
		opts.tenant.Queues < 1 || opts.tenant.Agents < 1 {
		return nil, errors.New("--demo.*: every size must be at least 1")
	}
	// Numbers as strings and missing optional values, as real feeds send
	// them, so the demo shows the exporter coping with both.
	opts.tenant.Quirks = true
	apiKey, secretKey := randomHex(16), randomHex(16)
	const user = "demo"
	simCfg := simulator.Config{
		User:         user,
		APIKey:       apiKey,
		SecretKey:    secretKey,
		PushInterval: opts.pushInterval,
		Tenant:       opts.tenant,
		Logger:       logger,
	}
	frames, err := replaySource(opts.replay)
	if err != nil {
		return nil, err
	}
	simCfg.Frames = frames
	password := base64.StdEncoding.EncodeToString([]byte(apiKey + ":" + secretKey))
	feed := &demoFeed{user: user, credentials: auth.NewStatic(password), close: func() {}}
	if opts.idp {
		stopIDP, err := startDemoIDP(opts.idpTokenLifetime, &simCfg, feed, logger)
		if err != nil {
			return nil, err
		}
		feed.close = stopIDP
	}

	sim := simulator.New(simCfg)
	ln, err := net.Listen("tcp", opts.listen)
	if err != nil {
		sim.Close()
		feed.close()
		return nil, fmt.Errorf("start simulator: %w", err)
	}
	server := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("Simulator stopped", "err", err)
		}
	}()
	logger.Info("Simulator listening", "address", ln.Addr().String())
	stopDropping := dropSessionsEvery(sim, opts.dropEvery, logger)

	feed.url = &url.URL{
		Scheme: "ws",
		Host:   ln.Addr().String(),
		Path:   protocol.PathDataTransmitter,
	}
	stopIDP := feed.close
	feed.close = func() {
		stopDropping()
		sim.Close()
		_ = server.Close()
		stopIDP()
	}
	return feed, nil
}

// startDemoIDP starts the test IDP of --demo.idp on loopback with a user
// made up for this run, makes the simulator accept only its tokens and end
// sessions whose token expired, and gives the feed an IDP credential source
// that signs in at the IDP's login page and refreshes its token in the
// background. The returned function stops both.
func startDemoIDP(
	lifetime time.Duration,
	simCfg *simulator.Config,
	feed *demoFeed,
	logger *slog.Logger,
) (func(), error) {
	if lifetime < time.Second {
		return nil, errors.New("--demo.idp.token-lifetime must be at least 1s")
	}
	const username = "demo.reader"
	password := randomHex(16)
	idp := idptest.NewServer(idptest.Config{
		Users:               map[string]string{username: password},
		AccessTokenLifetime: lifetime,
	})
	simCfg.Authenticate = func(form protocol.Form, feedPassword string) bool {
		return idp.ValidFeedPassword(feedPassword, form)
	}
	simCfg.TokenExpiry = idp.FeedTokenExpiry

	src, err := auth.NewIDP(auth.IDPConfig{
		IssuerURL:   idp.URL,
		ClientID:    "acqueon-exporter",
		RedirectURL: idptest.DefaultRedirectURL,
		Username:    username,
		Password: auth.SecretRef{
			Name:      "demo IDP password",
			Env:       "ACQUEON_DEMO_IDP_PASSWORD",
			LookupEnv: func(string) (string, bool) { return password, true },
		},
		Grant:  auth.GrantForm,
		Logger: logger.With("credential", "demo_idp"),
	})
	if err != nil {
		idp.Close()
		return nil, fmt.Errorf("demo IDP: %w", err)
	}
	logger.Info("Test IDP listening", "issuer", idp.URL, "token_lifetime", lifetime.Truncate(time.Second))

	ctx, cancel := context.WithCancel(context.Background())
	refreshed := make(chan struct{})
	go func() {
		defer close(refreshed)
		_ = src.Run(ctx)
	}()
	feed.credentials, feed.collector = src, src
	return func() {
		cancel()
		<-refreshed
		idp.Close()
	}, nil
}

// dropSessionsEvery drops every session of sim each interval until the
// returned stop is called; a zero interval does nothing.
func dropSessionsEvery(sim *simulator.Server, interval time.Duration, logger *slog.Logger) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ticker.C:
				logger.Info("Dropping the simulator's sessions", "sessions", sim.DropAll())
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
