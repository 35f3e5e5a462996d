package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

// feedTarget is the feed URL as the session uses it, with any credentials
// the user wrote into it taken out.
type feedTarget struct {
	// URL has no user info left in it, so it may be logged.
	URL  *url.URL
	Form protocol.Form
	// User is the application name, from --acqueon.user or the URL.
	User string
	// Password is the password written in the URL, already encoded as the
	// feed expects; empty when the URL had none.
	Password string
}

// parseFeedURL reads --acqueon.url. The vendor writes credentials into the
// URL (wss://PerformanceMetrics_<user>_<ts>:<password>@host); such a URL is
// accepted, the password is moved out of it and the user name is taken from
// the session name when --acqueon.user is empty. Errors never repeat the
// password.
func parseFeedURL(raw, user string) (feedTarget, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url.Error repeats the input, which may hold a password.
		return feedTarget{}, fmt.Errorf("--acqueon.url is not a URL")
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return feedTarget{}, fmt.Errorf("--acqueon.url: scheme %q, want wss or ws", u.Scheme)
	}
	if u.Host == "" {
		return feedTarget{}, errors.New("--acqueon.url: no host")
	}
	form, err := protocol.FormOf(u.Path)
	if err != nil {
		return feedTarget{}, fmt.Errorf("--acqueon.url: %w", err)
	}

	target := feedTarget{Form: form, User: user}
	if u.User != nil {
		target.Password, _ = u.User.Password()
		if target.User == "" {
			name, ok := protocol.UserOf(u.User.Username(), form)
			if !ok {
				return feedTarget{}, fmt.Errorf("--acqueon.url: user %q is not a session name "+
					"(want %s<user>...)", u.User.Username(), protocol.SessionPrefix)
			}
			target.User = name
		}
		u.User = nil
	}
	// The session name goes into the query at every attempt.
	q := u.Query()
	q.Del("name")
	u.RawQuery = q.Encode()
	target.URL = u

	if target.User == "" {
		return feedTarget{}, errors.New("--acqueon.user is required (the application name in the session name)")
	}
	if strings.ContainsAny(target.User, " :/?#@") {
		return feedTarget{}, fmt.Errorf("--acqueon.user %q: must not contain spaces or any of :/?#@", target.User)
	}
	return target, nil
}

// tlsFlags are the --acqueon.tls.* flags.
type tlsFlags struct {
	CAFile             string
	CertFile           string
	KeyFile            string
	InsecureSkipVerify bool
}

// config builds the TLS configuration for the feed.
func (f tlsFlags) config() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: f.InsecureSkipVerify, //nolint:gosec // an explicit, documented opt-in for labs
	}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--acqueon.tls.ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--acqueon.tls.ca-file %s: no PEM certificate found", f.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New("--acqueon.tls.cert-file and --acqueon.tls.key-file go together")
	}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--acqueon.tls.cert-file/key-file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// apiKeySource returns the API-key credentials, checking at start-up that
// both halves are configured so a missing file fails now, not at the first
// connect.
func apiKeySource(keyFile, secretFile string, logger *slog.Logger) (auth.Source, error) {
	src := &auth.APIKey{
		Key:    auth.SecretRef{Name: "API key", File: keyFile, Env: "ACQUEON_API_KEY"},
		Secret: auth.SecretRef{Name: "secret key", File: secretFile, Env: "ACQUEON_SECRET_KEY"},
		// Warns, once per file, about key files others can read.
		Logger: logger,
	}
	if _, err := src.Key.Read(); err != nil {
		return nil, err
	}
	if _, err := src.Secret.Read(); err != nil {
		return nil, err
	}
	return src, nil
}

// loadLocation resolves --acqueon.timezone; empty means the host's zone.
func loadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("--acqueon.timezone: %w", err)
	}
	return loc, nil
}
