package blocklist

import (
	"bytes"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// appendFolded appends s, already percent-decoded, in the form in which values are compared:
// the spellings that an application, its framework or its database could take for the same
// text become the same bytes.
//
//   - ASCII letters are lower-cased; other letters are case-folded (so "ς" is "σ" and "ſ" is "s").
//   - Compatibility characters become what they stand for (NFKD): fullwidth "ｓ" is "s",
//     "①" is "1", the Kelvin sign is "k", a no-break space is a space.
//   - Combining marks and invisible characters (zero-width spaces, joiners, soft hyphens,
//     variation selectors) are dropped, so "sómeuser" is "someuser". Accent- and
//     case-insensitive collations (MySQL's default, utf8mb4_0900_ai_ci) compare text this way.
//   - Decimal digits of every script (Unicode category Nd) become ASCII digits: Python's int(),
//     Java's Long.parseLong and \d in Python's regular expressions read "١٢٣" as 123.
//
// Invalid UTF-8 is kept byte for byte. Folding is
// idempotent, and never produces a control character or a "%"; where dropping a mark makes
// an escape of the characters around it, the reader refuses the path (see hasEscape). It only ever merges spellings: over-matching a near spelling is the safe side for
// a register of withheld content.
func appendFolded[T text](dst []byte, s T) []byte {
	for i := 0; i < len(s); {
		j := i
		for j < len(s) {
			if s[j] < utf8.RuneSelf {
				j++
				continue
			}
			r, size := decodeRune(s[j:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			j += size
		}
		if j > i {
			n := len(dst)
			dst = appendFoldedValid(dst, s[i:j])
			if len(dst) == n && i > 0 && j < len(s) {
				// Dropping all of a run of marks between invalid bytes could join them into
				// a valid rune, which a second fold would read differently: keep the run.
				dst = append(dst, s[i:j]...)
			}
		}
		for j < len(s) && s[j] >= utf8.RuneSelf {
			if r, size := decodeRune(s[j:]); r != utf8.RuneError || size != 1 {
				break
			}
			dst = append(dst, s[j])
			j++
		}
		i = j
	}
	return dst
}

// appendFoldedValid folds valid UTF-8.
func appendFoldedValid[T text](dst []byte, s T) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, asciiLower[c])
			i++
			continue
		}
		r, size := decodeRune(s[i:])
		i += size
		if d, ok := digitValue(r); ok {
			dst = append(dst, '0'+d)
			continue
		}
		var enc [utf8.UTFMax]byte
		decomp := norm.NFKD.Properties(enc[:utf8.EncodeRune(enc[:], r)]).Decomposition()
		if len(decomp) == 0 || bytes.IndexByte(decomp, '%') >= 0 {
			// A "%" made by folding ("％") would be read as an escape by the next reading,
			// and folding must be idempotent.
			dst = appendFoldedRune(dst, r)
			continue
		}
		for len(decomp) > 0 {
			dr, n := utf8.DecodeRune(decomp)
			decomp = decomp[n:]
			dst = appendFoldedRune(dst, dr)
		}
	}
	return dst
}

// hasEscape reports a valid percent-escape in b. Decoded text has none, so one in folded text
// was made by folding ("%2\u0300F" once its mark is dropped): a second reading would decode it.
func hasEscape(b []byte) bool {
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' && unhex(b[i+1]) < 16 && unhex(b[i+2]) < 16 {
			return true
		}
	}
	return false
}

func decodeRune[T text](s T) (rune, int) {
	switch s := any(s).(type) {
	case string:
		return utf8.DecodeRuneInString(s)
	case []byte:
		return utf8.DecodeRune(s)
	}
	// A named type of either kind: rare, and only at load time.
	return utf8.DecodeRuneInString(string(s))
}

// appendFoldedRune appends one rune of a decomposition, case-folded, unless it is a mark or
// invisible.
func appendFoldedRune(dst []byte, r rune) []byte {
	if r < utf8.RuneSelf {
		return append(dst, asciiLower[r])
	}
	if invisible(r) {
		return dst
	}
	if d, ok := digitValue(r); ok {
		return append(dst, '0'+d)
	}
	return utf8.AppendRune(dst, foldCase(r))
}

// invisible reports the runes that applications and collations ignore: combining marks and
// default-ignorable characters (zero-width spaces and joiners, soft hyphen, bidi controls,
// variation selectors, Hangul fillers).
func invisible(r rune) bool {
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// foldCase maps r to the lower case of its upper case: "ς" and "σ" both become "σ", "ſ"
// becomes "s", as case-insensitive comparison does.
func foldCase(r rune) rune {
	l := unicode.ToLower(unicode.ToUpper(r))
	if l < utf8.RuneSelf {
		// "ſ" (long s) and "ı" (dotless i) fold into ASCII; still lower-case.
		return rune(asciiLower[l])
	}
	return l
}

// digitValue returns the value of a decimal digit of any script. Unicode lays every such
// digit out in runs of ten, from zero to nine, so the value is the offset in its run.
func digitValue(r rune) (byte, bool) {
	if r < utf8.RuneSelf {
		if '0' <= r && r <= '9' {
			return byte(r - '0'), true
		}
		return 0, false
	}
	for _, rg := range unicode.Nd.R16 {
		if rune(rg.Lo) <= r && r <= rune(rg.Hi) {
			return byte((r - rune(rg.Lo)) % 10), true
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if rune(rg.Lo) <= r && r <= rune(rg.Hi) {
			return byte((r - rune(rg.Lo)) % 10), true
		}
	}
	return 0, false
}

var asciiLower = func() (t [256]byte) {
	for c := range t {
		t[c] = byte(c)
		if 'A' <= c && c <= 'Z' {
			t[c] = byte(c) + 'a' - 'A'
		}
	}
	return t
}()
