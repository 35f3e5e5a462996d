// Package auth supplies the password a feed session presents. Two kinds of
// credentials exist: an API key with its secret key, and an access token
// from the Acqueon IDP. Both hide behind Source, so the session never knows
// which one it uses, and neither ever hands a secret to a logger.
package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

// Source supplies the password for the Basic authorization of a session.
// Implementations are safe for concurrent use.
type Source interface {
	// Password returns the password for the next connection attempt on a
	// URL of the given form. It may block on network I/O (a token refresh)
	// and honours ctx.
	Password(ctx context.Context, form protocol.Form) (string, error)
	// Rejected tells the source that the feed refused the password it
	// returned last, so that the next Password must not return it again
	// without checking: a token is refreshed, files are read anew.
	Rejected()
}

// ErrNoSecret is returned when a secret is configured neither by file nor
// by environment variable, or is empty.
var ErrNoSecret = errors.New("secret not configured")

// ErrInsecureFile is returned for a secret file that others than its
// owner and group may write: anyone on the host could put their own
// credential in it.
var ErrInsecureFile = errors.New("secret file is writable by others")

// SecretRef says where one secret is read from: a file, else an
// environment variable. It is read at every use, so a rotated file takes
// effect at the next connect without a restart.
type SecretRef struct {
	// Name says what the secret is, for error messages ("secret key").
	Name string
	// File is the path of a file holding the secret; surrounding white
	// space, such as a trailing newline, is dropped.
	File string
	// Env is the environment variable used when File is empty.
	Env string
	// LookupEnv reads the environment; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Configured reports whether a file or a set environment variable names
// the secret.
func (r SecretRef) Configured() bool {
	if r.File != "" {
		return true
	}
	_, ok := r.lookupEnv(r.Env)
	return ok && r.Env != ""
}

// Read returns the secret. Errors name the file or variable, never the
// content. A file that others may write is refused (ErrInsecureFile), as
// ssh refuses such key files; one that others may read is accepted (see
// warnIfShared).
func (r SecretRef) Read() (Secret, error) {
	if r.File != "" {
		if err := checkNotWorldWritable(r.File); err != nil {
			return "", fmt.Errorf("read %s: %w", r.Name, err)
		}
		b, err := os.ReadFile(r.File)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", r.Name, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("read %s: file %s is empty: %w", r.Name, r.File, ErrNoSecret)
		}
		return Secret(s), nil
	}
	if r.Env != "" {
		if v, ok := r.lookupEnv(r.Env); ok && strings.TrimSpace(v) != "" {
			return Secret(strings.TrimSpace(v)), nil
		}
	}
	return "", fmt.Errorf("%s: %w (give a file, or set %s)", r.Name, ErrNoSecret, r.Env)
}

// checkNotWorldWritable refuses a file that others may write. The mode
// of the file a symbolic link points to counts, as with secrets mounted
// into containers.
func checkNotWorldWritable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err // ReadFile reports it the usual way
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("%w: %s has mode %s; remove write access for others (chmod o-w)",
			ErrInsecureFile, path, fi.Mode().Perm())
	}
	return nil
}

func (r SecretRef) lookupEnv(key string) (string, bool) {
	if r.LookupEnv != nil {
		return r.LookupEnv(key)
	}
	return os.LookupEnv(key)
}

// Secret is a credential value. Its String, GoString and LogValue hide it,
// so that passing one to fmt or slog by mistake shows nothing.
type Secret string

// String returns a placeholder, never the secret.
func (Secret) String() string { return "<secret>" }

// GoString returns a placeholder, never the secret.
func (Secret) GoString() string { return "<secret>" }

// LogValue returns a placeholder, never the secret.
func (Secret) LogValue() slog.Value { return slog.StringValue("<secret>") }

// Reveal returns the secret itself, for the one place that puts it on the
// wire.
func (s Secret) Reveal() string { return string(s) }

// APIKey is a Source for API-key credentials generated in Campaign Manager.
// The password is base64(apikey:secretkey) on both URL forms. Both files
// are read at every connect. Use it by pointer.
type APIKey struct {
	Key    SecretRef
	Secret SecretRef
	// Logger receives a warning, once per file, when a key file can be
	// read by group or others; nil warns nowhere.
	Logger *slog.Logger

	mu     sync.Mutex
	warned map[string]bool
}

// Password returns base64(apikey + ":" + secretkey).
func (a *APIKey) Password(_ context.Context, _ protocol.Form) (string, error) {
	key, err := a.Key.Read()
	if err != nil {
		return "", err
	}
	secret, err := a.Secret.Read()
	if err != nil {
		return "", err
	}
	a.warnOnce(a.Key)
	a.warnOnce(a.Secret)
	return base64.StdEncoding.EncodeToString([]byte(key.Reveal() + ":" + secret.Reveal())), nil
}

// Rejected does nothing: the files are read anew at every connect anyway.
func (a *APIKey) Rejected() {}

// warnOnce warns the first time ref's file is seen readable by group or
// others.
func (a *APIKey) warnOnce(ref SecretRef) {
	if a.Logger == nil || ref.File == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.warned[ref.File] {
		return
	}
	fi, err := os.Stat(ref.File)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	if a.warned == nil {
		a.warned = map[string]bool{}
	}
	a.warned[ref.File] = true
	warnIfShared(ref.File, ref.Name, a.Logger)
}

// Static is a Source with a fixed, already encoded password, such as the
// one a user wrote into the feed URL in the vendor's
// wss://name:password@host form.
type Static struct {
	password Secret
}

// NewStatic returns a Source that always returns password.
func NewStatic(password string) *Static { return &Static{password: Secret(password)} }

// Password returns the fixed password.
func (s *Static) Password(context.Context, protocol.Form) (string, error) {
	if s.password == "" {
		return "", fmt.Errorf("password in URL: %w", ErrNoSecret)
	}
	return s.password.Reveal(), nil
}

// Rejected does nothing: a fixed password cannot be renewed.
func (s *Static) Rejected() {}
