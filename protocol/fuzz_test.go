package protocol

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeEnvelope checks that no frame panics the envelope decoder or
// Payload, that a decoded envelope keeps the promises of DecodeEnvelope,
// and that an envelope Encode builds from what was decoded decodes to the
// same fields and Data. Its seed corpus is in testdata/fuzz.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(`{"Sender": " ATIRealTimeService", "Receiver": "PerformanceMetrics_ACQ_1", ` +
		`"MessageType": "AEPerformanceMetrics", "Data": "{\"Timestamp\": 1}"}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		env, err := DecodeEnvelope(frame)
		if err != nil {
			return
		}
		if env.MessageType == "" || env.MessageType != string(bytes.TrimSpace([]byte(env.MessageType))) {
			t.Fatalf("decoded MessageType %q is empty or untrimmed", env.MessageType)
		}
		_ = env.Text()
		payload, err := env.Payload()
		if err != nil {
			return
		}
		if !utf8.ValidString(env.Sender+env.Receiver+env.MessageType) || !utf8.Valid(payload) {
			return // Encode replaces invalid UTF-8, so no round trip
		}

		again, err := DecodeEnvelope(Encode(env.Sender, env.Receiver, env.MessageType, string(payload)))
		if err != nil {
			t.Fatalf("decode what Encode built from a decoded envelope: %v", err)
		}
		if again.Sender != env.Sender || again.Receiver != env.Receiver || again.MessageType != env.MessageType {
			t.Fatalf("round trip changed the envelope: %+v, then %+v", env, again)
		}
		payloadAgain, err := again.Payload()
		if err != nil {
			t.Fatalf("Payload of the re-encoded envelope: %v", err)
		}
		if !bytes.Equal(payloadAgain, payload) {
			t.Fatalf("round trip changed Data: %q, then %q", payload, payloadAgain)
		}
	})
}
