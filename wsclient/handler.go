package wsclient

import "time"

// Reasons a frame is discarded before it reaches HandleFrame; they are
// values of the reason label of acqueon_exporter_message_errors_total.
const (
	// DiscardMalformed is a frame that is not a text frame.
	DiscardMalformed = "malformed"
	// DiscardTooLarge is a frame over the read limit; the session ends
	// with it, as the websocket protocol leaves no way to skip it.
	DiscardTooLarge = "too_large"
)

// Handler receives what a session reads. The client calls it from one
// goroutine at a time, in the order frames arrive; it must not block for
// long, since the read loop waits for it.
type Handler interface {
	// HandleFrame takes one text frame as received, the connection event
	// included, with the time it arrived. The handler must not keep frame
	// after it returns: the client may reuse its memory.
	HandleFrame(frame []byte, receivedAt time.Time)
	// DiscardFrame counts a frame the client could not hand over.
	DiscardFrame(reason string)
}
