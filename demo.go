package main

import (
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

	"github.com/acqueon-exporter/acqueon_exporter/auth"
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
}

// demoFeed is a running simulator and what a session needs to reach it.
type demoFeed struct {
	url         *url.URL
	user        string
	credentials auth.Source
	close       func()
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

	sim := simulator.New(simulator.Config{
		User:         user,
		APIKey:       apiKey,
		SecretKey:    secretKey,
		PushInterval: opts.pushInterval,
		Tenant:       opts.tenant,
		Logger:       logger,
	})
	ln, err := net.Listen("tcp", opts.listen)
	if err != nil {
		sim.Close()
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

	password := base64.StdEncoding.EncodeToString([]byte(apiKey + ":" + secretKey))
	return &demoFeed{
		url: &url.URL{
			Scheme: "ws",
			Host:   ln.Addr().String(),
			Path:   protocol.PathDataTransmitter,
		},
		user:        user,
		credentials: auth.NewStatic(password),
		close: func() {
			stopDropping()
			sim.Close()
			_ = server.Close()
		},
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
