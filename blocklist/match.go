package blocklist

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// queryValueLen bounds query values decoded on the stack; post ids and handles are far shorter.
const queryValueLen = 128

// visitor receives the post and account keys that the patterns find in a path. Matching looks
// them up in the register (r set); resolving a URL target at load time records them instead.
type visitor struct {
	r    *Register
	ci   int
	now  time.Time
	at   instant // now, once an order with a start or an end needs it (hasAt)
	best uint32
	// hasAt: at is set.
	hasAt bool
	// listed is set when some order, in any country, names a key of the request and has not
	// ended: a response to it must not be stored by shared caches.
	listed bool
	// queried marks the templates (the first 64) whose query parameter was already read, so
	// that the several readings of an ambiguous path read the query once.
	queried uint64
	// ex records what matching saw, for Explain; nil when matching a request.
	ex *explainer
	// template is the template being walked, for ex.
	template int

	// Resolving (r nil): the post of the most specific template (most literal segments, so
	// "/1.1/statuses/show.json?id=9" is post 9, not "show.json" by "/{account}/statuses/{post}"),
	// and likewise the account of a template that covers the whole path (so "/media/upload" is
	// not read as account "media").
	post, account           string
	hasPost, hasAccount     bool
	postScore, accountScore int
	score                   int // of the template being walked
}

// segments holds where the first segments of a reading lie in its text: as many as the
// longest template has, and whether there are more.
type segments struct {
	at   [maxPatternSegments][2]int
	n    int
	more bool
}

// splitText finds the segments of a reading whose values hold no slash, which is every
// reading but some of an ambiguous path's.
func splitText[T text](s *segments, path T, max int) {
	for i := 1; i < len(path); {
		if s.n == max {
			s.more = true
			return
		}
		j := i
		for j < len(path) && path[j] != '/' {
			j++
		}
		s.at[s.n] = [2]int{i, j}
		s.n++
		i = j + 1
	}
}

// walkKeys feeds v the keys every template that matches the reading's segments yields.
func walkKeys[T text](p *Patterns, v *visitor, path T, segs *segments, rawQuery string) {
	// visited keeps "/{account}/status/{post}" and "/{account}" from looking up the same
	// account twice: bit kind*maxPatternSegments+segment.
	var visited uint32
	for pi := range p.list {
		pat := &p.list[pi]
		k := len(pat.segs)
		if segs.n < k || !segmentsMatch(pat, path, segs) {
			continue
		}
		whole := segs.n == k && !segs.more
		v.score, v.template = pat.literals, pi
		for si := range pat.segs {
			ps := &pat.segs[si]
			if ps.kind == 0 {
				continue
			}
			bit := uint32(1) << (uint(ps.kind-1)*maxPatternSegments + uint(si))
			if visited&bit != 0 && v.r != nil {
				continue
			}
			visited |= bit
			visitKey(v, ps.kind, path[segs.at[si][0]:segs.at[si][1]], whole)
		}
		if pat.param == "" || rawQuery == "" {
			continue
		}
		if pi < 64 {
			if v.queried&(1<<pi) != 0 {
				continue
			}
			v.queried |= 1 << pi
		}
		walkQuery(v, pat, rawQuery, whole)
	}
}

func segmentsMatch[T text](pat *pattern, path T, segs *segments) bool {
	for si := range pat.segs {
		ps := &pat.segs[si]
		s := path[segs.at[si][0]:segs.at[si][1]]
		switch {
		case ps.kind == 0:
			if string(s) != ps.lit {
				return false
			}
		case ps.at:
			if len(s) < 2 || s[0] != '@' {
				return false
			}
		}
	}
	return true
}

// walkQuery feeds v every value of the pattern's parameter. The application may read any of
// repeated parameters, so all count; names and values are decoded and folded like paths, so
// "i%64=5" is "id=5", and "id[]=5" counts too (array parameters in PHP and Rails).
func walkQuery(v *visitor, pat *pattern, q string, whole bool) {
	var buf [queryValueLen]byte
	for q != "" {
		var part string
		if i := strings.IndexAny(q, "&;"); i >= 0 {
			part, q = q[:i], q[i+1:]
		} else {
			part, q = q, ""
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok || !paramNameIs(buf[:0], name, pat.param) {
			continue
		}
		visitKey(v, pat.paramKind, queryComponent(buf[:0], value), whole)
	}
}

func paramNameIs(buf []byte, raw, name string) bool {
	b := queryComponent(buf, raw)
	if len(b) > len(name) && b[len(name)] == '[' {
		b = b[:len(name)]
	}
	return string(b) == name
}

// queryComponent decodes a query name or value the way path segments are read (decoded until
// stable, folded, spaces trimmed), with "+" as a space.
func queryComponent(buf []byte, raw string) []byte {
	if plainSegmentBytes(raw) && strings.IndexByte(raw, '+') < 0 {
		return appendLowerASCII(buf, raw)
	}
	var scratch [queryValueLen]byte
	b := appendFolded(buf, appendUnescaped(scratch[:0], raw, true))
	s, e := valueBounds(b)
	return b[s:e]
}

// formatSuffixes are the response-format extensions that frameworks strip from the last path
// segment (Rails' "/someuser.json", Mastodon's "/@someuser.rss"), so an id or handle with one
// still names the same content.
var formatSuffixes = [...]string{".json", ".xml", ".rss", ".atom", ".html", ".htm", ".txt"}

func formatStem[T text](s T) (T, bool) {
	dot := false
	for i := len(s) - 1; i >= 0 && i >= len(s)-5; i-- {
		dot = dot || s[i] == '.'
	}
	if !dot {
		return s, false
	}
	for _, suf := range formatSuffixes {
		if n := len(s) - len(suf); n > 0 && string(s[n:]) == suf {
			return s[:n], true
		}
	}
	return s, false
}

// accountName is a handle without the "@" marks and spaces before it. Applications strip the
// mark and trim spaces in either order (Flask strips the "@", then NFKD makes
// "/@%C2%A0someuser" a space and strip() removes it), so both go, in any mix; the spaces
// after it are gone already (valueBounds).
func accountName[U text](s U) U {
	for len(s) > 0 {
		r, size := rune(s[0]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune([]byte(s[:min(len(s), utf8.UTFMax)]))
		}
		if r != '@' && !unicode.IsSpace(r) {
			break
		}
		s = s[size:]
	}
	return s
}

// visitKey normalises a key the way the application might read it and hands it on.
func visitKey[U text](v *visitor, kind TargetKind, s U, whole bool) {
	if kind == TargetAccount {
		s = accountName(s)
		if len(s) == 0 {
			return
		}
		if v.ex != nil {
			v.ex.key(kind, string(s), v.template)
		}
		if v.r == nil {
			if whole && (!v.hasAccount || v.score > v.accountScore) {
				v.account, v.hasAccount, v.accountScore = string(s), true, v.score
			}
			return
		}
		lookupAccount(v, s)
		return
	}
	if len(s) == 0 {
		return
	}
	if v.ex != nil {
		v.ex.key(kind, string(s), v.template)
	}
	if v.r == nil {
		if !v.hasPost || v.score > v.postScore {
			v.post, v.hasPost, v.postScore = postTargetValue(string(s)), true, v.score
		}
		return
	}
	lookupPost(v, s)
}

// lookupPost looks a post id up as every lenient parser an application may use reads it; any
// reading that names a withheld post withholds the request. The id is already folded, so
// digits of every script are ASCII here. Readings:
//
//   - the leading digits, after an optional "+": "00123", "+123", "123.json", "123abc" (Ruby's
//     to_i, PHP's (int), C's atoi, JavaScript's parseInt), with single underscores between
//     digits ("1_23": Ruby, Python's int());
//   - a hexadecimal number after "0x" (JavaScript's parseInt and Number, Java's Long.decode,
//     strtol with base 0);
//   - a decimal number with a fraction or an exponent that is a whole number: "123.0",
//     "1.23e2" (MySQL compares a string with a number column as a double, PHP's (int) reads
//     exponents);
//   - the segment as a whole, as a string id.
func lookupPost[U text](v *visitor, s U) {
	r := v.r
	t := s
	if t[0] == '+' {
		t = t[1:]
	}
	d, underscores := leadingDigits(t)
	if d > 0 {
		lookupDigits(v, t[:d], underscores)
		if d < len(t) {
			lookupOtherNumbers(v, t, d)
		}
		if d == len(s) {
			return
		}
	}
	if r.postStrs.empty() {
		return
	}
	if h, ok := r.postStrs.get(r, keyString(s)); ok {
		v.consider(h)
	}
	if stem, ok := formatStem(s); ok {
		if h, ok := r.postStrs.get(r, keyString(stem)); ok {
			v.consider(h)
		}
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// leadingDigits returns how many bytes of t are leading digits, with single underscores
// between digits allowed.
func leadingDigits[U text](t U) (n int, underscores bool) {
	for n < len(t) {
		switch c := t[n]; {
		case isDigit(c):
			n++
		case c == '_' && n > 0 && n+1 < len(t) && isDigit(t[n+1]):
			underscores = true
			n++
		default:
			return n, underscores
		}
	}
	return n, underscores
}

// lookupDigits looks up a run of digits: as a number when it fits in a uint64, else as the
// string of its digits without leading zeros, which is how such ids are kept.
func lookupDigits[U text](v *visitor, digits U, underscores bool) {
	if underscores {
		var buf [64]byte
		b := buf[:0]
		for i := 0; i < len(digits); i++ {
			if digits[i] != '_' {
				b = append(b, digits[i])
			}
		}
		lookupDigits(v, b, false)
		return
	}
	if n, ok := parseDecimal(digits); ok {
		if h, ok := v.r.posts.get(n); ok {
			v.consider(h)
		}
		return
	}
	if h, ok := v.r.postStrs.get(v.r, keyString(trimZeros(digits))); ok {
		v.consider(h)
	}
}

// lookupOtherNumbers reads t, whose first d bytes are digits, as a hexadecimal number or as a
// decimal with a fraction or an exponent.
func lookupOtherNumbers[U text](v *visitor, t U, d int) {
	if d == 1 && t[0] == '0' && t[1] == 'x' {
		var n uint64
		i := 2
		for ; i < len(t) && i < 18 && unhex(t[i]) < 16; i++ {
			n = n<<4 | uint64(unhex(t[i]))
		}
		if i > 2 && (i == len(t) || unhex(t[i]) > 15) {
			if h, ok := v.r.posts.get(n); ok {
				v.consider(h)
			}
		}
		return
	}
	if n, ok := wholeNumber(t); ok {
		if h, ok := v.r.posts.get(n); ok {
			v.consider(h)
		}
	}
}

// wholeNumber reads the decimal number at the start of t ("123.0", "1.23e2", "12300e-2") and
// returns it if it is a whole number that fits in a uint64.
func wholeNumber[U text](t U) (uint64, bool) {
	i, _ := leadingDigits(t)
	frac := false
	if i < len(t) && t[i] == '.' {
		frac = true
		i++
		for i < len(t) && isDigit(t[i]) {
			i++
		}
	}
	exp := false
	if i < len(t) && t[i] == 'e' {
		j := i + 1
		if j < len(t) && (t[j] == '+' || t[j] == '-') {
			j++
		}
		if j < len(t) && isDigit(t[j]) {
			exp = true
			for j < len(t) && isDigit(t[j]) {
				j++
			}
			i = j
		}
	}
	if !frac && !exp {
		return 0, false
	}
	num := make([]byte, 0, 32)
	for k := 0; k < i; k++ {
		if t[k] != '_' {
			num = append(num, t[k])
		}
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil || f != math.Trunc(f) || f < 0 || f >= 1<<64 {
		return 0, false
	}
	return uint64(f), true
}

func lookupAccount[U text](v *visitor, s U) {
	r := v.r
	if r.accounts.empty() {
		return
	}
	if h, ok := r.accounts.get(r, keyString(s)); ok {
		v.consider(h)
	}
	if stem, ok := formatStem(s); ok {
		if h, ok := r.accounts.get(r, keyString(stem)); ok {
			v.consider(h)
		}
	}
}

func trimZeros[T text](s T) T {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}

// parseDecimal parses ASCII digits, leading zeros allowed; ok is false on overflow.
func parseDecimal[T text](s T) (n uint64, ok bool) {
	s = trimZeros(s)
	if len(s) < 20 { // 19 digits cannot overflow; no need to check each one
		for i := 0; i < len(s); i++ {
			n = n*10 + uint64(s[i]-'0')
		}
		return n, true
	}
	if len(s) > 20 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		d := uint64(s[i] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// postTargetValue is the canonical value of a post target: a decimal number without leading
// zeros when the id is all digits and fits in a uint64, else the lower-case id.
func postTargetValue(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return s
		}
	}
	return trimZeros(s)
}

// consider walks the orders on one key and keeps the one that takes precedence.
func (v *visitor) consider(head uint32) {
	r := v.r
	for i := head; i != noEntry; i = r.entries[i].next {
		t := &r.terms[r.entries[i].terms]
		if t.validity == 0 || !r.validities[t.validity].ended(v.instant()) {
			v.listed = true
		}
		applies := r.rules[t.rule].covers(v.ci) && (t.validity == 0 || r.validities[t.validity].contains(v.instant()))
		if v.ex != nil {
			v.ex.order(i, applies)
		}
		if !applies {
			continue
		}
		if v.best == noEntry || r.precedes(i, v.best) {
			v.best = i
		}
	}
}

// instant returns now as an instant, converted once per request, and only for a request
// that an order with a start or an end names.
func (v *visitor) instant() instant {
	if !v.hasAt {
		v.at, v.hasAt = instantOf(v.now), true
	}
	return v.at
}

// walkPrefixes considers every prefix order whose prefix starts the canonical path. A prefix
// ending in "/" also covers the directory itself ("path:/media/*" covers "/media"), since
// canonical paths never end in a slash.
func walkPrefixes[T text](v *visitor, rest T) {
	r := v.r
	n := &r.prefixes[0]
	for {
		if n.head != noEntry {
			v.consider(n.head)
		}
		kids := r.prefixes[n.first : n.first+uint32(n.kids)]
		if len(rest) == 0 {
			for i := range kids {
				if c := &kids[i]; c.n == 1 && c.label0 == '/' && c.head != noEntry {
					v.consider(c.head)
				}
			}
			return
		}
		var c *trieNode
		for i := range kids {
			if kids[i].label0 == rest[0] {
				c = &kids[i]
				break
			}
		}
		if c == nil {
			return
		}
		label, l := r.vals.get(c.label, c.n), int(c.n)
		if len(rest) >= l && string(rest[:l]) == label {
			n, rest = c, rest[l:]
			continue
		}
		if l == len(rest)+1 && label[l-1] == '/' && string(rest) == label[:l-1] && c.head != noEntry {
			v.consider(c.head)
		}
		return
	}
}

// matchText matches one reading whose segments hold no slash.
func matchText[T text](v *visitor, path T, rawQuery string) {
	var segs segments
	splitText(&segs, path, v.r.patterns.maxSegs)
	matchReading(v, path, &segs, rawQuery)
}

// matchReading runs every index against one reading of the request path.
func matchReading[T text](v *visitor, path T, segs *segments, rawQuery string) {
	r := v.r
	walkKeys(r.patterns, v, path, segs, rawQuery)
	if r.pathLens.has(len(path)) {
		if h, ok := r.paths.get(r, keyString(path)); ok {
			v.consider(h)
		}
	}
	if len(r.prefixes) > 0 {
		walkPrefixes(v, path)
	}
}

// matchReadings matches every reading of an ambiguous path.
func matchReadings(v *visitor, readings []reading, rawQuery string) {
	max := v.r.patterns.maxSegs
	for i := range readings {
		rd := &readings[i]
		var segs segments
		for _, s := range rd.segs {
			if segs.n == max {
				segs.more = true
				break
			}
			segs.at[segs.n] = s
			segs.n++
		}
		matchReading(v, rd.text, &segs, rawQuery)
	}
}
