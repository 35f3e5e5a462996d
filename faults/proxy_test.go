package faults

import (
	"io"
	"net"
	"sync"
	"testing"
)

// proxy is a TCP proxy on loopback between the exporter and the feed that
// can cut a connection in the middle of a frame with a TCP reset.
type proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	armed  bool          // cut the next large chunk from the server
	cut    chan struct{} // closed when a cut happened
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
	closed bool
}

// cutMinChunk is the smallest chunk from the server that a cut splits:
// a metric message, not a pong.
const cutMinChunk = 64

// startProxy forwards a loopback port to target until the test ends.
func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// cutNext arms the proxy: the next chunk of at least cutMinChunk bytes
// the server sends is forwarded only in half, then both connections are
// reset. The returned channel is closed once that happened.
func (p *proxy) cutNext() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = true
	p.cut = make(chan struct{})
	return p.cut
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		if !p.track(client, server) {
			return
		}
		p.wg.Add(2)
		go p.pipe(server, client, false)
		go p.pipe(client, server, true)
	}
}

func (p *proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies from src to dst; from the server (fromServer) it may cut.
func (p *proxy) pipe(dst, src net.Conn, fromServer bool) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if fromServer && n >= cutMinChunk && p.takeCut() {
				_, _ = dst.Write(buf[:n/2])
				reset(dst)
				reset(src)
				p.mu.Lock()
				close(p.cut)
				p.mu.Unlock()
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				reset(dst)
			}
			return
		}
	}
}

func (p *proxy) takeCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.armed {
		return false
	}
	p.armed = false
	return true
}

// reset closes c with a TCP reset instead of an orderly FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}
