package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
	"github.com/acqueon-exporter/acqueon_exporter/collector"
)

// addLifecycleFlag declares --web.enable-lifecycle, as Prometheus has it.
func addLifecycleFlag(app *kingpin.Application, enabled *bool) {
	app.Flag("web.enable-lifecycle", "Enable POST /-/reload, which re-reads the mapping file and "+
		"checks the credential files (SIGHUP does the same).").
		BoolVar(enabled)
}

// mappingSetter is what a reload changes: the collector's mapping.
type mappingSetter interface {
	SetMapping(*collector.Mapping) error
}

// reloaderConfig configures a reloader.
type reloaderConfig struct {
	// MappingFile is --mapping.file; empty means the built-in mapping.
	MappingFile string
	// Collector gets the new mapping.
	Collector mappingSetter
	// Secrets are the credential files (or variables) the session reads
	// at every connect; a reload checks that each can still be read.
	Secrets []auth.SecretRef
	// Logger receives what reloads do.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// reloader re-reads the configuration that may change while the session
// stays up, on SIGHUP and on POST /-/reload. A reload is all or nothing:
// a mapping that cannot be used, or a credential that cannot be read,
// leaves everything as it was.
type reloader struct {
	cfg reloaderConfig

	mu     sync.Mutex // one reload at a time
	status *collector.ReloadStatus
}

// newReloader returns a reloader whose metrics say that the configuration
// loaded at start-up is in use, and registers them.
func newReloader(cfg reloaderConfig, reg prometheus.Registerer) (*reloader, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &reloader{cfg: cfg, status: collector.NewReloadStatus(cfg.Now())}
	if err := reg.Register(r.status); err != nil {
		return nil, fmt.Errorf("register reload metrics: %w", err)
	}
	return r, nil
}

// Reload re-reads the mapping file and checks the credentials. A valid
// mapping applies from the next frame; the session is not touched.
// Credentials are read afresh at every connect anyway, so new ones take
// effect at the next connect.
func (r *reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	log := r.cfg.Logger

	err := r.load()
	if err != nil {
		r.status.Failed()
		log.Error("Reload refused; the configuration in use stays", "err", err)
		return err
	}
	r.status.Succeeded(r.cfg.Now())
	log.Info("Configuration reloaded; the mapping applies from the next frame", "mapping", mappingName(r.cfg.MappingFile))
	return nil
}

func (r *reloader) load() error {
	mapping, err := collector.LoadMapping(r.cfg.MappingFile)
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range r.cfg.Secrets {
		if _, err := s.Read(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return r.cfg.Collector.SetMapping(mapping)
}

func mappingName(file string) string {
	if file == "" {
		return collector.DefaultMappingName + " (built-in)"
	}
	return file
}

// watchSignals reloads at every SIGHUP until ctx ends. It starts listening
// before it returns, so a SIGHUP sent afterwards is never the default
// action (which ends the process).
func (r *reloader) watchSignals(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				r.cfg.Logger.Info("SIGHUP received: reloading")
				_ = r.Reload()
			}
		}
	}()
}

// handler serves /-/reload as Prometheus does: POST or PUT reloads when
// the lifecycle API is enabled, 403 otherwise; a refused reload is 500
// with the reason (file:line for a mapping) in the body.
func (r *reloader) handler(lifecycleEnabled bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost && req.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "Only POST or PUT requests allowed", http.StatusMethodNotAllowed)
			return
		}
		if !lifecycleEnabled {
			http.Error(w, "Lifecycle API is not enabled.", http.StatusForbidden)
			return
		}
		if err := r.Reload(); err != nil {
			http.Error(w, "failed to reload config: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "Reloaded %s; it applies from the next frame.\n", mappingName(r.cfg.MappingFile))
	})
}

// credentialRefs returns the credentials the session reads at every
// connect, for a reload to check: the IDP user's password and client
// secret, or the two halves of the API key. A password written into the
// feed URL, and the demo's credentials, cannot change.
func credentialRefs(opts *options) []auth.SecretRef {
	switch {
	case opts.demo.enabled:
		return nil
	case opts.idp.enabled():
		cfg := opts.idp.config(nil, nil)
		var refs []auth.SecretRef
		if cfg.ClientSecret.Configured() {
			refs = append(refs, cfg.ClientSecret)
		}
		if cfg.Grant != auth.GrantRefreshToken {
			refs = append(refs, cfg.Password)
		}
		return refs
	}
	if target, err := parseFeedURL(opts.feedURL, opts.user); err == nil && target.Password != "" {
		return nil
	}
	return []auth.SecretRef{
		{Name: "API key", File: opts.apiKeyFile, Env: "ACQUEON_API_KEY"},
		{Name: "secret key", File: opts.secretKeyFile, Env: "ACQUEON_SECRET_KEY"},
	}
}
