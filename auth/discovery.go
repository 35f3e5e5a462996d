package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/oauth2"
)

// endpoints are where the IDP takes authorization and token requests.
type endpoints struct {
	authURL, tokenURL string
	authStyle         oauth2.AuthStyle
}

// discoveryDocument holds the fields of an OpenID provider's configuration
// that the exporter uses.
type discoveryDocument struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	TokenAuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
}

// oauthConfig returns the OAuth client configuration, discovering the
// endpoints at the first call. The client secret is read at every call.
// Called with lock held.
func (p *IDP) oauthConfig(ctx context.Context) (*oauth2.Config, error) {
	if p.oauth == nil {
		ep, err := p.discover(ctx)
		if err != nil {
			return nil, err
		}
		p.oauth = &oauth2.Config{
			ClientID:    p.cfg.ClientID,
			RedirectURL: p.cfg.RedirectURL,
			Scopes:      p.cfg.Scopes,
			Endpoint: oauth2.Endpoint{
				AuthURL:   ep.authURL,
				TokenURL:  ep.tokenURL,
				AuthStyle: ep.authStyle,
			},
		}
	}

	oc := *p.oauth
	if p.cfg.ClientSecret.Configured() {
		secret, err := p.cfg.ClientSecret.Read()
		if err != nil {
			return nil, fmt.Errorf("idp client: %w", err)
		}
		oc.ClientSecret = secret.Reveal()
	}
	return &oc, nil
}

// discover fetches the IDP's OpenID configuration, unless both endpoints
// are configured, and picks how the client authenticates.
func (p *IDP) discover(ctx context.Context) (endpoints, error) {
	ep := endpoints{authURL: p.cfg.AuthURL, tokenURL: p.cfg.TokenURL}
	publicClient := !p.cfg.ClientSecret.Configured()
	if publicClient {
		// A public client sends its ID in the form; there is no secret to
		// put into a Basic header.
		ep.authStyle = oauth2.AuthStyleInParams
	}
	if p.cfg.IssuerURL == "" || (ep.authURL != "" && ep.tokenURL != "") {
		return ep, nil
	}

	doc, err := fetchDiscovery(ctx, p.client, p.cfg.IssuerURL)
	if err != nil {
		return endpoints{}, err
	}
	if ep.authURL == "" {
		ep.authURL = doc.AuthorizationEndpoint
	}
	if ep.tokenURL == "" {
		ep.tokenURL = doc.TokenEndpoint
	}
	if ep.tokenURL == "" || (p.cfg.Grant == GrantForm && ep.authURL == "") {
		return endpoints{}, fmt.Errorf("idp discovery at %s: endpoints missing", redactURL(p.cfg.IssuerURL))
	}
	if len(doc.CodeChallengeMethods) > 0 && !slices.Contains(doc.CodeChallengeMethods, "S256") {
		p.log.Warn("the IDP does not announce PKCE method S256; trying it anyway",
			"issuer", redactURL(p.cfg.IssuerURL))
	}
	switch {
	case publicClient:
	case slices.Contains(doc.TokenAuthMethods, "client_secret_basic"):
		ep.authStyle = oauth2.AuthStyleInHeader
	case slices.Contains(doc.TokenAuthMethods, "client_secret_post"):
		ep.authStyle = oauth2.AuthStyleInParams
	}
	p.log.Info("discovered the IDP's endpoints", "issuer", redactURL(p.cfg.IssuerURL),
		"authorization_endpoint", redactURL(ep.authURL), "token_endpoint", redactURL(ep.tokenURL))
	return ep, nil
}

// fetchDiscovery reads issuer's /.well-known/openid-configuration and checks
// that it names the same issuer, as OpenID Connect Discovery requires.
func fetchDiscovery(ctx context.Context, client *http.Client, issuer string) (discoveryDocument, error) {
	issuer = strings.TrimSuffix(issuer, "/")
	where := redactURL(issuer)

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return discoveryDocument{}, fmt.Errorf("idp discovery at %s: %w", where, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return discoveryDocument{}, fmt.Errorf("idp discovery at %s: %w", where, redactURLError(err))
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return discoveryDocument{}, fmt.Errorf("idp discovery at %s: HTTP %d", where, resp.StatusCode)
	}

	var doc discoveryDocument
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return discoveryDocument{}, fmt.Errorf("idp discovery at %s: %w", where, err)
	}
	if strings.TrimSuffix(doc.Issuer, "/") != issuer {
		return discoveryDocument{}, fmt.Errorf("idp discovery at %s: the document names issuer %q",
			where, doc.Issuer)
	}
	return doc, nil
}

// drainClose reads what is left of a response body, so that the connection
// can be reused, and closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 1<<20))
	_ = body.Close()
}
