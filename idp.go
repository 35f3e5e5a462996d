package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/acqueon-exporter/acqueon_exporter/auth"
)

// idpFlags are the --acqueon.idp.* flags: credentials from the Acqueon IDP
// instead of an API key.
type idpFlags struct {
	issuerURL        string
	authURL          string
	tokenURL         string
	clientID         string
	clientSecretFile string
	redirectURL      string
	scopes           string
	username         string
	passwordFile     string
	tokenFile        string
	grant            string
}

func addIDPFlags(app *kingpin.Application, f *idpFlags) {
	app.Flag("acqueon.idp.issuer-url", "The Acqueon IDP; its endpoints come from "+
		"/.well-known/openid-configuration unless --acqueon.idp.auth-url and --acqueon.idp.token-url are given. "+
		"Setting it selects IDP credentials instead of an API key.").
		StringVar(&f.issuerURL)
	app.Flag("acqueon.idp.auth-url", "The IDP's authorization endpoint, instead of discovery.").
		StringVar(&f.authURL)
	app.Flag("acqueon.idp.token-url", "The IDP's token endpoint, instead of discovery.").
		StringVar(&f.tokenURL)
	app.Flag("acqueon.idp.client-id", "Client ID of the IDP app.").StringVar(&f.clientID)
	app.Flag("acqueon.idp.client-secret-file", "File holding the client secret, for IDPs that "+
		"require one (else env ACQUEON_IDP_CLIENT_SECRET).").
		StringVar(&f.clientSecretFile)
	app.Flag("acqueon.idp.redirect-url", "Redirect URL registered for the client.").
		Default(auth.DefaultRedirectURL).StringVar(&f.redirectURL)
	app.Flag("acqueon.idp.scopes", "Scopes to ask for, separated by spaces or commas.").
		Default("openid offline_access").StringVar(&f.scopes)
	app.Flag("acqueon.idp.username", "The external user that signs in.").StringVar(&f.username)
	app.Flag("acqueon.idp.password-file", "File holding that user's password (else env ACQUEON_IDP_PASSWORD).").
		StringVar(&f.passwordFile)
	app.Flag("acqueon.idp.token-file", "File that keeps the refresh token between runs (written 0600).").
		StringVar(&f.tokenFile)
	app.Flag("acqueon.idp.grant", "How a token is obtained: form (authorization code with PKCE, "+
		"signing in at the login page unattended), password, or refresh-token (only what "+
		"`acqueon_exporter login` stored).").
		Default(string(auth.GrantForm)).EnumVar(&f.grant, auth.Grants()...)
}

// enabled reports whether IDP credentials are configured.
func (f idpFlags) enabled() bool {
	return f.issuerURL != "" || f.tokenURL != "" || f.authURL != ""
}

// config returns the IDP source's configuration. The IDP is reached with
// the feed's TLS settings (CA file, client certificate), since both are
// usually run by the same operator.
func (f idpFlags) config(tlsConfig *tls.Config, logger *slog.Logger) auth.IDPConfig {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	return auth.IDPConfig{
		IssuerURL: f.issuerURL,
		AuthURL:   f.authURL,
		TokenURL:  f.tokenURL,
		ClientID:  f.clientID,
		ClientSecret: auth.SecretRef{
			Name: "IDP client secret",
			File: f.clientSecretFile,
			Env:  "ACQUEON_IDP_CLIENT_SECRET",
		},
		RedirectURL: f.redirectURL,
		Scopes:      auth.ParseScopes(f.scopes),
		Username:    f.username,
		Password:    auth.SecretRef{Name: "IDP password", File: f.passwordFile, Env: "ACQUEON_IDP_PASSWORD"},
		TokenFile:   f.tokenFile,
		Grant:       auth.Grant(f.grant),
		HTTPClient:  &http.Client{Transport: transport, Timeout: time.Minute},
		Logger:      logger,
	}
}

// runLogin is the login command: a person signs in at the IDP in a browser
// and the refresh token is stored for --acqueon.idp.grant=refresh-token.
func runLogin(opts *options, stdout io.Writer, logger *slog.Logger) error {
	if !opts.idp.enabled() {
		return errors.New("login needs --acqueon.idp.issuer-url (or the auth and token URLs)")
	}
	tlsConfig, err := opts.tls.config()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.loginTimeout)
	defer cancel()
	ctx, stop := signalContext(ctx)
	defer stop()

	cfg := opts.idp.config(tlsConfig, logger.With("component", "idp"))
	if err := auth.InteractiveLogin(ctx, cfg, stdout, auth.OpenBrowser); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	return nil
}
