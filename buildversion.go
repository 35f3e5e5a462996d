package main

import (
	"runtime/debug"
	"strings"

	"github.com/prometheus/common/version"
)

// moduleVersion is the version Go recorded for the main module, without
// its "v": the tag for `go install ...@v1.2.3`, a pseudo-version built
// from the commit for a build in a checkout. It is empty when Go recorded
// none ("(devel)").
func moduleVersion(info *debug.BuildInfo) string {
	if info == nil || info.Main.Version == "" || info.Main.Version == "(devel)" {
		return ""
	}
	return strings.TrimPrefix(info.Main.Version, "v")
}

// fillVersion sets the version that --version, the start-up log and
// acqueon_exporter_build_info report, when the build did not set it with
// -ldflags (as the Dockerfile does), from what Go recorded.
func fillVersion() {
	if version.Version != "" {
		return
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		version.Version = moduleVersion(info)
	}
}
