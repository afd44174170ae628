package blocklist

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// text is what matching works on: the request path itself when it was already canonical (the
// common case, no copy), or a stack buffer holding a reading of it. Being generic over both
// keeps the allow path free of allocations without unsafe.
type text interface{ ~string | ~[]byte }

// stackPathLen bounds the paths that are read on the stack; longer ones (rare, and never
// application URLs) cost an allocation or two.
const stackPathLen = 512

// How a request path is read is described in the package documentation (doc.go): one
// reading in the common case (appendReading, on the stack), every reading an application might
// make where applications disagree (readingsOf), or a refusal.

// CanonicalPath returns the canonical reading of a raw, still percent-escaped path: the one in
// which registers write paths. Escapes are decoded until none is left, every value is folded
// (case, compatibility forms, marks, digits of other scripts; see [Register.Match]), ";params"
// are cut and spaces around segments trimmed, "%2F" and backslashes separate segments, empty
// segments are merged and dot segments resolved, and there is no trailing slash. The result
// starts with "/", and CanonicalPath(CanonicalPath(p)) == CanonicalPath(p).
//
// CanonicalPath is the form of the register's own paths. A request path with dot segments is
// refused by [Register.Match] rather than read this way; a path that holds a control
// character once decoded, or whose folding would make a percent-escape, has no trustworthy
// reading at all, and CanonicalPath returns "" for it.
func CanonicalPath(raw string) string {
	c, _ := canonicalPath(raw)
	return c
}

// canonicalPath is CanonicalPath; ok is false for a path that has no trustworthy reading.
func canonicalPath(raw string) (string, bool) {
	clean, upper := classify(raw)
	switch {
	case clean:
		return raw, true
	case upper:
		return strings.ToLower(raw), true
	}
	var buf [stackPathLen]byte
	t, res := appendReading(buf[:0], raw)
	if res == readOne {
		return string(t), true
	}
	segs, ok := decodedSegments(raw)
	if !ok {
		return "", false
	}
	return string(canonicalReading(segs).text), true
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

// classify is the fast path: clean means raw is its own only reading, upper that its only
// reading is raw with ASCII letters lower-cased. It is deliberately conservative (any dot,
// for instance, is dirty).
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

// appendLowerASCII appends raw with ASCII letters lower-cased.
func appendLowerASCII(dst []byte, raw string) []byte {
	for i := 0; i < len(raw); i++ {
		dst = append(dst, asciiLower[raw[i]])
	}
	return dst
}

type readResult uint8

const (
	readOne       readResult = iota // the path has one reading
	readAmbiguous                   // several: see readingsOf
	readRefused                     // a control character, or a dot segment: see readingsOf
)

// appendReading appends to dst, which must be empty, the only reading of raw when it has only
// one: "/" and the segments' values, separated by slashes. It stops as soon as it finds an
// ambiguity (readAmbiguous; see readingsOf), a control character or a dot segment
// (readRefused). It works in one pass, on the stack for paths of ordinary length.
func appendReading(dst []byte, raw string) ([]byte, readResult) {
	var scratch [stackPathLen]byte
	rest := strings.TrimPrefix(raw, "/")
	for {
		seg, tail, more := strings.Cut(rest, "/")
		if plainSegmentBytes(seg) {
			// Most segments: nothing to decode, trim or cut, and ASCII.
			dst = append(dst, '/')
			dst = appendLowerASCII(dst, seg)
			if !more {
				break
			}
			rest = tail
			continue
		}
		dec := appendUnescaped(scratch[:0], seg, false)
		if hasControl(dec) {
			return dst, readRefused
		}
		at := len(dst)
		dst = append(dst, '/')
		dst = appendFolded(dst, dec)
		v := dst[at+1:]
		if hasEscape(v) {
			return dst, readRefused
		}
		if bytes.IndexByte(v, '/') >= 0 || bytes.IndexByte(v, '\\') >= 0 {
			return dst, readAmbiguous
		}
		s, e := valueBounds(v)
		dst = dst[:at+1+copy(v, v[s:e])]
		v = dst[at+1:]
		switch {
		case isDotSegment(v):
			return dst, readRefused
		case len(v) == 0 && !more:
			dst = dst[:at] // a trailing slash
		case len(v) == 0:
			return dst, readAmbiguous
		}
		if !more {
			break
		}
		rest = tail
	}
	if len(dst) == 0 {
		dst = append(dst, '/')
	}
	return dst, readOne
}

// plainSegmentBytes reports a segment that is its own value, but for ASCII case: not empty,
// no escapes, dots, parameters, spaces, backslashes, controls or non-ASCII bytes.
func plainSegmentBytes(seg string) bool {
	for i := 0; i < len(seg); i++ {
		if byteClass[seg[i]] == dirtyByte {
			return false
		}
	}
	return seg != ""
}

// appendUnescaped appends raw to dst, percent-decoding it until no valid escape is left. It
// is linear: every byte is appended once, and every decoding removes two bytes, so rescanning
// what a decoding completes ("%2573": "%25" gives "%", which with "73" gives "s") is paid for
// by the input. In a query component (query true) a raw "+" is a space.
func appendUnescaped[T text](dst []byte, raw T, query bool) []byte {
	base := len(dst)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if query && c == '+' {
			c = ' '
		}
		dst = append(dst, c)
		for {
			n := len(dst)
			if n-base < 3 || dst[n-3] != '%' {
				break
			}
			hi, lo := unhex(dst[n-2]), unhex(dst[n-1])
			if hi > 15 || lo > 15 {
				break
			}
			dst = append(dst[:n-3], hi<<4|lo)
		}
	}
	return dst
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

// hasControl reports a C0 control, DEL or a C1 control (U+0080–U+009F) in decoded bytes.
func hasControl(b []byte) bool {
	for i, c := range b {
		if c < 0x20 || c == 0x7f || c == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f {
			return true
		}
	}
	return false
}

// valueBounds returns where a segment's value lies in its folded text: ";params" cut off (as
// servlet containers do) and the spaces around it trimmed (lenient parsers, and MySQL's PAD
// SPACE comparison of "someuser ", would otherwise find the content behind "/someuser%20").
func valueBounds(b []byte) (start, end int) {
	end = len(b)
	if i := bytes.IndexByte(b, ';'); i >= 0 {
		end = i
	}
	for start < end {
		r, size := utf8.DecodeRune(b[start:end])
		if r != ' ' && !unicode.IsSpace(r) {
			break
		}
		start += size
	}
	for end > start {
		r, size := utf8.DecodeLastRune(b[start:end])
		if r != ' ' && !unicode.IsSpace(r) {
			break
		}
		end -= size
	}
	return start, end
}

func isDotSegment(v []byte) bool {
	return len(v) == 1 && v[0] == '.' || len(v) == 2 && v[0] == '.' && v[1] == '.'
}

// A reading is one way an application may read a path that has several: the segments'
// values, each behind a slash in text ("/v1/v2"), and where each value lies in text. A value
// may itself hold a slash (read from "%2F" by an application that does not split on it), so
// the segments are kept apart from the text.
type reading struct {
	text []byte
	segs [][2]int
}

// value is one segment of a reading being built: its value, and what it is to the path's
// structure, which depends on what the application did to the segment before reading the
// structure ("..;" is ".." to Tomcat and a name to nginx; "．．" is ".." to IIS and a name to Go).
type value struct {
	b     []byte
	empty bool
	dots  int // 1 for ".", 2 for ".."
}

// A view is what an application does to a segment before it reads the path's structure: most
// do nothing (plain); servlet containers cut ";params"; Windows stacks fold compatibility
// forms; the canonical reading does everything.
type view uint8

const (
	viewCut view = 1 << iota
	viewFold
	viewTrim

	viewPlain     view = 0
	viewCanonical      = viewCut | viewFold | viewTrim
)

// readingsOf returns every distinct reading of an ambiguous path (see "How a request path is
// read" above); ok is false when the path is refused (see Ambiguous). Such paths are rare, so
// this allocates freely.
func readingsOf(raw string) (readings []reading, ok bool) {
	segs, ok := decodedSegments(raw)
	if !ok {
		return nil, false
	}
	// Any piece that some application could take for a dot segment is one in the canonical
	// view with every separator splitting, which does everything any view does. Separators
	// made by decoding twice are refused too: applications that decode once and those that
	// decode twice would split the path differently in every other respect as well.
	for _, s := range segs {
		if s.deep {
			return nil, false
		}
	}
	for _, v := range segmentValues(segs, true, true, viewCanonical) {
		if v.dots != 0 {
			return nil, false
		}
	}
	for _, v := range [...]view{viewPlain, viewCut, viewFold, viewCanonical} {
		for _, split := range [...]struct{ slash, backslash bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
			values := segmentValues(segs, split.slash, split.backslash, v)
			for _, vs := range [...][]value{cleanNone(values), cleanMerge(values)} {
				if !hasReading(readings, vs) {
					readings = append(readings, newReading(vs))
				}
			}
		}
	}
	return readings, true
}

// canonicalReading is the reading registers write paths in: every separator splits, empty
// segments are merged, then dots resolved, all read after cutting, folding and trimming.
func canonicalReading(segs []segment) reading {
	return newReading(cleanMergeDots(segmentValues(segs, true, true, viewCanonical)))
}

// segment is one segment of a raw path, between literal slashes: as sent, and decoded.
type segment struct {
	raw string
	dec []byte
	// deep is set when decoding more than once makes a separator ("%252F", "%255C"): a name
	// to applications that decode once, a separator to those that decode twice.
	deep bool
}

// decodedSegments splits raw at its literal slashes and decodes each segment; ok is false when
// a segment holds a control character, or folding it would make an escape.
func decodedSegments(raw string) (segs []segment, ok bool) {
	rest := strings.TrimPrefix(raw, "/")
	for {
		seg, tail, more := strings.Cut(rest, "/")
		dec := appendUnescaped(nil, seg, false)
		if hasControl(dec) || hasEscape(appendFolded(nil, dec)) {
			return nil, false
		}
		segs = append(segs, segment{seg, dec, separators(dec) != separators(decodeOnce(seg))})
		if !more {
			return segs, true
		}
		rest = tail
	}
}

func separators(b []byte) int { return bytes.Count(b, []byte{'/'}) + bytes.Count(b, []byte{'\\'}) }

// decodeOnce decodes percent-escapes in one pass, as most applications do.
func decodeOnce(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && unhex(s[i+1]) < 16 && unhex(s[i+2]) < 16 {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return b
}

// segmentValues splits the decoded segments further at slashes (decoded from "%2F", or made
// by folding "／") and at backslashes, as asked, and returns the pieces' values, with what each
// piece is to the structure in view v.
func segmentValues(segs []segment, slash, backslash bool, v view) []value {
	values := make([]value, 0, len(segs))
	for _, seg := range segs {
		s := seg.dec
		if i := strings.IndexByte(seg.raw, ';'); i >= 0 && v == viewCut {
			// Servlet containers cut parameters before decoding: an escaped ";" is a name.
			s = appendUnescaped(nil, seg.raw[:i], false)
		}
		if v&viewFold != 0 {
			s = appendFolded(nil, s)
		}
		for {
			i := bytes.IndexFunc(s, func(r rune) bool { return r == '/' && slash || r == '\\' && backslash })
			piece := s
			if i >= 0 {
				piece = s[:i]
			}
			shape := piece
			if v&viewCut != 0 && v != viewCut {
				if j := bytes.IndexByte(shape, ';'); j >= 0 {
					shape = shape[:j]
				}
			}
			if v&viewTrim != 0 {
				shape = bytes.TrimFunc(shape, unicode.IsSpace)
			}
			b := piece
			if v&viewFold == 0 {
				b = appendFolded(nil, piece)
			}
			start, end := valueBounds(b)
			values = append(values, value{b: b[start:end], empty: len(shape) == 0, dots: dots(shape)})
			if i < 0 {
				break
			}
			s = s[i+1:]
		}
	}
	return values
}

func dots(v []byte) int {
	if isDotSegment(v) {
		return len(v)
	}
	return 0
}

// The ways paths are cleaned. Each also drops a trailing empty segment: a trailing slash
// shifts nothing, and "/banned/" is the page "/banned" to every application.

func cleanNone(vs []value) []value {
	if n := len(vs); n > 0 && vs[n-1].empty {
		return vs[:n-1]
	}
	return vs
}

func cleanMerge(vs []value) []value {
	out := make([]value, 0, len(vs))
	for _, v := range vs {
		if !v.empty {
			out = append(out, v)
		}
	}
	return out
}

// cleanDots resolves dot segments as RFC 3986's remove_dot_segments does: "." goes, ".." takes
// the segment before it, but never climbs above the root. Only the register's own paths are
// read so; requests with dot segments are refused.
func cleanDots(vs []value) []value {
	out := make([]value, 0, len(vs))
	for _, v := range vs {
		switch v.dots {
		case 1:
		case 2:
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, v)
		}
	}
	return cleanNone(out)
}

// cleanMergeDots is path.Clean: empty segments first, then dots.
func cleanMergeDots(vs []value) []value { return cleanDots(cleanMerge(vs)) }

func hasReading(readings []reading, vs []value) bool {
	for _, r := range readings {
		if len(r.segs) != len(vs) {
			continue
		}
		same := true
		for i, s := range r.segs {
			if !bytes.Equal(r.text[s[0]:s[1]], vs[i].b) {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}

func newReading(vs []value) reading {
	r := reading{segs: make([][2]int, len(vs))}
	for i, v := range vs {
		r.text = append(r.text, '/')
		r.segs[i] = [2]int{len(r.text), len(r.text) + len(v.b)}
		r.text = append(r.text, v.b...)
	}
	if len(r.text) == 0 {
		r.text = append(r.text, '/')
	}
	return r
}
