package main

import (
	"context"
	"debug/elf"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// logicalLines returns the lines of a Dockerfile or a systemd unit as
// their parsers see them: blank lines and comments (# or ;) left out, and
// a line ending in a backslash joined with the next.
func logicalLines(text string) []string {
	var out []string
	var pending strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if pending.Len() == 0 && (trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';') {
			continue
		}
		if rest, ok := strings.CutSuffix(trimmed, `\`); ok {
			pending.WriteString(rest + " ")
			continue
		}
		pending.WriteString(trimmed)
		out = append(out, pending.String())
		pending.Reset()
	}
	return out
}

// TestDockerfileBuildCommandWorks runs the builder stage's build command
// as the image build would (with the ARG defaults, on this tree, writing
// to a temporary directory instead of /out), then checks that the binary
// is static and that the -X flags reached the version it reports, which a
// misspelt package path would silently defeat.
func TestDockerfileBuildCommandWorks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	args := map[string]string{}
	var build string
	for _, ins := range logicalLines(readDockerfile(t)) {
		if m := regexp.MustCompile(`^ARG (\w+)=(\S*)$`).FindStringSubmatch(ins); m != nil {
			args[m[1]] = m[2]
		}
		if strings.HasPrefix(ins, "RUN ") && strings.Contains(ins, "go build") {
			build = strings.TrimPrefix(ins, "RUN ")
		}
	}
	if build == "" {
		t.Fatal("no RUN with go build in the Dockerfile")
	}
	out := t.TempDir()
	build = strings.ReplaceAll(build, "/out/", out+"/")
	build = regexp.MustCompile(`\$\{(\w+)\}`).ReplaceAllStringFunc(build, func(ref string) string {
		name := ref[2 : len(ref)-1]
		v, ok := args[name]
		if !ok {
			t.Fatalf("the build command uses %s, which no ARG declares", ref)
		}
		return v
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	output, err := exec.CommandContext(ctx, "sh", "-c", build).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", build, err, output)
	}
	for _, want := range []string{
		"version " + args["VERSION"] + " (branch: " + args["BRANCH"] + ", revision: " + args["REVISION"] + ")",
		"build user:       docker",
		"built-in mapping: OK",
	} {
		if !strings.Contains(string(output), want) {
			t.Errorf("the build's output lacks %q:\n%s", want, output)
		}
	}

	bin, err := elf.Open(filepath.Join(out, "acqueon_exporter"))
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	for _, p := range bin.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary needs a dynamic loader, which the distroless static image lacks")
		}
	}
}
