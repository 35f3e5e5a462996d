// Command acqueon_exporter holds one session to the Acqueon Performance
// Metrics feed, keeps the latest campaign, queue and agent figures in
// memory and serves them to Prometheus.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
	"github.com/acqueon-exporter/acqueon_exporter/collector"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

const (
	exporterName = "acqueon_exporter"
	// defaultListenAddress uses 9817, a port in the exporter range that no
	// widely used exporter takes by default.
	defaultListenAddress = ":9817"
)

func main() {
	fillVersion()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options holds every flag of the program.
type options struct {
	feedURL          string
	user             string
	apiKeyFile       string
	secretKeyFile    string
	timezone         string
	tls              tlsFlags
	handshakeTimeout time.Duration
	eventTimeout     time.Duration
	pingInterval     time.Duration
	readLimit        int64
	maxBackoff       time.Duration

	mappingFile    string
	mappingCheck   bool
	entityTTL      time.Duration
	optionalLabels []string
	maxSeries      int
	maxLabelLength int

	telemetryPath  string
	maxRequests    int
	scrapeTimeout  time.Duration
	headerTimeout  time.Duration
	webFlags       *web.FlagConfig
	logConfig      promslog.Config
	shutdownPeriod time.Duration

	idp          idpFlags
	loginTimeout time.Duration

	demo demoOptions

	record          recordOptions
	enableLifecycle bool
	mappingCmds     *mappingCommands
}

// newApp declares the flags on a kingpin application of its own, so that
// tests can parse arguments without touching any global.
func newApp(opts *options, stdout, stderr io.Writer) *kingpin.Application {
	app := kingpin.New(exporterName, "Prometheus exporter for the Acqueon Performance Metrics feed.")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.HelpFlag.Short('h')
	app.Version(version.Print(exporterName))

	app.Flag("acqueon.url", "Websocket URL of the feed, e.g. wss://host:4747/AEDataTransmitter; "+
		"the path picks the URL form (/AEDataTransmitter or /AEConsole).").
		Envar("ACQUEON_URL").StringVar(&opts.feedURL)
	app.Flag("acqueon.user", "Application name that goes into the session name "+
		"(PerformanceMetrics_<user>_<unixtimestamp>).").
		Envar("ACQUEON_USER").StringVar(&opts.user)
	app.Flag("acqueon.api-key-file", "File holding the API key (else env ACQUEON_API_KEY).").
		StringVar(&opts.apiKeyFile)
	app.Flag("acqueon.secret-key-file", "File holding the secret key (else env ACQUEON_SECRET_KEY).").
		StringVar(&opts.secretKeyFile)
	app.Flag("acqueon.timezone", "IANA zone whose UTC offset goes into the initialization request; "+
		"the feed's daily counters reset at its midnight. Empty: the host's zone.").
		StringVar(&opts.timezone)
	app.Flag("acqueon.tls.ca-file", "PEM file of CA certificates that sign the feed's certificate.").
		StringVar(&opts.tls.CAFile)
	app.Flag("acqueon.tls.cert-file", "PEM client certificate for the feed.").StringVar(&opts.tls.CertFile)
	app.Flag("acqueon.tls.key-file", "PEM key of the client certificate.").StringVar(&opts.tls.KeyFile)
	app.Flag("acqueon.tls.insecure-skip-verify", "Do not verify the feed's certificate (labs only).").
		BoolVar(&opts.tls.InsecureSkipVerify)
	durationVar(app, "acqueon.handshake-timeout",
		"Time allowed to dial, complete TLS and upgrade to a websocket.",
		"10s", &opts.handshakeTimeout)
	durationVar(app, "acqueon.connection-event-timeout",
		"Time allowed between the upgrade and the connection event.",
		"10s", &opts.eventTimeout)
	durationVar(app, "acqueon.ping-interval",
		"Interval of the liveness check; a session silent for two intervals is ended and re-established.",
		"5s", &opts.pingInterval)
	intVar(app, "acqueon.read-limit",
		"Largest frame accepted, in bytes; a larger one ends the session.",
		"33554432", &opts.readLimit)
	durationVar(app, "acqueon.max-backoff",
		"Longest wait between failed connection attempts.",
		"2m", &opts.maxBackoff)

	app.Flag("mapping.file", "YAML file mapping the feed's payload to metrics; empty: the built-in mapping.").
		StringVar(&opts.mappingFile)
	app.Flag("mapping.check", "Check the mapping file, print the result and exit.").
		BoolVar(&opts.mappingCheck)
	durationVar(app, "collector.entity-ttl",
		"Campaigns, queues and agents the feed stops sending are dropped after this long.",
		"5m", &opts.entityTTL)
	intVar(app, "collector.max-series",
		"Most feed series held; entities past it are left out and counted. 0: no cap.",
		"1000000", &opts.maxSeries)
	intVar(app, "collector.max-label-length",
		"Longest label value taken from the feed, in bytes; longer ones are cut and counted.",
		"1024", &opts.maxLabelLength)
	app.Flag("collector.optional-label", "Turn on a label the mapping marks optional, such as "+
		"agent (agent names are personal data). Repeatable.").
		StringsVar(&opts.optionalLabels)

	app.Flag("web.telemetry-path", "Path under which to expose metrics.").
		Default("/metrics").StringVar(&opts.telemetryPath)
	intVar(app, "web.max-requests",
		"Maximum number of scrapes served at once; more get 503. 0: no limit.",
		"40", &opts.maxRequests)
	durationVar(app, "web.scrape-timeout",
		"Longest time one scrape may take.",
		"30s", &opts.scrapeTimeout)
	durationVar(app, "web.read-header-timeout",
		"Time a client has to send its request headers; it bounds connections that trickle them.",
		"10s", &opts.headerTimeout)
	durationVar(app, "web.shutdown-timeout",
		"Time allowed for open scrapes and the session's close handshake at shutdown.",
		"5s", &opts.shutdownPeriod)
	opts.webFlags = kingpinflag.AddFlags(app, defaultListenAddress)
	promslogflag.AddFlags(app, &opts.logConfig)
	addRecordFlags(app, &opts.record)
	addLifecycleFlag(app, &opts.enableLifecycle)

	addIDPFlags(app, &opts.idp)
	addDemoFlags(app, &opts.demo)

	app.Command("serve", "Run the exporter (the default command).").Default()
	login := app.Command("login", "Sign in at the Acqueon IDP in a browser and store the refresh "+
		"token in --acqueon.idp.token-file, for --acqueon.idp.grant=refresh-token.")
	login.Flag("timeout", "How long to wait for the sign-in.").Default("5m").DurationVar(&opts.loginTimeout)
	opts.mappingCmds = addMappingCommands(app)
	return app
}

// run is the whole program; it returns the process's exit code.
func run(args []string, stdout, stderr io.Writer) int {
	var opts options
	app := newApp(&opts, stdout, stderr)
	command, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", exporterName, err)
		return 2
	}
	opts.logConfig.Writer = stderr
	logger := promslog.New(&opts.logConfig)

	if command == "login" {
		if err := runLogin(&opts, stdout, logger); err != nil {
			logger.Error("Login failed", "err", err)
			return 1
		}
		return 0
	}
	if code, handled := opts.mappingCmds.run(command, opts.mappingFile, stdout, stderr); handled {
		return code
	}

	mapping, err := collector.LoadMapping(opts.mappingFile)
	if opts.mappingCheck {
		return reportMappingCheck(opts.mappingFile, err, stdout, stderr)
	}
	if err != nil {
		logger.Error("Cannot load the mapping", "err", err)
		return 1
	}

	ctx, stop := signalContext(context.Background())
	defer stop()
	if err := serve(ctx, &opts, mapping, logger); err != nil {
		logger.Error("Exporter stopped", "err", err)
		return 1
	}
	return 0
}

// signalContext ends when the process is asked to stop.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// reportMappingCheck prints the outcome of --mapping.check.
func reportMappingCheck(file string, err error, stdout, stderr io.Writer) int {
	if file == "" {
		file = "built-in mapping"
	}
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK\n", file)
	return 0
}

// serve runs the session and the HTTP server until ctx ends.
func serve(ctx context.Context, opts *options, mapping *collector.Mapping, logger *slog.Logger) error {
	logger.Info("Starting "+exporterName, "version", version.Info())
	logger.Info("Build context", "build_context", version.BuildContext())

	coll, err := collector.New(collector.Options{
		Mapping:        mapping,
		EntityTTL:      opts.entityTTL,
		OptionalLabels: opts.optionalLabels,
		// The collector reads 0 as its default and a negative cap as none.
		MaxSeries:           cmp.Or(opts.maxSeries, -1),
		MaxLabelValueLength: opts.maxLabelLength,
		Logger:              logger.With("component", "collector"),
	})
	if err != nil {
		return fmt.Errorf("build collector: %w", err)
	}
	registry := prometheus.NewRegistry()
	// The collector is not registered: /metrics is served by its Gatherer,
	// which adds the feed's metrics, built once per message, to what the
	// registry gathers, and follows a reloaded mapping.
	registry.MustRegister(
		versioncollector.NewCollector(exporterName),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	handler, closeRecorder, err := withRecorder(opts.record, coll, logger.With("component", "capture"))
	if err != nil {
		return err
	}
	defer closeRecorder()
	reload, err := newReloader(reloaderConfig{
		MappingFile: opts.mappingFile,
		Collector:   coll,
		Secrets:     credentialRefs(opts),
		Logger:      logger.With("component", "reload"),
	}, registry)
	if err != nil {
		return err
	}
	reload.watchSignals(ctx)

	session, cleanup, err := newSession(ctx, opts, registry, handler, logger)
	if err != nil {
		return err
	}
	defer cleanup()

	routes := http.NewServeMux()
	routes.Handle("/-/reload", reload.handler(opts.enableLifecycle))
	routes.Handle("/", newHandler(opts, registry, coll.Gatherer(registry), session, logger))
	server := &http.Server{
		Handler:           routes,
		ReadHeaderTimeout: opts.headerTimeout,
		ReadTimeout:       opts.headerTimeout + 20*time.Second,
		WriteTimeout:      opts.scrapeTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
	}

	return runUntilDone(ctx, opts, server, session, logger)
}

// runUntilDone serves HTTP and runs the session; it returns when ctx ends
// (nil) or the HTTP server fails (its error). At the end the session closes
// with a handshake and open scrapes are allowed to finish.
func runUntilDone(
	ctx context.Context,
	opts *options,
	server *http.Server,
	session *wsclient.Client,
	logger *slog.Logger,
) error {
	sessionCtx, stopSession := context.WithCancel(context.WithoutCancel(ctx))
	sessionDone := make(chan struct{})
	go func() {
		defer close(sessionDone)
		if err := session.Run(sessionCtx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("Session stopped", "err", err)
		}
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(server, opts.webFlags, logger) }()

	var err error
	select {
	case <-ctx.Done():
		logger.Info("Shutting down")
	case err = <-serveErr:
		err = fmt.Errorf("http server: %w", err)
	}

	stopSession()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), opts.shutdownPeriod)
	defer cancel()
	if shutdownErr := server.Shutdown(shutdownCtx); shutdownErr != nil {
		logger.Warn("HTTP server did not shut down cleanly", "err", shutdownErr)
	}
	select {
	case <-sessionDone:
	case <-shutdownCtx.Done():
		logger.Warn("Session did not close in time")
	}
	return err
}

// newSession builds the feed session: against the built-in simulator with
// --demo, else against --acqueon.url. cleanup releases what it started;
// background work it starts ends with ctx.
func newSession(
	ctx context.Context,
	opts *options,
	registry prometheus.Registerer,
	handler wsclient.Handler,
	logger *slog.Logger,
) (*wsclient.Client, func(), error) {
	cfg := wsclient.Config{
		HandshakeTimeout:       opts.handshakeTimeout,
		ConnectionEventTimeout: opts.eventTimeout,
		PingInterval:           opts.pingInterval,
		ReadLimit:              opts.readLimit,
		MaxBackoff:             opts.maxBackoff,
		Logger:                 logger.With("component", "session"),
		Registerer:             registry,
	}
	loc, err := loadLocation(opts.timezone)
	if err != nil {
		return nil, nil, err
	}
	cfg.Location = loc

	cleanup := func() {}
	if opts.demo.enabled {
		demo, err := startDemo(opts.demo, logger.With("component", "simulator"))
		if err != nil {
			return nil, nil, err
		}
		cfg.URL, cfg.User, cfg.Credentials = demo.url, demo.user, demo.credentials
		cleanup = demo.close
		if demo.collector != nil {
			registry.MustRegister(demo.collector)
		} else {
			registry.MustRegister(auth.NoTokenMetrics())
		}
	} else {
		stop, err := configureFeed(ctx, &cfg, opts, registry, logger)
		if err != nil {
			return nil, nil, err
		}
		cleanup = stop
	}

	client, err := wsclient.New(cfg, handler)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("configure session: %w", err)
	}
	logger.Info("Feed configured", "url", cfg.URL.Redacted(), "user", cfg.User,
		"timezone", cfg.Location.String())
	return client, cleanup, nil
}

// configureFeed fills the session configuration from the --acqueon.* flags.
// stop ends the background work it started.
func configureFeed(
	ctx context.Context,
	cfg *wsclient.Config,
	opts *options,
	registry prometheus.Registerer,
	logger *slog.Logger,
) (stop func(), err error) {
	stop = func() {}
	if opts.feedURL == "" {
		return nil, errors.New("--acqueon.url is required (or --demo to run against the built-in simulator)")
	}
	target, err := parseFeedURL(opts.feedURL, opts.user)
	if err != nil {
		return nil, err
	}
	tlsConfig, err := opts.tls.config()
	if err != nil {
		return nil, err
	}
	cfg.URL, cfg.User, cfg.TLSConfig = target.URL, target.User, tlsConfig

	apiKeyGiven := opts.apiKeyFile != "" || opts.secretKeyFile != ""
	switch {
	case btoi(target.Password != "")+btoi(apiKeyGiven)+btoi(opts.idp.enabled()) > 1:
		return nil, errors.New("give one kind of credentials: a password in --acqueon.url, " +
			"API-key files, or --acqueon.idp.*")
	case opts.idp.enabled():
		src, err := auth.NewIDP(opts.idp.config(tlsConfig, logger.With("component", "idp")))
		if err != nil {
			return nil, err
		}
		if err := registry.Register(src); err != nil {
			return nil, fmt.Errorf("register token metrics: %w", err)
		}
		// Refresh ahead of expiry in the background, so a connect rarely
		// waits on the IDP.
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = src.Run(runCtx)
		}()
		stop = func() { cancel(); <-done }
		cfg.Credentials = src
	case target.Password != "":
		cfg.Logger.Warn("The feed URL holds a password; prefer --acqueon.api-key-file and " +
			"--acqueon.secret-key-file, since command lines are visible to other users")
		cfg.Credentials = auth.NewStatic(target.Password)
	default:
		src, err := apiKeySource(opts.apiKeyFile, opts.secretKeyFile, logger.With("component", "credentials"))
		if err != nil {
			return nil, err
		}
		cfg.Credentials = src
	}
	if !opts.idp.enabled() {
		if err := registry.Register(auth.NoTokenMetrics()); err != nil {
			return nil, fmt.Errorf("register token metrics: %w", err)
		}
	}
	return stop, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// newHandler returns the HTTP routes: the landing page, metrics and the
// health endpoints.
func newHandler(
	opts *options,
	registry *prometheus.Registry,
	gatherer prometheus.TransactionalGatherer,
	session *wsclient.Client,
	logger *slog.Logger,
) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(opts.telemetryPath, promhttp.HandlerForTransactional(gatherer, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: opts.maxRequests,
		Timeout:             opts.scrapeTimeout,
		EnableOpenMetrics:   true,
		Registry:            registry,
	}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !session.Ready() {
			http.Error(w, "No initialized session with the feed", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})

	if opts.telemetryPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "Acqueon Exporter",
			Description: "Prometheus exporter for the Acqueon Performance Metrics feed",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: opts.telemetryPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health", Description: "200 while the process runs"},
				{Address: "/-/ready", Text: "Readiness", Description: "200 while a session with the feed is initialized"},
			},
		})
		if err != nil {
			logger.Error("Cannot build the landing page", "err", err)
		} else {
			mux.Handle("/", landing)
		}
	}
	return mux
}
