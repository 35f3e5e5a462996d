package testkit

import (
	"crypto/x509"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLogBufferKeepsEveryWriteOfConcurrentWriters(t *testing.T) {
	var b LogBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("line\n"))
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "line\n"); n != 800 {
		t.Errorf("buffer holds %d lines, want 800", n)
	}
}

func TestClockMovesOnlyWhenTold(t *testing.T) {
	start := time.Date(2026, 3, 8, 6, 59, 0, 0, time.UTC)
	c := NewClock(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Now = %v, want %v", c.Now(), start)
	}
	c.Advance(90 * time.Second)
	if want := start.Add(90 * time.Second); !c.Now().Equal(want) {
		t.Errorf("after Advance, Now = %v, want %v", c.Now(), want)
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Errorf("after Set, Now = %v, want %v", c.Now(), start)
	}
}

func TestCALeafVerifiesOnlyForItsNamesAndOnlyAgainstItsPool(t *testing.T) {
	ca := NewCA(t, "test CA")
	leaf := ca.Leaf(t, []string{"feed.example"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	cert, err := x509.ParseCertificate(leaf.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	opts := func(name string, roots *x509.CertPool) x509.VerifyOptions {
		return x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	}
	for _, name := range []string{"feed.example", "127.0.0.1"} {
		if _, err := cert.Verify(opts(name, ca.Pool)); err != nil {
			t.Errorf("leaf does not verify for %s: %v", name, err)
		}
	}
	if _, err := cert.Verify(opts("other.example", ca.Pool)); err == nil {
		t.Error("leaf verifies for a name it was not issued for")
	}
	other := NewCA(t, "another CA")
	if _, err := cert.Verify(opts("feed.example", other.Pool)); err == nil {
		t.Error("leaf verifies against another CA's pool")
	}
}
