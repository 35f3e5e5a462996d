package collector

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

// errorClass names what HandleFrame makes of a decoding error.
func errorClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, errMismatch):
		return ReasonMapping
	case errors.Is(err, protocol.ErrMalformed):
		return ReasonMalformed
	}
	return "other: " + err.Error()
}

// FuzzStreamingDecoderMatchesMaps reads arbitrary Data with the streaming
// decoder and with encoding/json's maps (json.Valid, then walkDataMap),
// and checks that both take or refuse it alike and give the same series.
func FuzzStreamingDecoderMatchesMaps(f *testing.F) {
	for _, frame := range hostileFrames() {
		f.Add(frame)
	}
	f.Add([]byte(readTestdata(f, "sample_payload.json")))
	f.Add([]byte(`{"Queues": [{"QueueId": "7", "QueueId": "8", "X": 1, "X": 2}], "Queues": null}`))
	f.Add([]byte(`{"Campaigns": [{"CampaignId": "1\u00e9", "Status": "\ud800", "ActiveCalls": " 3 "}], "a": {"b": 1}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) == 0 {
			return // no Data at all, which changes nothing
		}
		fast, _ := newCollector(t, Options{})
		slow, _ := newCollector(t, Options{})
		pl := fast.snapshot.Load().plan
		mp := pl.messages["AEPerformanceMetrics"]

		got, gotErr := fast.decodeMessage(pl, mp, payload)

		slowPlan := slow.snapshot.Load().plan
		want := &update{plan: slowPlan.messages["AEPerformanceMetrics"]}
		var wantErr error
		var probe any
		switch {
		case !json.Valid(payload):
			wantErr = protocol.ErrMalformed
		case json.Unmarshal(payload, &probe) == nil && probe == nil:
			// null: nothing changes.
		default:
			wantErr = slow.walkDataMap(want, slowPlan, payload)
		}
		if errorClass(gotErr) != errorClass(wantErr) {
			t.Fatalf("streaming: %v; maps: %v", gotErr, wantErr)
		}
		if gotErr != nil {
			return
		}
		fast.apply(fast.snapshot.Load(), got, t0)
		slow.apply(slow.snapshot.Load(), want, t0)
		if a, b := exposition(t, fast), exposition(t, slow); a != b {
			t.Fatalf("streaming and maps differ:\n%s", firstDifference(a, b))
		}
	})
}
