package wsclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"

	"github.com/gorilla/websocket"
)

// Reasons a connection attempt fails; they are the values of the reason
// label of acqueon_exporter_connect_failures_total.
const (
	// ReasonAuthRejected is a refused credential: HTTP 401 or 403 on the
	// upgrade, or a close with an authentication close code (see
	// authCloseCodes) before the session was initialized. A working
	// session that the server closes with such a code (as at the expiry
	// of its token) is no failed attempt, but the credential source is
	// told of it all the same.
	ReasonAuthRejected = "auth_rejected"
	// ReasonUnreachable is a server that cannot be reached: connection
	// refused, unknown host, no route, host down.
	ReasonUnreachable = "unreachable"
	// ReasonTLS is a failed TLS handshake, such as an untrusted or
	// expired certificate or a name mismatch.
	ReasonTLS = "tls"
	// ReasonHandshake is a failed websocket upgrade other than a refused
	// credential: a wrong URL (HTTP 404), any other HTTP status, a reply
	// that is not a websocket upgrade.
	ReasonHandshake = "handshake"
	// ReasonTimeout is a step that took too long: dial, TLS and upgrade
	// (HandshakeTimeout), the wait for the connection event
	// (ConnectionEventTimeout), or a write.
	ReasonTimeout = "timeout"
	// ReasonProtocol is a server that broke the session protocol: a close
	// or any frame other than a well-formed connection event before the
	// connection event, or a session that ended before it was initialized.
	ReasonProtocol = "protocol"
	// ReasonCredentials is a credential source that could not supply a
	// password (a missing secret file, an IDP that cannot be reached); no
	// connection was attempted.
	ReasonCredentials = "credentials"
)

// Reasons lists every reason value, in the order they are documented.
func Reasons() []string {
	return []string{
		ReasonAuthRejected,
		ReasonUnreachable,
		ReasonTLS,
		ReasonHandshake,
		ReasonTimeout,
		ReasonProtocol,
		ReasonCredentials,
	}
}

// authCloseCodes are the close codes that, when the server closes a socket
// before the session is initialized, count as a refused credential (and,
// when it ends a working session, as a credential that stopped working):
// 1008 (policy violation, what websocket servers commonly send for a
// refused login), 3000 and 3003 (Unauthorized and Forbidden in the IANA
// close code registry) and 4001, 4003, 4401, 4403 (the private-range
// spellings of HTTP 401 and 403 that servers use). Any other close before
// the event, and a socket dropped without a close frame, is a protocol
// failure: nothing shows that the credential was at fault.
var authCloseCodes = map[int]bool{
	websocket.ClosePolicyViolation: true,
	3000:                           true,
	3003:                           true,
	4001:                           true,
	4003:                           true,
	4401:                           true,
	4403:                           true,
}

// ConnectError is a failed connection attempt with its reason.
type ConnectError struct {
	// Reason is one of the Reason constants.
	Reason string
	// Err is the cause.
	Err error
}

// Error returns the reason and the cause.
func (e *ConnectError) Error() string { return e.Reason + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *ConnectError) Unwrap() error { return e.Err }

func failure(reason string, err error) *ConnectError {
	return &ConnectError{Reason: reason, Err: err}
}

// classifyDial gives the reason of a failed dial, TLS handshake or upgrade.
func classifyDial(err error, resp *http.Response) string {
	switch {
	case resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
		return ReasonAuthRejected
	case resp != nil:
		return ReasonHandshake
	case isTimeout(err):
		return ReasonTimeout
	case isTLS(err):
		return ReasonTLS
	case isUnreachable(err):
		return ReasonUnreachable
	}
	return ReasonHandshake
}

// classifyAfterUpgrade gives the reason of a socket that ended after the
// upgrade: before the connection event or the initialization, a failed
// attempt; after it, why a working session ended. A close with a
// credential code is a refusal, a missed deadline a timeout, anything
// else a protocol failure.
func classifyAfterUpgrade(err error) string {
	var closeErr *websocket.CloseError
	if errors.As(err, &closeErr) && authCloseCodes[closeErr.Code] {
		return ReasonAuthRejected
	}
	if isTimeout(err) {
		return ReasonTimeout
	}
	return ReasonProtocol
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		// A name that cannot be resolved is an unreachable server, even
		// when the resolver gave up by timing out.
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

func isTLS(err error) bool {
	var (
		verifyErr    *tls.CertificateVerificationError
		unknownAuth  x509.UnknownAuthorityError
		hostnameErr  x509.HostnameError
		invalidErr   x509.CertificateInvalidError
		recordErr    tls.RecordHeaderError
		alertErr     tls.AlertError
		echRejectErr *tls.ECHRejectionError
	)
	switch {
	case errors.As(err, &verifyErr),
		errors.As(err, &unknownAuth),
		errors.As(err, &hostnameErr),
		errors.As(err, &invalidErr),
		errors.As(err, &recordErr),
		errors.As(err, &alertErr),
		errors.As(err, &echRejectErr):
		return true
	}
	// crypto/tls reports most handshake failures with unexported error
	// values whose text starts with "tls: ".
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.HasPrefix(e.Error(), "tls: ") {
			return true
		}
	}
	return false
}

func isUnreachable(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	for _, errno := range []syscall.Errno{
		syscall.ECONNREFUSED,
		syscall.EHOSTUNREACH,
		syscall.ENETUNREACH,
		syscall.EHOSTDOWN,
		syscall.ENETDOWN,
		syscall.EADDRNOTAVAIL,
	} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}
