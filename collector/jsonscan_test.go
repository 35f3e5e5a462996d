package collector

import (
	"encoding/json"
	"testing"
)

// TestScannerAgreesWithValid checks the scanner's verdict on whole texts
// against encoding/json's, on texts near the edges of the grammar.
func TestScannerAgreesWithValid(t *testing.T) {
	texts := []string{
		"1", "1\x00", "{}\x00", "null\x00", `"a"` + "\x00", "[]\x00", "\x00", " \x00 ",
		"1 ", " 1", "01", "-", "-0", "1.", "1.5e", "1e+5", "nul", "truex", "[1,]", `{"a":1,}`,
		`"\u12"`, `"\u1234"`, `"\x"`, "\"a\tb\"", `[`, `{"a"}`, `{"a":}`, `[1 2]`, "\xef\xbb\xbf1",
	}
	for _, text := range texts {
		s := newJSONScanner([]byte(text))
		s.skip()
		s.end()
		if got, want := !s.failed, json.Valid([]byte(text)); got != want {
			t.Errorf("%q: scanner says valid=%v, encoding/json says %v", text, got, want)
		}
	}
}

// FuzzScannerMatchesValid checks the scanner's verdict on arbitrary texts
// against encoding/json's, and that a text it takes is read to its end.
// It is the fast, narrow half of FuzzStreamingDecoderMatchesMaps.
func FuzzScannerMatchesValid(f *testing.F) {
	for _, text := range []string{`{"a": [1, -2.5e3, "x\u00e9", true, null, {}]}`, "1\x00", `"\ud83d\ude00"`, "[[[]]]"} {
		f.Add([]byte(text))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		s := newJSONScanner(text)
		s.skip()
		s.end()
		if got, want := !s.failed, json.Valid(text); got != want {
			t.Fatalf("%q: scanner says valid=%v, encoding/json says %v", text, got, want)
		}
		if !s.failed && s.pos != len(text) {
			t.Fatalf("%q: scanner stopped at %d of %d", text, s.pos, len(text))
		}
	})
}
