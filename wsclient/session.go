package wsclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

// ErrUnexpectedFrame is wrapped by the error of an attempt whose first
// frame was not the connection event.
var ErrUnexpectedFrame = errors.New("unexpected frame before the connection event")

// session is one upgraded socket. Only the goroutine that called
// newSession reads it and writes data frames to it (the initialization
// request); keepAlive writes only control frames, which the websocket
// library allows concurrently with everything else.
type session struct {
	c    *Client
	conn *websocket.Conn
	name string

	live    atomic.Bool   // initialized: pings go out, frames extend the deadline
	done    chan struct{} // closed when the reader is finished with the socket
	stopped chan struct{} // closed when keepAlive has returned

	mu      sync.Mutex // orders deadline changes against the shutdown's
	closing bool       // the close handshake of a shutdown has begun
}

func newSession(c *Client, conn *websocket.Conn, name string) *session {
	s := &session{
		c:       c,
		conn:    conn,
		name:    name,
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	conn.SetReadLimit(c.cfg.ReadLimit)
	conn.SetPongHandler(func(string) error {
		s.extendDeadline()
		return nil
	})
	return s
}

// liveTimeout is how long a live session may stay silent: a ping goes out
// every interval, so two intervals without a frame or pong mean that at
// least one ping went unanswered for a whole interval.
func (s *session) liveTimeout() time.Duration { return 2 * s.c.cfg.PingInterval }

// writeTimeout bounds every write.
func (s *session) writeTimeout() time.Duration { return s.c.cfg.PingInterval }

// setReadDeadline moves the read deadline unless a shutdown has already
// set its own, shorter one.
func (s *session) setReadDeadline(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.conn.SetReadDeadline(t)
	}
}

func (s *session) extendDeadline() {
	if s.live.Load() {
		s.setReadDeadline(time.Now().Add(s.liveTimeout()))
	}
}

// keepAlive pings the live session and starts the close handshake when
// ctx ends (at shutdown, or to renew the credential). It returns when the
// session ends or the handshake has begun.
func (s *session) keepAlive(ctx context.Context) {
	defer close(s.stopped)
	ticker := time.NewTicker(s.c.cfg.PingInterval)
	defer ticker.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-ctx.Done():
			text := "exporter shutting down"
			if errors.Is(context.Cause(ctx), errRenewal) {
				text = "renewing the credential"
			}
			s.closeHandshake(text)
			return
		case <-ticker.C:
			if !s.live.Load() {
				continue
			}
			err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.writeTimeout()))
			if err != nil {
				// The read deadline ends a session whose pings cannot go out.
				s.c.logger.Debug("ping failed", "session", s.name, "err", err)
			}
		}
	}
}

// closeHandshake sends close 1000 with text and gives the server
// CloseTimeout to answer with its own close frame; the reader sees that
// answer (or the deadline) and the session ends.
func (s *session) closeHandshake(text string) {
	deadline := time.Now().Add(s.c.cfg.CloseTimeout)
	s.mu.Lock()
	s.closing = true
	s.conn.SetReadDeadline(deadline)
	s.mu.Unlock()

	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, text)
	if err := s.conn.WriteControl(websocket.CloseMessage, msg, deadline); err != nil {
		s.c.logger.Debug("send close frame", "session", s.name, "err", err)
	}
}

// end stops keepAlive and closes the TCP connection. A session that ends
// for any reason other than a shutdown first tells the server with a close
// frame, when the socket still takes one.
func (s *session) end() {
	close(s.done)
	<-s.stopped

	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if !closing {
		msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "")
		_ = s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(s.c.cfg.CloseTimeout))
	}
	s.conn.Close()
}

// awaitConnectionEvent reads the first frame, which must be the connection
// event, hands it to the Handler and returns the server's session id.
func (s *session) awaitConnectionEvent() (string, *ConnectError) {
	s.setReadDeadline(time.Now().Add(s.c.cfg.ConnectionEventTimeout))
	typ, frame, err := s.conn.ReadMessage()
	if err != nil {
		if errors.Is(err, websocket.ErrReadLimit) {
			s.c.handler.DiscardFrame(DiscardTooLarge)
		}
		return "", failure(classifyAfterUpgrade(err), fmt.Errorf("wait for the connection event: %w", err))
	}
	receivedAt := s.c.cfg.Now()

	if typ != websocket.TextMessage {
		s.c.handler.DiscardFrame(DiscardMalformed)
		return "", failure(ReasonProtocol, fmt.Errorf("%w: binary frame", ErrUnexpectedFrame))
	}
	env, err := protocol.DecodeEnvelope(frame)
	if err != nil {
		return "", failure(ReasonProtocol, fmt.Errorf("%w: %w", ErrUnexpectedFrame, err))
	}
	if env.MessageType != protocol.MessageTypeConnection {
		return "", failure(ReasonProtocol, fmt.Errorf("%w: message type %q", ErrUnexpectedFrame, env.MessageType))
	}
	id := env.Text()
	if id == "" {
		return "", failure(ReasonProtocol, errors.New("connection event without a session id"))
	}

	s.c.handler.HandleFrame(frame, receivedAt)
	return id, nil
}

// initialize sends the initialization request and makes the session live.
func (s *session) initialize(offsetMinutes int) *ConnectError {
	frame := protocol.InitializationRequest(s.name, offsetMinutes)
	s.conn.SetWriteDeadline(time.Now().Add(s.writeTimeout()))
	if err := s.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		return failure(classifyAfterUpgrade(err), fmt.Errorf("send the initialization request: %w", err))
	}
	s.conn.SetWriteDeadline(time.Time{})

	s.live.Store(true)
	s.extendDeadline()
	return nil
}

// read hands every frame to the Handler until the session ends, and
// returns why it ended.
func (s *session) read() error {
	for {
		typ, frame, err := s.conn.ReadMessage()
		if err != nil {
			return s.readError(err)
		}
		s.extendDeadline()
		if typ != websocket.TextMessage {
			s.c.handler.DiscardFrame(DiscardMalformed)
			continue
		}
		s.c.handler.HandleFrame(frame, s.c.cfg.Now())
		// Pongs that arrived while the handler worked wait unread in the
		// socket; the time it took is not the feed's silence.
		s.extendDeadline()
	}
}

func (s *session) readError(err error) error {
	if errors.Is(err, websocket.ErrReadLimit) {
		s.c.handler.DiscardFrame(DiscardTooLarge)
		return fmt.Errorf("frame over the read limit of %d bytes: %w", s.c.cfg.ReadLimit, err)
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if isTimeout(err) && !closing {
		return fmt.Errorf("feed stalled: no frame and no pong for %s: %w", s.liveTimeout(), err)
	}
	return fmt.Errorf("read: %w", err)
}
