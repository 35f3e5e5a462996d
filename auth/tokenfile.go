package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tokenFile is what the token file holds: the refresh token and the IDP
// and client it belongs to, so that a file written for another
// configuration is not sent to the wrong IDP.
type tokenFile struct {
	IDP          string    `json:"idp"`
	ClientID     string    `json:"client_id"`
	RefreshToken string    `json:"refresh_token"`
	SavedAt      time.Time `json:"saved_at"`
}

// idpName names the IDP in the token file: the issuer URL, or the token
// URL when no issuer is configured.
func (c IDPConfig) idpName() string {
	if c.IssuerURL != "" {
		return strings.TrimSuffix(c.IssuerURL, "/")
	}
	return c.TokenURL
}

// loadTokenFile takes the refresh token from the token file. A missing
// file is no error except with grant refresh-token. Called with lock held
// or before the source is shared.
func (p *IDP) loadTokenFile() error {
	tf, err := readTokenFile(p.cfg.TokenFile, p.log)
	switch {
	case errors.Is(err, fs.ErrNotExist) && p.cfg.Grant != GrantRefreshToken:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: token file %s does not exist", ErrLoginRequired, p.cfg.TokenFile)
	case err != nil:
		return err
	}

	if tf.IDP != p.cfg.idpName() || tf.ClientID != p.cfg.ClientID {
		return fmt.Errorf("token file %s belongs to client %q of %s, not to client %q of %s",
			p.cfg.TokenFile, tf.ClientID, tf.IDP, p.cfg.ClientID, p.cfg.idpName())
	}
	if tf.RefreshToken == "" || Secret(tf.RefreshToken) == p.refused {
		return fmt.Errorf("%w: token file %s holds no refresh token the IDP accepts",
			ErrLoginRequired, p.cfg.TokenFile)
	}
	p.refreshToken = Secret(tf.RefreshToken)
	p.log.Info("read the IDP refresh token", "file", p.cfg.TokenFile, "saved_at", tf.SavedAt)
	return nil
}

// storeRefreshToken writes the current refresh token to the token file,
// if one is configured. A failure is logged: the token in hand still works,
// but the next run may have to sign in again. Called with lock held.
func (p *IDP) storeRefreshToken() {
	if p.cfg.TokenFile == "" {
		return
	}
	err := writeTokenFile(p.cfg.TokenFile, tokenFile{
		IDP:          p.cfg.idpName(),
		ClientID:     p.cfg.ClientID,
		RefreshToken: p.refreshToken.Reveal(),
		SavedAt:      p.now().UTC(),
	})
	if err != nil {
		p.log.Warn("could not store the IDP refresh token; the next run may have to sign in again",
			"file", p.cfg.TokenFile, "err", err)
		return
	}
	p.log.Debug("stored the IDP refresh token", "file", p.cfg.TokenFile)
}

func readTokenFile(path string, log *slog.Logger) (tokenFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return tokenFile{}, fmt.Errorf("read token file: %w", err)
	}
	warnIfShared(path, "IDP token file", log)

	var tf tokenFile
	if err := json.Unmarshal(b, &tf); err != nil {
		// The error of encoding/json quotes no input, only offsets and types.
		return tokenFile{}, fmt.Errorf("read token file %s: %w", path, err)
	}
	return tf, nil
}

// writeTokenFile replaces the token file atomically: a temporary file in
// the same directory, mode 0600, synced, renamed over the old one, and the
// directory synced so that the rename survives a crash.
func writeTokenFile(path string, tf tokenFile) (err error) {
	b, err := json.MarshalIndent(tf, "", "  ")
	if err != nil {
		return fmt.Errorf("encode token file: %w", err)
	}
	dir := filepath.Dir(path)

	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	if _, err = tmp.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable. Not every system can sync a
// directory; the rename has happened either way.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// warnIfShared warns, as ssh does for keys, when a file that holds a secret
// can be read by group or others. It does not refuse the file: secrets
// mounted into containers are often mode 0644 or 0444, owned by root, and
// the exporter cannot change that.
func warnIfShared(path, what string, log *slog.Logger) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	log.Warn("a file holding a secret is readable by group or others; restrict it to its owner (chmod 600)",
		"secret", what, "file", path, "mode", fi.Mode().Perm().String())
}

// warnIfSharedRef applies warnIfShared to a secret that comes from a file.
func warnIfSharedRef(ref SecretRef, log *slog.Logger) {
	if ref.File != "" {
		warnIfShared(ref.File, ref.Name, log)
	}
}
