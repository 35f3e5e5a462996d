// Package decoders measures the exporter's ingest against JSON decoders
// from outside the standard library, to show whether adopting one would
// pay. It is a module of its own, so that the exporter's module does not
// depend on the decoders it was measured against.
//
//	cd bench/decoders
//	go test -run='^$' -bench=. -benchmem -count=6 | tee decoders.txt
//	go test -run='^$' -fuzz=FuzzDecodersMatchValid -fuzztime=1m -decoder=goccy_go-json
package decoders

import (
	"encoding/json"
	"flag"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/valyala/fastjson"

	"github.com/acqueon-exporter/acqueon_exporter/collector"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// decoder reads a feed frame the way a generic exporter would: the
// envelope, then the JSON text in its Data field, into a value that
// mapping code could walk. It builds no metrics.
type decoder struct {
	name   string
	decode func(frame []byte) error
	valid  func(text []byte) bool
}

func decoders() []decoder {
	var p fastjson.Parser
	return []decoder{
		{
			name: "encoding_json",
			decode: func(frame []byte) error {
				return unmarshalTwice(frame, json.Unmarshal)
			},
			valid: json.Valid,
		},
		{
			name: "goccy_go-json",
			decode: func(frame []byte) error {
				return unmarshalTwice(frame, gojson.Unmarshal)
			},
			valid: gojson.Valid,
		},
		{
			// fastjson reuses the parser's memory from one frame to the
			// next and reads values lazily: the cheapest generic reading.
			name: "valyala_fastjson",
			decode: func(frame []byte) error {
				env, err := p.ParseBytes(frame)
				if err != nil {
					return err
				}
				data := env.GetStringBytes("Data")
				_, err = p.ParseBytes(data)
				return err
			},
			valid: func(text []byte) bool { return fastjson.ValidateBytes(text) == nil },
		},
	}
}

func unmarshalTwice(frame []byte, unmarshal func([]byte, any) error) error {
	var env struct{ Data string }
	if err := unmarshal(frame, &env); err != nil {
		return err
	}
	var data any
	return unmarshal([]byte(env.Data), &data)
}

// largeFrames returns two consecutive frames of the large tenant the
// exporter is sized for: 1,000 campaigns, 500 queues, 5,000 agents.
func largeFrames() [][]byte {
	tenant := simulator.NewTenant(simulator.TenantConfig{
		CampaignGroups: 100, Campaigns: 1000, Queues: 500, Agents: 5000, Seed: 1,
	}, t0)
	frames := make([][]byte, 2)
	for i := range frames {
		data := tenant.Payload(t0.Add(time.Duration(i)*time.Second), 0)
		frames[i] = protocol.Encode("Server", "PerformanceMetrics_bench_1", simulator.MessageTypeMetrics, string(data))
	}
	return frames
}

// BenchmarkDecoders runs, in the same loop, a decoder's reading of a
// large-tenant frame (the baseline) and the exporter's whole ingest of
// it (HandleFrame: envelope, Data, mapping, snapshot swap). x-baseline
// under 1 means the exporter ingests the frame in less time than the
// decoder takes to read it, so adopting that decoder could not make
// ingest faster.
func BenchmarkDecoders(b *testing.B) {
	frames := largeFrames()
	for _, d := range decoders() {
		b.Run("decoder="+d.name, func(b *testing.B) {
			c, err := collector.New(collector.Options{Now: func() time.Time { return t0 }})
			if err != nil {
				b.Fatal(err)
			}
			var base, subj time.Duration
			i := 0
			for b.Loop() {
				frame := frames[i%2]
				i++
				start := time.Now()
				if err := d.decode(frame); err != nil {
					b.Fatal(err)
				}
				mid := time.Now()
				c.HandleFrame(frame, t0)
				subj += time.Since(mid)
				base += mid.Sub(start)
			}
			b.ReportMetric(float64(subj.Nanoseconds())/float64(b.N), "ns/op")
			b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "decoder-ns/op")
			b.ReportMetric(float64(subj)/float64(base), "x-decoder")
		})
	}
}

var onlyDecoder = flag.String("decoder", "", "fuzz only the decoder of this name")

// FuzzDecodersMatchValid holds each decoder's idea of valid JSON to
// encoding/json's. The exporter's own scanner is held to the same by
// collector.FuzzScannerMatchesValid; a decoder that accepts what
// encoding/json refuses, or panics, is less robust against a feed that
// sends broken frames.
func FuzzDecodersMatchValid(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,2.5e3,"x\u00e9"],"b":null}`, `{"a":1,}`, `[1 2]`, `"\x"`,
		"{\"a\":1}\x00", `01`, `1.`, `-`, `{"a":"\ud800"}`, `[` + "\t" + `]`,
	} {
		f.Add([]byte(s))
	}
	var ds []decoder
	for _, d := range decoders() {
		if *onlyDecoder == "" || *onlyDecoder == d.name {
			ds = append(ds, d)
		}
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		want := json.Valid(text)
		for _, d := range ds {
			got, panicked := validNoPanic(d.valid, text)
			if panicked != nil {
				t.Errorf("%s panicked on %q: %v", d.name, text, panicked)
			} else if got != want {
				t.Errorf("%s: valid %v, encoding/json: %v, for %q", d.name, got, want, text)
			}
		}
	})
}

func validNoPanic(valid func([]byte) bool, text []byte) (ok bool, panicked any) {
	defer func() { panicked = recover() }()
	return valid(text), nil
}

// TestFastjsonAcceptsAControlCharacterInAString keeps what fuzzing
// found within a second: fastjson takes a raw line feed inside a string,
// which JSON forbids and encoding/json refuses.
func TestFastjsonAcceptsAControlCharacterInAString(t *testing.T) {
	text := []byte("{\"\":[\"\n\\b0000\"]}")
	if json.Valid(text) {
		t.Fatalf("encoding/json takes %q", text)
	}
	if err := fastjson.ValidateBytes(text); err != nil {
		t.Errorf("fastjson refuses %q now (%v): fuzz it again before concluding anything from this package", text, err)
	}
}
