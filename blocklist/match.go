package blocklist

import (
	"strings"
	"time"
)

// queryValueLen bounds query values decoded on the stack; post ids and handles are far shorter.
const queryValueLen = 128

// visitor receives the post and account keys that the patterns find in a path. Matching looks
// them up in the register (r set); resolving a URL target at load time records them instead.
type visitor struct {
	r    *Register
	ci   int
	now  time.Time
	best uint32

	// Resolving (r nil): the post of the most specific template (most literal segments, so
	// "/1.1/statuses/show.json?id=9" is post 9, not "show.json" by "/{account}/statuses/{post}"),
	// and likewise the account of a template that covers the whole path (so "/media/upload" is
	// not read as account "media").
	post, account           string
	hasPost, hasAccount     bool
	postScore, accountScore int
	score                   int // of the template being walked
}

// walkKeys splits the canonical path once and feeds v the keys every matching template yields.
func walkKeys[T text](p *Patterns, v *visitor, path T, rawQuery string) {
	var segs [maxPatternSegments][2]int
	n, more := 0, false
	for i := 1; i < len(path); {
		if n == p.maxSegs {
			more = true
			break
		}
		j := i
		for j < len(path) && path[j] != '/' {
			j++
		}
		segs[n] = [2]int{i, j}
		n++
		i = j + 1
	}
	// visited keeps "/{account}/status/{post}" and "/{account}" from looking up the same
	// account twice: bit kind*maxPatternSegments+segment.
	var visited uint32
	for pi := range p.list {
		pat := &p.list[pi]
		k := len(pat.segs)
		if n < k || !segmentsMatch(pat, path, &segs) {
			continue
		}
		whole := n == k && !more
		v.score = pat.literals
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
			visitKey(v, ps.kind, path[segs[si][0]:segs[si][1]], whole)
		}
		if pat.param != "" && rawQuery != "" {
			walkQuery(v, pat, rawQuery, whole)
		}
	}
}

func segmentsMatch[T text](pat *pattern, path T, segs *[maxPatternSegments][2]int) bool {
	for si := range pat.segs {
		ps := &pat.segs[si]
		s := path[segs[si][0]:segs[si][1]]
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
// repeated parameters, so all count; names and values are decoded like paths, so "i%64=5" is
// "id=5", and "id[]=5" counts too (array parameters in PHP and Rails).
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

// queryComponent decodes a query name or value the way paths are decoded (until stable,
// lower-cased), with "+" as a space and surrounding spaces trimmed.
func queryComponent(buf []byte, raw string) []byte {
	return trimSpaces(lowerUnicode(appendDecoded(buf, raw, true)))
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

// visitKey normalises a key the way the application might read it and hands it on.
func visitKey[U text](v *visitor, kind TargetKind, s U, whole bool) {
	if kind == TargetAccount {
		for len(s) > 0 && s[0] == '@' {
			s = s[1:]
		}
		if len(s) == 0 {
			return
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
	if v.r == nil {
		if !v.hasPost || v.score > v.postScore {
			v.post, v.hasPost, v.postScore = postTargetValue(string(s)), true, v.score
		}
		return
	}
	lookupPost(v, s)
}

// lookupPost reads a post id as lenient integer parsers would: "00123", "+123", "123.json",
// "123abc" (Rails' to_i) all find post 123; the segment as a whole is also looked up as a
// string id.
func lookupPost[U text](v *visitor, s U) {
	r := v.r
	t := s
	if t[0] == '+' {
		t = t[1:]
	}
	d := 0
	for d < len(t) && t[d] >= '0' && t[d] <= '9' {
		d++
	}
	if d > 0 {
		if n, ok := parseDecimal(t[:d]); ok {
			if h, ok := r.posts.get(n); ok {
				v.consider(h)
			}
		} else if h, ok := r.postStrs[string(trimZeros(t[:d]))]; ok {
			v.consider(h)
		}
		if d == len(s) {
			return
		}
	}
	if len(r.postStrs) == 0 {
		return
	}
	if h, ok := r.postStrs[string(s)]; ok {
		v.consider(h)
	}
	if stem, ok := formatStem(s); ok {
		if h, ok := r.postStrs[string(stem)]; ok {
			v.consider(h)
		}
	}
}

func lookupAccount[U text](v *visitor, s U) {
	r := v.r
	if len(r.accounts) == 0 {
		return
	}
	if h, ok := r.accounts[string(s)]; ok {
		v.consider(h)
	}
	if stem, ok := formatStem(s); ok {
		if h, ok := r.accounts[string(stem)]; ok {
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
		if !r.terms[r.entries[i].terms].applies(v.ci, v.now) {
			continue
		}
		if v.best == noEntry || r.precedes(i, v.best) {
			v.best = i
		}
	}
}

// walkPrefixes considers every prefix order whose prefix starts the canonical path. A prefix
// ending in "/" also covers the directory itself ("path:/media/*" covers "/media"), since
// canonical paths never end in a slash.
func walkPrefixes[T text](v *visitor, n *trieNode, rest T) {
	for {
		if n.head != noEntry {
			v.consider(n.head)
		}
		if len(rest) == 0 {
			for _, c := range n.children {
				if c.label == "/" && c.head != noEntry {
					v.consider(c.head)
				}
			}
			return
		}
		var c *trieNode
		for _, ch := range n.children {
			if ch.label[0] == rest[0] {
				c = ch
				break
			}
		}
		if c == nil {
			return
		}
		l := len(c.label)
		if len(rest) >= l && string(rest[:l]) == c.label {
			n, rest = c, rest[l:]
			continue
		}
		if l == len(rest)+1 && c.label[l-1] == '/' && string(rest) == c.label[:l-1] && c.head != noEntry {
			v.consider(c.head)
		}
		return
	}
}

// matchPath runs every index against one canonical path.
func matchPath[T text](v *visitor, path T, rawQuery string) {
	r := v.r
	walkKeys(r.patterns, v, path, rawQuery)
	if r.pathLens.has(len(path)) {
		if h, ok := r.paths[string(path)]; ok {
			v.consider(h)
		}
	}
	if r.prefixes != nil {
		walkPrefixes(v, r.prefixes, path)
	}
}
