package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

const systemdUnit = "examples/systemd/acqueon_exporter.service"

// unitDirective is one Key=Value line of a unit file, continuation lines
// joined.
type unitDirective struct {
	section, key, value string
}

// readUnit reads a systemd unit file the way systemd does for the parts
// this project uses: sections, comments, and values continued with a
// trailing backslash.
func readUnit(t *testing.T, path string) []unitDirective {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []unitDirective
	var section string
	for _, line := range logicalLines(string(text)) {
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a Key=Value line: %q", path, line)
		}
		out = append(out, unitDirective{section, key, value})
	}
	return out
}

func unitValues(directives []unitDirective, section, key string) []string {
	var out []string
	for _, d := range directives {
		if d.section == section && d.key == key {
			out = append(out, d.value)
		}
	}
	return out
}

// TestSystemdUnitRunsTheExporter runs the exporter with the example unit's
// command line, its credentials directory (%d) filled as LoadCredential
// would fill it and only the feed's address swapped for a simulator's, and
// expects a live session.
func TestSystemdUnitRunsTheExporter(t *testing.T) {
	unit := readUnit(t, systemdUnit)
	execStart := unitValues(unit, "Service", "ExecStart")
	if len(execStart) != 1 {
		t.Fatalf("%s has %d ExecStart lines, want 1", systemdUnit, len(execStart))
	}
	fields := strings.Fields(execStart[0])
	if fields[0] != "/usr/local/bin/acqueon_exporter" {
		t.Errorf("ExecStart runs %s", fields[0])
	}

	// LoadCredential=name:source puts a copy of source at %d/name.
	contents := map[string]string{"api-key": siteKey, "secret-key": siteSecret}
	credDir, stateDir := t.TempDir(), t.TempDir()
	for _, spec := range unitValues(unit, "Service", "LoadCredential") {
		name, source, _ := strings.Cut(spec, ":")
		if !strings.HasPrefix(source, "/etc/acqueon_exporter/") {
			t.Errorf("LoadCredential %s reads %s, outside /etc/acqueon_exporter", name, source)
		}
		content, ok := contents[name]
		if !ok {
			t.Fatalf("LoadCredential %s: this test knows no content for it", name)
		}
		if err := os.WriteFile(filepath.Join(credDir, name), []byte(content+"\n"), 0o400); err != nil {
			t.Fatal(err)
		}
	}

	_, feed := startSiteFeed(t, simulator.Config{})
	var args []string
	for _, arg := range fields[1:] {
		switch {
		case strings.HasPrefix(arg, "--acqueon.url="):
			arg = "--acqueon.url=" + feed.String()
		case strings.HasPrefix(arg, "--acqueon.user="):
			arg = "--acqueon.user=" + siteUser
		}
		arg = strings.ReplaceAll(arg, "%d", credDir)
		arg = strings.ReplaceAll(arg, "%S", stateDir)
		if strings.Contains(arg, "%") {
			t.Fatalf("ExecStart argument %q holds a specifier this test does not fill", arg)
		}
		args = append(args, arg)
	}
	base, stop := serveForTest(t, args...)
	defer stop()
	eventually(t, "acqueon_up 1 and vendor series", func() bool {
		m := scrape(t, base)
		return strings.Contains(m, "\nacqueon_up 1\n") && strings.Contains(m, "acqueon_campaign_info{")
	})

	if got := unitValues(unit, "Service", "ExecReload"); len(got) != 1 || got[0] != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload = %q, want SIGHUP, which reloads the mapping and credential files", got)
	}
}

// TestSystemdUnitVerifies has systemd itself check the example unit, with
// the binary path pointed at an executable that exists here. Any warning
// (an unknown key, a bad value) fails the test.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("systemd-analyze not found (set CI to make this a failure): %v", err)
		}
		t.Fatalf("systemd-analyze not found: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(systemdUnit)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), filepath.Base(systemdUnit))
	patched := strings.Replace(string(text), "ExecStart=/usr/local/bin/acqueon_exporter", "ExecStart="+self, 1)
	if err := os.WriteFile(unit, []byte(patched), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, "verify", "--man=no", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
