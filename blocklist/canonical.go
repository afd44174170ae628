package blocklist

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// text is what matching works on: the request path itself when it was already canonical (the
// common case, no copy), or a stack buffer holding its cleaned form. Being generic over both
// keeps the allow path free of allocations without unsafe.
type text interface{ ~string | ~[]byte }

// stackPathLen bounds the paths that are cleaned on the stack; longer ones (rare, and never
// canonical application URLs) cost one allocation.
const stackPathLen = 512

// CanonicalPath brings a raw, still percent-escaped request path into the form in which
// registers are matched, so that no spelling the application would accept for a path can
// dodge an order on it:
//
//   - percent-escapes are decoded until none is left (so %2573 is "s", not "%73"), in one
//     linear pass; a "%" that does not start a valid escape stays as it is;
//   - ASCII letters are lower-cased, and so are other letters (simple Unicode case mapping);
//     invalid UTF-8 is kept byte for byte;
//   - a decoded NUL ends the path (C-based stacks stop there); other control characters are
//     dropped; a backslash is a slash;
//   - in every segment, ";params" are cut off and surrounding spaces trimmed;
//   - empty and "." segments are dropped, ".." removes the previous segment but never climbs
//     above the root, and there is no trailing slash.
//
// The result starts with "/", has no "//", no "." or ".." segments and no percent-escape
// left to decode, and CanonicalPath(CanonicalPath(p)) == CanonicalPath(p). A path that is
// already canonical is returned as it is, without allocating.
//
// Decoding "%2F" to "/" makes "/a%2Fb" the same as "/a/b" even where the application keeps
// them apart; erring towards matching is the right way round for a block list.
func CanonicalPath(raw string) string {
	clean, upper := classify(raw)
	switch {
	case clean:
		return raw
	case upper:
		return strings.ToLower(raw)
	}
	var buf [stackPathLen]byte
	return string(canonicalize(buf[:0], raw))
}

// byteClass sorts bytes for the fast paths: most need no work, upper-case letters only
// lower-casing, and the rest (escapes, dots, parameters, backslashes, spaces, controls,
// non-ASCII) the full treatment.
var byteClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c <= 0x20 || c >= 0x7f || c == '%' || c == '.' || c == ';' || c == '\\':
			t[c] = dirtyByte
		case 'A' <= c && c <= 'Z':
			t[c] = upperByte
		}
	}
	return t
}()

const (
	cleanByte = iota
	upperByte
	dirtyByte
)

// classify is the fast path: clean means CanonicalPath(raw) == raw, upper that it is raw with
// ASCII letters lower-cased. It is deliberately conservative (any dot, for instance, is dirty).
func classify(raw string) (clean, upper bool) {
	n := len(raw)
	if n == 0 || raw[0] != '/' || (n > 1 && raw[n-1] == '/') {
		return false, false
	}
	var seen uint8
	prevSlash := false
	for i := 0; i < n; i++ {
		c := raw[i]
		if c == '/' {
			if prevSlash {
				return false, false
			}
			prevSlash = true
			continue
		}
		prevSlash = false
		seen |= 1 << byteClass[c]
	}
	return seen&^(1<<cleanByte) == 0, seen&^(1<<cleanByte|1<<upperByte) == 0
}

func isCanonical(raw string) bool {
	clean, _ := classify(raw)
	return clean
}

// appendLowerASCII appends raw with ASCII letters lower-cased.
func appendLowerASCII(dst []byte, raw string) []byte {
	for i := 0; i < len(raw); i++ {
		dst = append(dst, asciiLower[raw[i]])
	}
	return dst
}

// canonicalize appends the canonical form of raw to dst, which must be empty, and returns it.
func canonicalize(dst []byte, raw string) []byte {
	// A leading slash is always added (and collapsed if raw brings its own) so that a path
	// without one cannot start with a ".." or compare differently.
	dst = append(dst[:0], '/')
	dst = appendDecoded(dst, raw, false)
	dst = normalizeSegments(dst)
	return lowerUnicode(dst)
}

// appendDecoded appends raw to dst, percent-decoding it until no valid escape is left and
// lower-casing ASCII. It is linear: every byte is appended once, and every decoding removes
// two bytes, so the rescans are paid for by the input.
//
// In a query component (query true) "+" is a space and a backslash stays as it is.
func appendDecoded(dst []byte, raw string, query bool) []byte {
	base := len(dst)
	special := &pathSpecial
	if query {
		special = &querySpecial
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !special[c] {
			// The common byte: it completes no escape unless a "%" is among the last two.
			if n := len(dst); n-base < 2 || dst[n-1] != '%' && dst[n-2] != '%' {
				dst = append(dst, asciiLower[c])
				continue
			}
		}
		if query && c == '+' {
			c = ' '
		}
		var stop bool
		if dst, stop = pushDecoded(dst, base, c, !query); stop {
			break
		}
	}
	return dst
}

// pathSpecial and querySpecial mark the bytes appendDecoded cannot just copy (lower-cased).
var pathSpecial, querySpecial = func() (p, q [256]bool) {
	for c := range 0x20 {
		p[c], q[c] = true, true
	}
	p[0x7f], q[0x7f] = true, true
	p['%'], q['%'] = true, true
	p['\\'] = true
	q['+'] = true
	return p, q
}()

var asciiLower = func() (t [256]byte) {
	for c := range t {
		t[c] = byte(c)
		if 'A' <= c && c <= 'Z' {
			t[c] = byte(c) + 'a' - 'A'
		}
	}
	return t
}()

// pushDecoded appends one byte, then folds a "%XX" it completes, repeatedly: decoding "%25"
// yields a "%" that may start a new escape with what follows, which is how double-encoding is
// undone without a second pass. stop reports a NUL.
func pushDecoded(dst []byte, base int, c byte, path bool) (_ []byte, stop bool) {
	for {
		switch {
		case c == 0:
			return dst, true
		case c < 0x20 || c == 0x7f:
			return dst, false
		case c == '\\' && path:
			c = '/'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		dst = append(dst, c)
		n := len(dst)
		if n-base < 3 || dst[n-3] != '%' {
			return dst, false
		}
		hi, lo := unhex(dst[n-2]), unhex(dst[n-1])
		if hi > 15 || lo > 15 {
			return dst, false
		}
		c = hi<<4 | lo
		dst = dst[:n-3]
	}
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 255
}

// normalizeSegments rewrites b, which starts with "/", in place: params cut, spaces trimmed,
// empty and dot segments resolved, no trailing slash. Writing never overtakes reading because
// every segment written is preceded by at least one slash that was read.
func normalizeSegments(b []byte) []byte {
	w, i, n := 0, 0, len(b)
	for i < n {
		s := i
		for s < n && b[s] == '/' {
			s++
		}
		e := s
		for e < n && b[e] != '/' {
			e++
		}
		i = e
		seg := b[s:e]
		for k, c := range seg {
			if c == ';' {
				seg = seg[:k]
				break
			}
		}
		seg = trimSpaces(seg)
		switch {
		case len(seg) == 0 || len(seg) == 1 && seg[0] == '.':
			continue
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			for w > 0 {
				w--
				if b[w] == '/' {
					break
				}
			}
			continue
		}
		b[w] = '/'
		w++
		w += copy(b[w:], seg)
	}
	if w == 0 {
		b[0] = '/'
		w = 1
	}
	return b[:w]
}

// trimSpaces removes the ASCII spaces around a segment: lenient parsers (and MySQL's PAD SPACE
// comparison of "someuser ") would otherwise find the content behind "/someuser%20".
func trimSpaces(b []byte) []byte {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

// lowerUnicode lower-cases the non-ASCII letters of b, in place while each lower-case form is
// no longer than what it replaces (true of Cyrillic, Greek, Latin), copying otherwise.
func lowerUnicode(b []byte) []byte {
	i := 0
	for i < len(b) && b[i] < utf8.RuneSelf {
		i++
	}
	w := i
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			b[w] = c
			w, i = w+1, i+1
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			b[w] = c
			w, i = w+1, i+1
			continue
		}
		lr := unicode.ToLower(r)
		if lr == r {
			w += copy(b[w:], b[i:i+size])
			i += size
			continue
		}
		if w+utf8.RuneLen(lr) > i+size {
			// Growing in place would overwrite unread bytes.
			out := make([]byte, w, len(b)+len(b)/2+utf8.UTFMax)
			copy(out, b[:w])
			return appendLower(out, b[i:])
		}
		w += utf8.EncodeRune(b[w:], lr)
		i += size
	}
	return b[:w]
}

// appendLower appends the lower-cased tail to out, keeping invalid bytes as they are (ranging
// over a string would turn them into U+FFFD).
func appendLower(out, tail []byte) []byte {
	for len(tail) > 0 {
		r, size := utf8.DecodeRune(tail)
		if r == utf8.RuneError && size == 1 {
			out = append(out, tail[0])
		} else {
			out = utf8.AppendRune(out, unicode.ToLower(r))
		}
		tail = tail[size:]
	}
	return out
}
