package simulator

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/acqueon-exporter/acqueon_exporter/capture"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

var replayStart = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

// writeCapture writes frames as a capture file, the i-th received at
// replayStart plus offsets[i].
func writeCapture(t *testing.T, frames []string, offsets []time.Duration) string {
	t.Helper()
	var b strings.Builder
	for i, f := range frames {
		line, err := json.Marshal(capture.Record{ReceivedAt: replayStart.Add(offsets[i]), Frame: f})
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	path := filepath.Join(t.TempDir(), "capture.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var recordedFrames = []string{
	string(protocol.ConnectionEvent("PerformanceMetrics_SITE_1", "00000000000000000000000000000001")),
	string(protocol.Encode("ATIRealTimeService", "PerformanceMetrics_SITE_1", "AEPerformanceMetrics", `{"Campaigns":[]}`)),
	`{"Sender":"ATIRealTimeService","MessageType":"Heartbeat","Data":""}`,
	"not json at all",
	string(protocol.Encode("ATIRealTimeService", "PerformanceMetrics_SITE_1", "AEPerformanceMetrics", `{"Queues":[]}`)),
}

func TestReplaySendsTheCapturedFramesAsRecordedAfterALiveConnectionEvent(t *testing.T) {
	offsets := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second}
	replay, err := NewReplay(writeCapture(t, recordedFrames, offsets), ReplayOptions{Speed: 0})
	if err != nil {
		t.Fatal(err)
	}
	if replay.Len() != 4 {
		t.Errorf("Len = %d, want 4 (all but the connection event)", replay.Len())
	}
	s, base := startServer(t, Config{Frames: replay})
	name := "PerformanceMetrics_ACQ_1764770645"
	conn, event := login(t, base, protocol.PathDataTransmitter, name, 0)

	if event.MessageType != protocol.MessageTypeConnection || event.Receiver != name ||
		strings.Contains(string(event.Data), "00000000000000000000000000000001") {
		t.Errorf("connection event %+v is not the live session's", event)
	}
	for _, want := range recordedFrames[1:] {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, got, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("frame %q, want %q", got, want)
		}
	}

	// At the end the session stays open and quiet: a ping still gets its pong.
	pong := make(chan struct{}, 1)
	conn.SetPongHandler(func(string) error { pong <- struct{}{}; return nil })
	if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _, _ = conn.ReadMessage() }()
	select {
	case <-pong:
	case <-time.After(10 * time.Second):
		t.Fatal("no pong after the replay ended")
	}
	// The server counts a frame after its write returns.
	sessions, _ := s.Wait(testCtx(t), func(ss []Session) bool { return len(ss) == 1 && ss[0].Pushed >= 4 })
	if sessions[0].Pushed != 4 || sessions[0].End != "" {
		t.Errorf("session record %+v, want 4 frames pushed and no end", sessions[0])
	}
}

// fakeAfter returns at once and remembers the waits it was asked for.
type fakeAfter struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (f *fakeAfter) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	f.waits = append(f.waits, d)
	f.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

func TestReplayKeepsTheRecordedPaceScaledBySpeed(t *testing.T) {
	offsets := []time.Duration{0, 0, 2 * time.Second, 5 * time.Second, 5 * time.Second}
	after := &fakeAfter{}
	replay, err := NewReplay(writeCapture(t, recordedFrames, offsets), ReplayOptions{Speed: 2, After: after.After})
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	err = replay.Play(make(chan struct{}), func(f []byte) error { sent = append(sent, string(f)); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sent, recordedFrames[1:]) {
		t.Errorf("sent %q", sent)
	}
	// Gaps 2s, 3s and 0 at speed 2; no wait for a gap of 0.
	if want := []time.Duration{time.Second, 1500 * time.Millisecond}; !slices.Equal(after.waits, want) {
		t.Errorf("waits %v, want %v", after.waits, want)
	}
}

func TestReplayLoopsUntilStopped(t *testing.T) {
	offsets := []time.Duration{0, 0, time.Second, 2 * time.Second, 3 * time.Second}
	after := &fakeAfter{}
	replay, err := NewReplay(writeCapture(t, recordedFrames, offsets), ReplayOptions{Speed: 1, Loop: true, After: after.After})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	sent := 0
	err = replay.Play(stop, func([]byte) error {
		if sent++; sent == 10 {
			close(stop)
		}
		return nil
	})
	if err != nil || sent != 10 {
		t.Errorf("Play = %v after %d frames, want nil after 10", err, sent)
	}
	// Between passes, the average gap of the capture.
	if after.waits[3] != time.Second {
		t.Errorf("wait between passes %v, want 1s", after.waits[3])
	}
}

func TestReplayStopsAtASendError(t *testing.T) {
	replay, err := NewReplay(writeCapture(t, recordedFrames, make([]time.Duration, 5)), ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	broken := errors.New("socket gone")
	if err := replay.Play(make(chan struct{}), func([]byte) error { return broken }); !errors.Is(err, broken) {
		t.Errorf("Play = %v, want the send error", err)
	}
}

func TestNewReplayRefusesUnusableCaptures(t *testing.T) {
	onlyEvent := writeCapture(t, recordedFrames[:1], []time.Duration{0})
	if _, err := NewReplay(onlyEvent, ReplayOptions{}); !errors.Is(err, ErrEmptyReplay) {
		t.Errorf("capture with only a connection event: %v", err)
	}
	if _, err := NewReplay(writeCapture(t, recordedFrames[1:2], []time.Duration{0}), ReplayOptions{Speed: -1}); err == nil {
		t.Error("negative speed accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"frame\":\"x\"}\nnot a record\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewReplay(bad, ReplayOptions{}); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Errorf("bad capture: %v, want one naming bad.jsonl:2", err)
	}
}
