package main

import (
	"runtime/debug"
	"testing"
)

func TestModuleVersion(t *testing.T) {
	for _, tt := range []struct {
		recorded, want string
	}{
		{"v1.2.3", "1.2.3"},
		{"v0.0.0-20261203194533-f5798d5abcde+dirty", "0.0.0-20261203194533-f5798d5abcde+dirty"},
		{"(devel)", ""},
		{"", ""},
	} {
		info := &debug.BuildInfo{Main: debug.Module{Path: "github.com/acqueon-exporter/acqueon_exporter", Version: tt.recorded}}
		if got := moduleVersion(info); got != tt.want {
			t.Errorf("moduleVersion(%q) = %q, want %q", tt.recorded, got, tt.want)
		}
	}
	if got := moduleVersion(nil); got != "" {
		t.Errorf("moduleVersion(nil) = %q", got)
	}
}
