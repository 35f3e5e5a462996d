// Package protocol holds the wire format of the Acqueon Performance Metrics
// feed that both ends of a session share: the JSON envelope of every frame,
// the two URL forms and their session names, the connection event and the
// initialization request. It knows nothing of metrics or of sockets.
package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Names fixed by the feed.
const (
	// PathDataTransmitter is the default endpoint; its session names carry a
	// Unix timestamp.
	PathDataTransmitter = "/AEDataTransmitter"
	// PathConsole is the older endpoint; its session names carry no timestamp.
	PathConsole = "/AEConsole"

	// SessionPrefix starts every session name.
	SessionPrefix = "PerformanceMetrics_"

	// MessageTypeConnection marks the connection event the server sends once
	// it has accepted the credentials.
	MessageTypeConnection = "OpenID"
	// MessageTypeInitialization marks the client's initialization request.
	MessageTypeInitialization = "AEPerformanceMetricInitialization"

	// SenderServer is the Sender of the connection event.
	SenderServer = "Server"
	// ReceiverRealTimeService is the Receiver of the initialization request.
	ReceiverRealTimeService = "ATIRealTimeService"
)

// Form is one of the two URL forms of the feed. It decides the shape of the
// session name and how an IDP access token is put into the password.
type Form int

const (
	// FormDataTransmitter is /AEDataTransmitter with
	// PerformanceMetrics_<user>_<unixtimestamp>.
	FormDataTransmitter Form = iota
	// FormConsole is /AEConsole with PerformanceMetrics_<user>.
	FormConsole
)

// ErrUnknownPath is returned by FormOf for a path that names neither form.
var ErrUnknownPath = errors.New("unknown feed path")

// FormOf returns the form that a URL path selects. A trailing slash is
// tolerated.
func FormOf(path string) (Form, error) {
	switch strings.TrimSuffix(path, "/") {
	case PathDataTransmitter:
		return FormDataTransmitter, nil
	case PathConsole:
		return FormConsole, nil
	}
	return 0, fmt.Errorf("%w %q: want %s or %s", ErrUnknownPath, path, PathDataTransmitter, PathConsole)
}

// String returns the form's path.
func (f Form) String() string {
	if f == FormConsole {
		return PathConsole
	}
	return PathDataTransmitter
}

// SessionNamer hands out session names for one application user. On the
// timestamped form every name is new, even for two attempts within the same
// second, because the server refuses a name it has seen (duplicate login).
// It is safe for concurrent use.
type SessionNamer struct {
	user string
	form Form

	mu   sync.Mutex
	last int64
}

// NewSessionNamer returns a namer for the given application user and form.
func NewSessionNamer(user string, form Form) *SessionNamer {
	return &SessionNamer{user: user, form: form}
}

// Next returns the session name for an attempt made at now.
func (n *SessionNamer) Next(now time.Time) string {
	if n.form == FormConsole {
		return SessionPrefix + n.user
	}

	n.mu.Lock()
	ts := max(now.Unix(), n.last+1)
	n.last = ts
	n.mu.Unlock()

	return SessionPrefix + n.user + "_" + strconv.FormatInt(ts, 10)
}

// UserOf returns the application user inside a session name, dropping the
// prefix and, on the timestamped form, the trailing timestamp. ok is false
// when name is not a session name.
func UserOf(name string, form Form) (user string, ok bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(name), SessionPrefix)
	if !ok || rest == "" {
		return "", false
	}
	if form == FormConsole {
		return rest, true
	}
	i := strings.LastIndexByte(rest, '_')
	if i <= 0 {
		return "", false
	}
	if _, err := strconv.ParseUint(rest[i+1:], 10, 63); err != nil {
		return "", false
	}
	return rest[:i], true
}

// BasicAuthorization returns the value of the Authorization header that
// carries the vendor's wss://name:password@host credentials.
func BasicAuthorization(name, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+password))
}

// Envelope is the JSON object every frame of the feed holds.
type Envelope struct {
	Sender      string          `json:"Sender"`
	Receiver    string          `json:"Receiver"`
	MessageType string          `json:"MessageType"`
	Data        json.RawMessage `json:"Data"`
}

// Errors of DecodeEnvelope and Payload, for callers that count them.
var (
	// ErrMalformed means the frame is not a JSON envelope.
	ErrMalformed = errors.New("malformed frame")
	// ErrNoMessageType means the envelope has no MessageType.
	ErrNoMessageType = errors.New("envelope has no MessageType")
)

// DecodeEnvelope parses one text frame. Sender and Receiver are trimmed of
// surrounding white space, which the vendor's own samples carry.
func DecodeEnvelope(frame []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(frame, &env); err != nil {
		return Envelope{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	env.Sender = strings.TrimSpace(env.Sender)
	env.Receiver = strings.TrimSpace(env.Receiver)
	env.MessageType = strings.TrimSpace(env.MessageType)
	if env.MessageType == "" {
		return Envelope{}, fmt.Errorf("%w: %w", ErrMalformed, ErrNoMessageType)
	}
	return env, nil
}

// Payload returns the JSON that Data holds. Data is usually a string that
// itself holds JSON (double encoded); an object or array is taken as it is.
// A missing or null Data, or an empty string, gives nil and no error.
func (e Envelope) Payload() ([]byte, error) {
	data := bytes.TrimSpace(e.Data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return nil, nil
	}
	if data[0] != '"' {
		return data, nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w: Data: %w", ErrMalformed, err)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	return []byte(s), nil
}

// Text returns Data as a plain string, for envelopes such as the connection
// event whose Data is not JSON inside.
func (e Envelope) Text() string {
	var s string
	if json.Unmarshal(e.Data, &s) == nil {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(string(e.Data))
}

// Encode returns the frame for an envelope whose Data is the string data;
// that string is JSON-encoded once more, as the feed does.
func Encode(sender, receiver, messageType, data string) []byte {
	quoted, _ := json.Marshal(data)
	frame, _ := json.Marshal(Envelope{
		Sender:      sender,
		Receiver:    receiver,
		MessageType: messageType,
		Data:        quoted,
	})
	return frame
}

// ConnectionEvent returns the frame the server sends when it has accepted a
// session; sessionID is 32 hex digits.
func ConnectionEvent(session, sessionID string) []byte {
	return Encode(SenderServer, session, MessageTypeConnection, sessionID)
}

// Initialization is the content of the initialization request's Data.
type Initialization struct {
	// TimeZoneOffset is in minutes to add to local time to reach UTC, as
	// JavaScript's getTimezoneOffset gives it: -330 for India.
	TimeZoneOffset int `json:"TimeZoneOffset"`
	// Sender repeats the session name.
	Sender string `json:"Sender"`
}

// InitializationRequest returns the frame the client sends after the
// connection event.
func InitializationRequest(session string, offsetMinutes int) []byte {
	data, _ := json.Marshal(Initialization{TimeZoneOffset: offsetMinutes, Sender: session})
	return Encode(session, ReceiverRealTimeService, MessageTypeInitialization, string(data))
}

// ParseInitialization reads an initialization request, as the server side
// does. It checks the envelope's fields as well as Data.
func ParseInitialization(frame []byte) (Initialization, Envelope, error) {
	env, err := DecodeEnvelope(frame)
	if err != nil {
		return Initialization{}, env, err
	}
	if env.MessageType != MessageTypeInitialization {
		return Initialization{}, env, fmt.Errorf("%w: message type %q, want %q",
			ErrMalformed, env.MessageType, MessageTypeInitialization)
	}
	payload, err := env.Payload()
	if err != nil {
		return Initialization{}, env, err
	}
	var init Initialization
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&init); err != nil {
		return Initialization{}, env, fmt.Errorf("%w: initialization data: %w", ErrMalformed, err)
	}
	init.Sender = strings.TrimSpace(init.Sender)
	return init, env, nil
}

// TimeZoneOffset returns the offset to announce at t for loc: minutes to add
// to local time to reach UTC (the sign of JavaScript's getTimezoneOffset).
func TimeZoneOffset(loc *time.Location, t time.Time) int {
	_, east := t.In(loc).Zone()
	return -east / 60
}
