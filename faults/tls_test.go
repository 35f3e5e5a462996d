package faults

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

// testCA is a certificate authority made up for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fault suite CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// leaf issues a server certificate for the given DNS names and IPs.
func (ca *testCA) leaf(t *testing.T, dnsNames []string, ips []net.IP) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "feed"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     dnsNames,
		IPAddresses:  ips,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key}
}

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
	ca, stranger := newTestCA(t), newTestCA(t)
	f, _ := tlsFeed(t, stranger.leaf(t, nil, loopback))
	e := startExporter(t, exporterOptions{url: f.url(), client: func(c *wsclient.Config) {
		c.TLSConfig = &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}
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
	ca := newTestCA(t)
	f, cert := tlsFeed(t, ca.leaf(t, []string{"other.example"}, nil))
	e := startExporter(t, exporterOptions{url: f.url(), client: func(c *wsclient.Config) {
		c.TLSConfig = &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}
	}})
	s := e.scrapeDuring()
	e.waitMetrics(t, "TLS failures counted", waitTimeout, func(m metrics) bool {
		return m.get("acqueon_exporter_connect_failures_total", "reason", "tls") >= 2 && m.get("acqueon_up") == 0
	})
	e.waitLog(t, "cannot connect to the feed", "reason=tls", "cannot validate certificate for 127.0.0.1")

	good := ca.leaf(t, nil, loopback)
	cert.Store(&good)
	e.checkRecovered(t, time.Now())
	s.check(t)
}
