package wsclient_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

// slowHandler takes its time over one frame, as ingest of a very large
// message does.
type slowHandler struct {
	frames atomic.Int32
	slowAt int32
	delay  time.Duration
	slowed chan struct{}
	once   sync.Once
}

func (h *slowHandler) HandleFrame([]byte, time.Time) {
	if h.frames.Add(1) == h.slowAt {
		time.Sleep(h.delay) // the handler is busy: what is measured here
		h.once.Do(func() { close(h.slowed) })
	}
}

func (h *slowHandler) DiscardFrame(string) {}

// TestSlowHandlerDoesNotCountAsAStalledFeed proves that the time the
// handler spends on a frame does not eat into the liveness deadline: a
// frame whose ingest takes longer than two ping intervals must not end a
// feed that keeps answering pings.
func TestSlowHandlerDoesNotCountAsAStalledFeed(t *testing.T) {
	sim, ts := startSimulator(t, simulator.Config{PushInterval: 20 * time.Millisecond}, false)
	const ping = 100 * time.Millisecond
	h := &slowHandler{slowAt: 5, delay: 5 * ping, slowed: make(chan struct{})}
	logs := &logBuffer{}
	c, err := wsclient.New(wsclient.Config{
		URL:          feedURL(t, ts, protocol.PathDataTransmitter),
		User:         testUser,
		Credentials:  &countingSource{password: testPassword},
		Location:     time.UTC,
		PingInterval: ping,
		MinBackoff:   time.Millisecond,
		MaxBackoff:   10 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	select {
	case <-h.slowed:
	case <-time.After(waitTimeout):
		t.Fatal("the handler never got its slow frame")
	}
	// The session goes on: more frames arrive on the same session.
	after := h.frames.Load()
	eventually(t, "frames arrive after the slow one", func() bool { return h.frames.Load() >= after+5 })
	if n := len(sim.Sessions()); n != 1 {
		t.Errorf("the server saw %d sessions, want 1: a slow handler ended the session\n%s", n, logs.String())
	}
}
