package auth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

// IDPError is an OAuth error answer of the IDP, reduced to what is safe to
// log: the error code, its description with any known secret blotted out,
// and the HTTP status. The response body is dropped, because IDPs may echo
// the request, codes and tokens included.
type IDPError struct {
	// Op says what was being done ("refresh the IDP token").
	Op string
	// Status is the HTTP status of the answer, zero for a redirect.
	Status int
	// Code is the OAuth error code ("invalid_grant"), empty when the
	// answer was not an OAuth error document.
	Code string
	// Description is the IDP's error_description, shortened and scrubbed.
	Description string
}

// Error describes the answer without any secret.
func (e *IDPError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": the IDP answered")
	if e.Status != 0 {
		fmt.Fprintf(&b, " HTTP %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, " (%s)", e.Description)
	}
	return b.String()
}

// refusal reports whether the IDP looked at the request and said no, as
// opposed to failing: an OAuth error code, or a 4xx status.
func (e *IDPError) refusal() bool {
	return e.Code != "" || (e.Status >= 400 && e.Status < 500)
}

// tokenRequestError turns an error of a token request into one that holds
// no secret: an *oauth2.RetrieveError (whose text may carry the body)
// becomes an *IDPError, URLs lose their query, and any of secrets left in
// a description is replaced.
func tokenRequestError(op string, err error, secrets ...string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		e := &IDPError{
			Op:          op,
			Code:        scrub(re.ErrorCode, secrets),
			Description: scrub(re.ErrorDescription, secrets),
		}
		if re.Response != nil {
			e.Status = re.Response.StatusCode
		}
		return e
	}
	return fmt.Errorf("%s: %w", op, redactURLError(err))
}

// redactURLError rewrites a *url.Error, whose text holds the whole URL of
// the request, so that it names only scheme, host and path.
func redactURLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: ue.Err}
}

// redactURL returns scheme, host and path of raw, without user info, query
// or fragment, which may hold codes and tokens.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// scrub replaces every secret in s by a placeholder, and shortens s to a
// length that suits a log line.
func scrub(s string, secrets []string) string {
	for _, secret := range secrets {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "<secret>")
		}
	}
	const limit = 300
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
