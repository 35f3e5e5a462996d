package main

import (
	"strings"
	"testing"
)

func TestParseFeedURLTakesCredentialsOutOfTheVendorForm(t *testing.T) {
	raw := "wss://PerformanceMetrics_ACQ_1654268360:c2VjcmV0LXBhc3N3b3Jk@dev.example.com:4747" +
		"/AEDataTransmitter?name=PerformanceMetrics_ACQ_1654268360"
	target, err := parseFeedURL(raw, "")
	if err != nil {
		t.Fatal(err)
	}
	if target.User != "ACQ" {
		t.Errorf("user %q, want ACQ", target.User)
	}
	if target.Password != "c2VjcmV0LXBhc3N3b3Jk" {
		t.Errorf("password not taken from the URL")
	}
	if got := target.URL.String(); got != "wss://dev.example.com:4747/AEDataTransmitter" {
		t.Errorf("URL %q still holds user info or the old session name", got)
	}
}

func TestParseFeedURLPrefersTheUserFlag(t *testing.T) {
	target, err := parseFeedURL("wss://PerformanceMetrics_ACQ:pw@host:4747/AEConsole", "other")
	if err != nil {
		t.Fatal(err)
	}
	if target.User != "other" || target.URL.Path != "/AEConsole" {
		t.Errorf("got %+v", target)
	}
}

func TestParseFeedURLErrorsNeverRepeatThePassword(t *testing.T) {
	const password = "pa55word-in-url"
	for _, raw := range []string{
		"https://PerformanceMetrics_ACQ_1:" + password + "@host/AEDataTransmitter",
		"wss://PerformanceMetrics_ACQ_1:" + password + "@host/wrong",
		"wss://someone:" + password + "@host/AEDataTransmitter",
		"wss://PerformanceMetrics_ACQ_1:" + password + "@host:bad port/AEDataTransmitter",
		"wss://PerformanceMetrics_ACQ_1:" + password + "@/AEDataTransmitter",
	} {
		_, err := parseFeedURL(raw, "")
		if err == nil {
			t.Errorf("%q accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("error repeats the password: %v", err)
		}
	}
}

func TestParseFeedURLNeedsAUser(t *testing.T) {
	if _, err := parseFeedURL("wss://host:4747/AEDataTransmitter", ""); err == nil ||
		!strings.Contains(err.Error(), "--acqueon.user") {
		t.Errorf("err = %v", err)
	}
	if _, err := parseFeedURL("wss://host:4747/AEDataTransmitter", "a b"); err == nil {
		t.Error("a user with a space was accepted")
	}
}

func TestTLSFlagsRejectHalfAClientCertificate(t *testing.T) {
	if _, err := (tlsFlags{CertFile: "c.pem"}).config(); err == nil {
		t.Error("a certificate without a key was accepted")
	}
	if _, err := (tlsFlags{CAFile: "/nonexistent/ca.pem"}).config(); err == nil ||
		!strings.Contains(err.Error(), "--acqueon.tls.ca-file") {
		t.Errorf("err = %v", err)
	}
}

func TestLoadLocation(t *testing.T) {
	if _, err := loadLocation("Mars/Olympus"); err == nil || !strings.Contains(err.Error(), "--acqueon.timezone") {
		t.Errorf("err = %v", err)
	}
	loc, err := loadLocation("Asia/Kolkata")
	if err != nil || loc.String() != "Asia/Kolkata" {
		t.Errorf("got %v, %v", loc, err)
	}
}
