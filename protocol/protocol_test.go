package protocol

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestSessionNamesAreNewForEveryAttemptEvenWithinOneSecond(t *testing.T) {
	n := NewSessionNamer("ACQ", FormDataTransmitter)
	at := time.Unix(1654268360, 0)

	got := []string{n.Next(at), n.Next(at), n.Next(at.Add(500 * time.Millisecond)), n.Next(at.Add(10 * time.Second))}
	want := []string{
		"PerformanceMetrics_ACQ_1654268360",
		"PerformanceMetrics_ACQ_1654268361",
		"PerformanceMetrics_ACQ_1654268362",
		"PerformanceMetrics_ACQ_1654268370",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("attempt %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

func TestConsoleSessionNameHasNoTimestamp(t *testing.T) {
	n := NewSessionNamer("ACQ", FormConsole)
	if got := n.Next(time.Unix(1654268360, 0)); got != "PerformanceMetrics_ACQ" {
		t.Errorf("got %q", got)
	}
}

func TestUserOfSessionName(t *testing.T) {
	cases := []struct {
		name string
		form Form
		user string
		ok   bool
	}{
		{"PerformanceMetrics_ACQ_1654268360", FormDataTransmitter, "ACQ", true},
		{" PerformanceMetrics_my_app_1654268360", FormDataTransmitter, "my_app", true},
		{"PerformanceMetrics_ACQ", FormConsole, "ACQ", true},
		{"PerformanceMetrics_ACQ", FormDataTransmitter, "", false},
		{"PerformanceMetrics_ACQ_x", FormDataTransmitter, "", false},
		{"Other_ACQ_1654268360", FormDataTransmitter, "", false},
	}
	for _, c := range cases {
		user, ok := UserOf(c.name, c.form)
		if user != c.user || ok != c.ok {
			t.Errorf("UserOf(%q, %v) = %q, %v; want %q, %v", c.name, c.form, user, ok, c.user, c.ok)
		}
	}
}

func TestFormOfPath(t *testing.T) {
	for path, want := range map[string]Form{
		"/AEDataTransmitter":  FormDataTransmitter,
		"/AEDataTransmitter/": FormDataTransmitter,
		"/AEConsole":          FormConsole,
	} {
		got, err := FormOf(path)
		if err != nil || got != want {
			t.Errorf("FormOf(%q) = %v, %v", path, got, err)
		}
	}
	if _, err := FormOf("/metrics"); !errors.Is(err, ErrUnknownPath) {
		t.Errorf("unknown path: err = %v", err)
	}
}

func TestBasicAuthorizationMatchesTheVendorSample(t *testing.T) {
	// The vendor's sample URL carries this user and password; on the wire
	// they become one Basic header.
	got := BasicAuthorization("PerformanceMetrics_ACQ_1654268360",
		"MTIzNDUtMTIxMjEyLTEyMTIxMi0xMjEyOjEyMzQ1LTEyMTIxLTIxMjEyLTEyMTItMTIy")
	want := "Basic UGVyZm9ybWFuY2VNZXRyaWNzX0FDUV8xNjU0MjY4MzYwOk1USXpORFV0TVRJeE1qRXlMVEV5TVRJeE1pMHhNakV5T2pFeU16UTFMVEV5TVRJeExUSXhNakV5TFRFeU1USXRNVEl5"
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestTimeZoneOffsetFollowsTheJavaScriptSign(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	winter := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	summer := time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC)

	cases := []struct {
		loc  *time.Location
		at   time.Time
		want int
	}{
		{kolkata, winter, -330},
		{kolkata, summer, -330},
		{newYork, winter, 300},
		{newYork, summer, 240},
		{time.UTC, summer, 0},
	}
	for _, c := range cases {
		if got := TimeZoneOffset(c.loc, c.at); got != c.want {
			t.Errorf("%s at %s: got %d, want %d", c.loc, c.at, got, c.want)
		}
	}
}

func TestInitializationRequestIsValidJSONInsideValidJSON(t *testing.T) {
	frame := InitializationRequest("PerformanceMetrics_ACQ_1654268360", -330)

	want := `{"Sender":"PerformanceMetrics_ACQ_1654268360","Receiver":"ATIRealTimeService",` +
		`"MessageType":"AEPerformanceMetricInitialization",` +
		`"Data":"{\"TimeZoneOffset\":-330,\"Sender\":\"PerformanceMetrics_ACQ_1654268360\"}"}`
	if string(frame) != want {
		t.Errorf("frame:\n got %s\nwant %s", frame, want)
	}

	init, env, err := ParseInitialization(frame)
	if err != nil {
		t.Fatal(err)
	}
	if init.TimeZoneOffset != -330 || init.Sender != env.Sender {
		t.Errorf("parsed %+v from %+v", init, env)
	}
}

func TestParseInitializationRejectsTheVendorsMalformedSample(t *testing.T) {
	// The vendor's own sample leaves a string unterminated.
	frame := []byte(`{"Sender": " PerformanceMetrics_ACQ_1654268360","Receiver": "ATIRealTimeService",` +
		`"MessageType": "AEPerformanceMetricInitialization",` +
		`"Data": "{\"TimeZoneOffset\":-330,\"Sender\":\"PerformanceMetrics_ACQ_1654268360}"}`)
	if _, _, err := ParseInitialization(frame); !errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v, want ErrMalformed", err)
	}
}

func TestEnvelopeTrimsNamesAndAcceptsDataAsStringOrObject(t *testing.T) {
	event := []byte(`{"Sender": "Server", "Receiver": " PerformanceMetrics_ACQ_1654268360",
		"MessageType": "OpenID", "Data": "ec3df1f8b20b4d239354925276a7c989"}`)
	env, err := DecodeEnvelope(event)
	if err != nil {
		t.Fatal(err)
	}
	if env.Receiver != "PerformanceMetrics_ACQ_1654268360" || env.MessageType != MessageTypeConnection ||
		env.Text() != "ec3df1f8b20b4d239354925276a7c989" {
		t.Errorf("decoded %+v", env)
	}

	for name, frame := range map[string]string{
		"string": `{"MessageType":"AEPerformanceMetrics","Data":"{\"Queues\":[]}"}`,
		"object": `{"MessageType":"AEPerformanceMetrics","Data":{"Queues":[]}}`,
	} {
		env, err := DecodeEnvelope([]byte(frame))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		payload, err := env.Payload()
		if err != nil || !json.Valid(payload) || string(payload) != `{"Queues":[]}` {
			t.Errorf("%s: payload %s, %v", name, payload, err)
		}
	}
}

func TestEnvelopeErrors(t *testing.T) {
	for name, frame := range map[string]string{
		"not json":        `hello`,
		"truncated":       `{"MessageType":"AEPerf`,
		"no message type": `{"Data":"x"}`,
		"array":           `[1,2]`,
	} {
		if _, err := DecodeEnvelope([]byte(frame)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}

	env, err := DecodeEnvelope([]byte(`{"MessageType":"AEPerformanceMetrics","Data":"{broken"}`))
	if err != nil {
		t.Fatal(err)
	}
	// Payload only unquotes; the JSON inside is checked by its reader.
	if p, err := env.Payload(); err != nil || string(p) != "{broken" {
		t.Errorf("payload %q, %v", p, err)
	}
	for _, data := range []string{`null`, `""`, `"  "`} {
		env, err := DecodeEnvelope([]byte(`{"MessageType":"X","Data":` + data + `}`))
		if err != nil {
			t.Fatal(err)
		}
		if p, err := env.Payload(); p != nil || err != nil {
			t.Errorf("Data %s: payload %q, %v; want nil, nil", data, p, err)
		}
	}
}
