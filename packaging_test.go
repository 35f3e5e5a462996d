package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The image cannot be built here (no container engine), so these tests
// check what can be read from the Dockerfile itself.

func readDockerfile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDockerfileBuilderMatchesTheModulesGoVersion(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)$`).FindStringSubmatch(string(mod))
	if goLine == nil {
		t.Fatal("go.mod has no go line")
	}
	from := regexp.MustCompile(`(?m)^FROM golang:(\S+) AS build$`).FindStringSubmatch(readDockerfile(t))
	if from == nil {
		t.Fatal("no pinned golang builder stage")
	}
	if !strings.HasPrefix(from[1], goLine[1]) {
		t.Errorf("builder golang:%s does not match go.mod's go %s", from[1], goLine[1])
	}
}

func TestDockerfileBuildsAStaticVersionedNonRootImage(t *testing.T) {
	df := readDockerfile(t)
	for _, want := range []string{
		"CGO_ENABLED=0",
		"-trimpath",
		"-X github.com/prometheus/common/version.Version=",
		"-X github.com/prometheus/common/version.Revision=",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER 65532:65532",
		`ENTRYPOINT ["/bin/acqueon_exporter"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	port := strings.TrimPrefix(defaultListenAddress, ":")
	if !regexp.MustCompile(`(?m)^EXPOSE ` + port + `$`).MatchString(df) {
		t.Errorf("Dockerfile does not EXPOSE the default port %s", port)
	}
	if regexp.MustCompile(`(?m)^FROM \S+:latest\b`).MatchString(df) {
		t.Error("an image is not pinned")
	}
}

func TestDockerignoreKeepsBuildOutputOut(t *testing.T) {
	b, err := os.ReadFile(".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", "acqueon_exporter"} {
		if !strings.Contains(string(b), want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}
