package collector

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// snakeCase turns a vendor value such as WrapUp, NotReady or "Not Ready"
// into wrap_up, not_ready: lower case, words joined by one underscore. An
// upper-case letter starts a word after a lower-case letter or a digit, and
// the last letter of an upper-case run starts one before a lower-case
// letter (HTTPServer gives http_server).
func snakeCase(s string) string {
	if isSnake(s) {
		return s
	}
	runes := []rune(s)
	var b strings.Builder
	b.Grow(len(s) + 4)
	pendingBreak := false
	for i, r := range runes {
		switch {
		case unicode.IsUpper(r):
			if i > 0 && startsWord(runes, i) {
				pendingBreak = true
			}
			r = unicode.ToLower(r)
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			pendingBreak = true
			continue
		}
		if pendingBreak && b.Len() > 0 {
			b.WriteByte('_')
		}
		pendingBreak = false
		b.WriteRune(r)
	}
	return b.String()
}

func startsWord(runes []rune, i int) bool {
	prev := runes[i-1]
	if unicode.IsLower(prev) || unicode.IsDigit(prev) {
		return true
	}
	return unicode.IsUpper(prev) && i+1 < len(runes) && unicode.IsLower(runes[i+1])
}

// isSnake reports whether s is already snake case, the common case that
// needs no allocation.
func isSnake(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && (c != '_' || i == 0 || i == len(s)-1 || s[i-1] == '_') {
			return false
		}
	}
	return true
}

// otherLabelValue stands for every label value past a labelCap's limit.
const otherLabelValue = "other"

// labelCap bounds the values a label takes from the network: the first
// limit distinct values (besides those it was seeded with) keep their
// own series, later ones, and values longer than maxLen bytes, become
// "other". It is safe for concurrent use.
type labelCap struct {
	limit  int
	maxLen int

	mu   sync.Mutex
	seen map[string]bool
}

func newLabelCap(limit, maxLen int, seed ...string) *labelCap {
	c := &labelCap{limit: limit, maxLen: maxLen, seen: map[string]bool{}}
	for _, s := range seed {
		c.seen[s] = true
	}
	c.limit += len(c.seen)
	return c
}

// value returns the label value to use for v.
func (c *labelCap) value(v string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.seen[v]:
		return v
	case len(v) > c.maxLen || !utf8.ValidString(v) || len(c.seen) >= c.limit:
		return otherLabelValue
	}
	c.seen[v] = true
	return v
}
