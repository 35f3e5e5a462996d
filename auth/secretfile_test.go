package auth

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

// secretFile writes content to a file of the given mode.
func secretFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask does not apply
		t.Fatal(err)
	}
	return path
}

func TestSecretFileWritableByOthersIsRefused(t *testing.T) {
	const content = "world-writable-secret-1d4f"
	path := secretFile(t, "secret", content, 0o666)
	_, err := SecretRef{Name: "secret key", File: path}.Read()
	if !errors.Is(err, ErrInsecureFile) {
		t.Fatalf("Read of a mode 0666 file: %v, want ErrInsecureFile", err)
	}
	if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), content) {
		t.Errorf("error %q should name the file and never its content", err)
	}

	// Through a symbolic link, as secrets are mounted into containers.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := (SecretRef{Name: "secret key", File: link}).Read(); !errors.Is(err, ErrInsecureFile) {
		t.Errorf("Read through a link to a mode 0666 file: %v, want ErrInsecureFile", err)
	}

	// Group-writable and others-readable files are accepted.
	for _, mode := range []os.FileMode{0o600, 0o640, 0o644, 0o660, 0o444} {
		path := secretFile(t, "secret", content, mode)
		if s, err := (SecretRef{Name: "secret key", File: path}).Read(); err != nil || s.Reveal() != content {
			t.Errorf("Read of a mode %v file: %v", mode, err)
		}
	}
}

func TestAPIKeyFilesReadableByOthersAreWarnedAboutOnce(t *testing.T) {
	var logs strings.Builder
	key := &APIKey{
		Key:    SecretRef{Name: "API key", File: secretFile(t, "key", "k-1", 0o644)},
		Secret: SecretRef{Name: "secret key", File: secretFile(t, "secret", "s-1", 0o600)},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	for range 3 {
		if _, err := key.Password(context.Background(), protocol.FormDataTransmitter); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") ||
		!strings.Contains(lines[0], key.Key.File) || !strings.Contains(lines[0], `secret="API key"`) {
		t.Errorf("want one warning naming the API key file, got:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "k-1") || strings.Contains(logs.String(), "s-1") {
		t.Errorf("the warning shows a secret:\n%s", logs.String())
	}
}
