package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

// authorizationCodeFlow runs the authorization code flow with PKCE (S256):
// it builds the authorization request with a fresh verifier and state, lets
// a take it to the redirect, checks the answer and exchanges the code.
// secrets are scrubbed from errors in addition to the code and verifier.
func authorizationCodeFlow(
	ctx context.Context,
	client *http.Client,
	oc *oauth2.Config,
	a Authorizer,
	secrets ...string,
) (*oauth2.Token, error) {
	verifier := oauth2.GenerateVerifier()
	state := rand.Text()
	authURL := oc.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))

	callback, err := a.Authorize(ctx, authURL, oc.RedirectURL)
	if err != nil {
		return nil, fmt.Errorf("sign in at the IDP: %w", err)
	}
	code, err := codeFromCallback(callback, state)
	if err != nil {
		return nil, err
	}
	return exchangeCode(ctx, client, oc, code, verifier, secrets...)
}

// exchangeCode trades an authorization code and its PKCE verifier for
// tokens.
func exchangeCode(
	ctx context.Context,
	client *http.Client,
	oc *oauth2.Config,
	code, verifier string,
	secrets ...string,
) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, client)
	tok, err := oc.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, tokenRequestError("exchange the authorization code", err, append(secrets, code, verifier)...)
	}
	return tok, nil
}

// Errors of the authorization response.
var (
	errStateMismatch = errors.New("authorization response: state does not match the request")
	errNoCode        = errors.New("authorization response: no code")
)

// codeFromCallback reads the authorization response that the IDP sent to
// the redirect URL: an OAuth error, or a code whose state must be the one
// sent.
func codeFromCallback(callback *url.URL, state string) (string, error) {
	q := callback.Query()
	if code := q.Get("error"); code != "" {
		return "", &IDPError{
			Op:          "authorization request",
			Code:        scrub(code, nil),
			Description: scrub(q.Get("error_description"), nil),
		}
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
		return "", errStateMismatch
	}
	code := q.Get("code")
	if code == "" {
		return "", errNoCode
	}
	return code, nil
}
