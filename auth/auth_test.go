package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func noEnv(string) (string, bool) { return "", false }

func TestAPIKeyPasswordMatchesTheVendorSample(t *testing.T) {
	dir := t.TempDir()
	src := &APIKey{
		Key:    SecretRef{Name: "API key", File: writeFile(t, dir, "key", "12345-121212-121212-1212\n")},
		Secret: SecretRef{Name: "secret key", File: writeFile(t, dir, "secret", " 12345-12121-21212-1212-122 \n")},
	}
	for _, form := range []protocol.Form{protocol.FormDataTransmitter, protocol.FormConsole} {
		got, err := src.Password(context.Background(), form)
		if err != nil {
			t.Fatal(err)
		}
		// The password in the vendor's sample URL.
		if want := "MTIzNDUtMTIxMjEyLTEyMTIxMi0xMjEyOjEyMzQ1LTEyMTIxLTIxMjEyLTEyMTItMTIy"; got != want {
			t.Errorf("%v: got %s, want %s", form, got, want)
		}
	}
}

func TestAPIKeyReadsRotatedFilesAtTheNextCall(t *testing.T) {
	dir := t.TempDir()
	keyFile := writeFile(t, dir, "key", "k1")
	src := &APIKey{
		Key:    SecretRef{Name: "API key", File: keyFile},
		Secret: SecretRef{Name: "secret key", File: writeFile(t, dir, "secret", "s")},
	}
	first, _ := src.Password(context.Background(), protocol.FormDataTransmitter)
	writeFile(t, dir, "key", "k2")
	second, _ := src.Password(context.Background(), protocol.FormDataTransmitter)
	if first == second {
		t.Error("the rotated key file was not read again")
	}
}

func TestSecretRefFallsBackToTheEnvironment(t *testing.T) {
	ref := SecretRef{Name: "API key", Env: "ACQUEON_API_KEY", LookupEnv: func(k string) (string, bool) {
		if k == "ACQUEON_API_KEY" {
			return "from-env\n", true
		}
		return "", false
	}}
	s, err := ref.Read()
	if err != nil || s.Reveal() != "from-env" {
		t.Errorf("got %q, %v", s.Reveal(), err)
	}
	if !ref.Configured() {
		t.Error("Configured() = false with the variable set")
	}
}

func TestSecretRefErrorsNameTheSourceNotTheContent(t *testing.T) {
	dir := t.TempDir()
	empty := writeFile(t, dir, "empty", "\n")

	_, err := SecretRef{Name: "secret key", File: empty}.Read()
	if !errors.Is(err, ErrNoSecret) || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty file: %v", err)
	}
	_, err = SecretRef{Name: "secret key", File: filepath.Join(dir, "missing")}.Read()
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "secret key") {
		t.Errorf("missing file: %v", err)
	}
	_, err = SecretRef{Name: "secret key", Env: "ACQUEON_SECRET_KEY", LookupEnv: noEnv}.Read()
	if !errors.Is(err, ErrNoSecret) || !strings.Contains(err.Error(), "ACQUEON_SECRET_KEY") {
		t.Errorf("nothing configured: %v", err)
	}
}

func TestSecretNeverPrintsItself(t *testing.T) {
	s := Secret("hunter2-secret")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	logger.Info("x", "secret", s)
	logger.Info("y", "any", any(s))
	text := logs.String() + fmt.Sprint(s) + fmt.Sprintf("%v %+v %#v %s", s, s, s, s)
	if strings.Contains(text, "hunter2") {
		t.Errorf("secret shown: %s", text)
	}
	if s.Reveal() != "hunter2-secret" {
		t.Error("Reveal lost the value")
	}
}

func TestStaticPassword(t *testing.T) {
	got, err := NewStatic("abc").Password(context.Background(), protocol.FormConsole)
	if err != nil || got != "abc" {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := NewStatic("").Password(context.Background(), protocol.FormConsole); !errors.Is(err, ErrNoSecret) {
		t.Errorf("empty: %v", err)
	}
}
