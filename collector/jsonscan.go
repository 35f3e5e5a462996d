package collector

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// maxNestingDepth is how deep objects and lists may nest, as with
// encoding/json, so that a hostile frame cannot exhaust the stack.
const maxNestingDepth = 10000

// errSyntax is the error of a jsonScanner on text that is not JSON.
var errSyntax = errors.New("not JSON")

// jsonScanner reads one JSON text held in memory, value by value, without
// building anything: callers ask for the spans they need and skip the
// rest, which the scanner still checks as strictly as encoding/json does.
// Once it has failed, every method fails.
type jsonScanner struct {
	data  []byte
	pos   int
	depth int
	// failed is set at the first syntax error; why says what it was.
	failed bool
	why    string
}

func newJSONScanner(data []byte) jsonScanner { return jsonScanner{data: data} }

// fail records a syntax error and returns false.
func (s *jsonScanner) fail(why string) bool {
	if !s.failed {
		s.failed, s.why = true, why
	}
	s.pos = len(s.data)
	return false
}

// err returns the syntax error, or nil.
func (s *jsonScanner) err() error {
	if !s.failed {
		return nil
	}
	return &syntaxError{why: s.why}
}

// syntaxError tells what made a text not JSON.
type syntaxError struct{ why string }

func (e *syntaxError) Error() string { return "not JSON: " + e.why }

func (e *syntaxError) Unwrap() error { return errSyntax }

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next byte after white space; 0 at the end.
func (s *jsonScanner) peek() byte {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

// end checks that nothing but white space follows. It asks for the end of
// the data, not for peek's 0, which a NUL byte in the text also gives.
func (s *jsonScanner) end() bool {
	s.skipSpace()
	if s.pos < len(s.data) || s.failed {
		return s.fail("text after the value")
	}
	return true
}

// open consumes the '{' or '[' at pos.
func (s *jsonScanner) open() bool {
	if s.depth++; s.depth > maxNestingDepth {
		return s.fail("exceeded max depth")
	}
	s.pos++
	return true
}

// next advances to the next member of the object or element of the list
// that open started, consuming the ',' before it; false at the closing
// byte, which it consumes, and on errors. first is true before the first
// member and is cleared.
func (s *jsonScanner) next(closing byte, first *bool) bool {
	c := s.peek()
	if c == closing {
		s.pos++
		s.depth--
		return false
	}
	if !*first {
		if c != ',' {
			return s.fail("want , or " + string(closing))
		}
		s.pos++
		s.skipSpace()
	}
	*first = false
	return !s.failed
}

// key reads an object key and the ':' after it. The key is the text
// between the quotes, still escaped unless plain.
func (s *jsonScanner) key() (key []byte, plain bool) {
	if s.peek() != '"' {
		s.fail("want a string key")
		return nil, false
	}
	start, end, plain := s.str()
	if s.peek() != ':' {
		s.fail("want :")
		return nil, false
	}
	s.pos++
	s.skipSpace()
	return s.data[start:end], plain
}

// str reads the string at pos ('"') and returns the span of its content;
// plain is true when it holds no escape.
func (s *jsonScanner) str() (start, end int, plain bool) {
	s.pos++
	start = s.pos
	plain = true
	data := s.data
	for i := s.pos; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			s.pos = i + 1
			return start, i, plain
		case c == '\\':
			plain = false
			i++
			if i >= len(data) {
				break
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(data) || !isHex4(data[i+1:i+5]) {
					s.fail("invalid \\u escape")
					return start, start, false
				}
				i += 4
			default:
				s.fail("invalid escape")
				return start, start, false
			}
		case c < 0x20:
			s.fail("control character in string")
			return start, start, false
		}
	}
	s.fail("unterminated string")
	return start, start, false
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// number reads a number at pos, per the JSON grammar.
func (s *jsonScanner) number() bool {
	data, i := s.data, s.pos
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for i++; i < len(data) && isDigit(data[i]); i++ {
		}
	default:
		return s.fail("invalid number")
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || !isDigit(data[i]) {
			return s.fail("invalid number")
		}
		for ; i < len(data) && isDigit(data[i]); i++ {
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			return s.fail("invalid number")
		}
		for ; i < len(data) && isDigit(data[i]); i++ {
		}
	}
	s.pos = i
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (s *jsonScanner) literal(word string) bool {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return s.fail("invalid literal")
	}
	s.pos += len(word)
	return true
}

// skip reads any value at pos (after white space) and returns its span.
func (s *jsonScanner) skip() (start, end int, ok bool) {
	c := s.peek()
	start = s.pos
	switch {
	case c == '"':
		s.str()
	case c == '{':
		s.skipObject()
	case c == '[':
		s.skipList()
	case c == 't':
		s.literal("true")
	case c == 'f':
		s.literal("false")
	case c == 'n':
		s.literal("null")
	case c == '-' || isDigit(c):
		s.number()
	case c == 0:
		s.fail("unexpected end of JSON input")
	default:
		s.fail("invalid character")
	}
	return start, s.pos, !s.failed
}

func (s *jsonScanner) skipObject() {
	if !s.open() {
		return
	}
	for first := true; s.next('}', &first); {
		s.key()
		s.skip()
	}
}

func (s *jsonScanner) skipList() {
	if !s.open() {
		return
	}
	for first := true; s.next(']', &first); {
		s.skip()
	}
}

// appendUnquoted appends the content of a JSON string (between the quotes,
// already checked by str) to dst with its escapes resolved, as
// encoding/json does: invalid UTF-8 and unpaired surrogates become U+FFFD.
func appendUnquoted(dst, content []byte) []byte {
	for len(content) > 0 {
		// Copy the run up to the next escape or non-ASCII byte at once.
		i := 0
		for i < len(content) && content[i] != '\\' && content[i] < utf8.RuneSelf {
			i++
		}
		dst = append(dst, content[:i]...)
		content = content[i:]
		if len(content) == 0 {
			break
		}
		if content[0] != '\\' {
			r, size := utf8.DecodeRune(content)
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, content[:size]...)
			}
			content = content[size:]
			continue
		}
		var n int
		dst, n = appendEscape(dst, content)
		content = content[n:]
	}
	return dst
}

// appendEscape resolves the escape at the start of content and returns
// how many bytes it took.
func appendEscape(dst, content []byte) ([]byte, int) {
	switch c := content[1]; c {
	case 'b':
		return append(dst, '\b'), 2
	case 'f':
		return append(dst, '\f'), 2
	case 'n':
		return append(dst, '\n'), 2
	case 'r':
		return append(dst, '\r'), 2
	case 't':
		return append(dst, '\t'), 2
	case 'u':
		r := hexRune(content[2:6])
		if utf16.IsSurrogate(r) {
			if len(content) >= 12 && content[6] == '\\' && content[7] == 'u' {
				if pair := utf16.DecodeRune(r, hexRune(content[8:12])); pair != utf8.RuneError {
					return utf8.AppendRune(dst, pair), 12
				}
			}
			r = utf8.RuneError
		}
		return utf8.AppendRune(dst, r), 6
	default: // '"', '\\', '/'
		return append(dst, c), 2
	}
}

func hexRune(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
