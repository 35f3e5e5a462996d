package simulator

import (
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/acqueon-exporter/acqueon_exporter/capture"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

// FrameSource supplies the frames of an initialized session in place of
// the tenant model's metric messages (see Config.Frames).
type FrameSource interface {
	// Play hands frames to send, at its own pace, until it has no more,
	// send fails (it returns that error) or stop is closed (it returns
	// nil). It is called once per session, from the session's goroutine.
	Play(stop <-chan struct{}, send func(frame []byte) error) error
}

// ReplayOptions say how a Replay plays a capture.
type ReplayOptions struct {
	// Speed divides the recorded gaps between frames: 1 is the recorded
	// pace, 10 ten times faster; 0 sends the frames as fast as the
	// socket takes them.
	Speed float64
	// Loop starts the capture again after its last frame; otherwise the
	// session stays open and quiet, as a feed with nothing more to say.
	Loop bool
	// After waits for a duration on the real clock; nil means
	// time.After. Tests replace it.
	After func(time.Duration) <-chan time.Time
}

// Replay is a FrameSource that plays the frames of a capture file as they
// were recorded: every frame but the connection event, which the server
// sends itself, byte for byte and at the recorded pace scaled by Speed.
// Every session plays the capture from its start.
type Replay struct {
	frames []capture.Record
	opts   ReplayOptions
}

// ErrEmptyReplay is returned by NewReplay for a capture without any frame
// to replay.
var ErrEmptyReplay = errors.New("the capture holds no frame to replay")

// NewReplay reads the capture at path for replay.
func NewReplay(path string, opts ReplayOptions) (*Replay, error) {
	if opts.Speed < 0 {
		return nil, fmt.Errorf("replay speed %v is negative", opts.Speed)
	}
	if opts.After == nil {
		opts.After = time.After
	}
	r := &Replay{opts: opts}
	err := capture.ReadFile(path, func(rec capture.Record) error {
		if !isConnectionEvent(rec.Frame) {
			r.frames = append(r.frames, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load replay: %w", err)
	}
	if len(r.frames) == 0 {
		return nil, fmt.Errorf("load replay %s: %w", path, ErrEmptyReplay)
	}
	return r, nil
}

// Len returns how many frames one pass of the replay sends.
func (r *Replay) Len() int { return len(r.frames) }

// isConnectionEvent reports whether a recorded frame is the connection
// event of the session it was recorded in.
func isConnectionEvent(frame string) bool {
	env, err := protocol.DecodeEnvelope([]byte(frame))
	return err == nil && env.MessageType == protocol.MessageTypeConnection
}

// Play implements FrameSource.
func (r *Replay) Play(stop <-chan struct{}, send func([]byte) error) error {
	for {
		for i, rec := range r.frames {
			if i > 0 && !r.wait(stop, rec.ReceivedAt.Sub(r.frames[i-1].ReceivedAt)) {
				return nil
			}
			if err := send([]byte(rec.Frame)); err != nil {
				return err
			}
		}
		if !r.opts.Loop {
			return nil
		}
		// The first frame of the next pass follows after the usual gap.
		if !r.wait(stop, r.averageGap()) {
			return nil
		}
	}
}

// wait sleeps for the recorded gap at the replay's speed; false means
// stop was closed meanwhile.
func (r *Replay) wait(stop <-chan struct{}, gap time.Duration) bool {
	select {
	case <-stop:
		return false
	default:
	}
	if r.opts.Speed == 0 || gap <= 0 {
		return true
	}
	select {
	case <-stop:
		return false
	case <-r.opts.After(time.Duration(float64(gap) / r.opts.Speed)):
		return true
	}
}

func (r *Replay) averageGap() time.Duration {
	if len(r.frames) < 2 {
		return DefaultPushInterval
	}
	span := r.frames[len(r.frames)-1].ReceivedAt.Sub(r.frames[0].ReceivedAt)
	return span / time.Duration(len(r.frames)-1)
}

// play runs cfg.Frames on an initialized session until the source is
// done or the session ends; a source that is done leaves the session open
// and quiet.
func (s *Server) play(ls *liveSession, readDone <-chan struct{}) {
	stop := make(chan struct{})
	go func() {
		defer close(stop)
		select {
		case <-readDone:
		case <-ls.stop:
		case <-s.quit:
		}
	}()

	err := s.cfg.Frames.Play(stop, func(frame []byte) error {
		if ls.stalled.Load() {
			return nil
		}
		if err := ls.write(websocket.TextMessage, frame); err != nil {
			return err
		}
		s.update(ls.rec, func(r *Session) { r.Pushed++ })
		return nil
	})
	if err != nil {
		s.setEnd(ls.rec, "replay: "+err.Error())
		return
	}
	<-stop
}
