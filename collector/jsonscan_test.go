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
