package faults

import (
	"crypto/tls"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acqueon-exporter/acqueon_exporter/internal/testkit"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

// tlsFeed serves the feed with a certificate that the test can swap.
func tlsFeed(t *testing.T, cert tls.Certificate) (*feed, *atomic.Pointer[tls.Certificate]) {
	t.Helper()
	var current atomic.Pointer[tls.Certificate]
	current.Store(&cert)
	f := startFeed(t, feedOptions{tls: &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return current.Load(), nil
		},
	}})
	return f, &current
}

var loopback = []net.IP{net.IPv4(127, 0, 0, 1)}

func TestUntrustedCertificateIsATLSFailure(t *testing.T) {
	ca, stranger := testkit.NewCA(t, "fault suite CA"), testkit.NewCA(t, "stranger CA")
	f, _ := tlsFeed(t, stranger.Leaf(t, nil, loopback))
	e := startExporter(t, exporterOptions{url: f.url(), client: func(c *wsclient.Config) {
		c.TLSConfig = &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	}})
	s := e.scrapeDuring()
	m := e.waitMetrics(t, "TLS failures counted", waitTimeout, func(m metrics) bool {
		return m.get("acqueon_exporter_connect_failures_total", "reason", "tls") >= 2
	})
	s.check(t)
	if m.get("acqueon_up") != 0 || m.vendorSeries() != 0 {
		t.Errorf("acqueon_up %v and %d vendor series with an untrusted server", m.get("acqueon_up"), m.vendorSeries())
	}
	e.waitLog(t, "cannot connect to the feed", "reason=tls", "unknown authority")
	if n := len(f.sim.Sessions()); n != 0 {
		t.Errorf("the server saw %d requests through a TLS handshake that must fail", n)
	}
}

func TestCertificateForAnotherHostIsATLSFailureUntilItIsReplaced(t *testing.T) {
	ca := testkit.NewCA(t, "fault suite CA")
	f, cert := tlsFeed(t, ca.Leaf(t, []string{"other.example"}, nil))
	e := startExporter(t, exporterOptions{url: f.url(), client: func(c *wsclient.Config) {
		c.TLSConfig = &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	}})
	s := e.scrapeDuring()
	e.waitMetrics(t, "TLS failures counted", waitTimeout, func(m metrics) bool {
		return m.get("acqueon_exporter_connect_failures_total", "reason", "tls") >= 2 && m.get("acqueon_up") == 0
	})
	e.waitLog(t, "cannot connect to the feed", "reason=tls", "cannot validate certificate for 127.0.0.1")

	good := ca.Leaf(t, nil, loopback)
	cert.Store(&good)
	e.checkRecovered(t, time.Now())
	s.check(t)
}
