package blocklist

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/georestrict/caddy-georestrict/internal/iso3166"
)

const noEntry = ^uint32(0)

// Register is a compiled, immutable set of orders, safe for concurrent use. Build one with
// [Load].
//
// Orders are stored compactly: ids and target values live in two arenas of large strings,
// everything else an order says (countries, action, authority, reference, notice, reason,
// window) in a table of distinct "terms", since one decision typically covers many posts.
// Numeric posts are found through a flat hash table, other posts, accounts and exact paths
// through maps, path prefixes through a radix tree. The bulk of it (entries, arenas, the post
// table) holds no pointers, so the garbage collector does not look inside it.
type Register struct {
	patterns *Patterns
	entries  []entry
	terms    []terms
	ids      arena // every id
	vals     arena // every target value; the maps' keys are substrings of it
	files    []string

	posts    postIndex         // numeric post id -> first entry
	postStrs map[string]uint32 // other post ids
	accounts map[string]uint32
	paths    map[string]uint32
	pathLens lengthSet // lengths of the exact paths, to skip hashing most request paths
	prefixes *trieNode

	windows   []windowCount // orders with a start or an end, by window and action
	countries countrySet    // countries with at least one order
	anywhere  bool          // some order applies in every country
	timed     bool          // some order has a start or an end
	stats     RegisterStats
}

// entry is one order in the index: 28 bytes.
type entry struct {
	idOff, valOff uint32
	terms         uint32
	next          uint32 // next entry on the same key, or noEntry
	line          uint32
	idLen, valLen uint16
	file          uint16
	kind          TargetKind
	numeric       bool // a post id kept as a number, in posts
}

// terms is what orders share: everything but the id and the target.
type terms struct {
	countries countrySet
	anywhere  bool
	action    Action
	both      bool
	rate      int64
	codes     []string
	authority string
	reference string
	notice    string
	reason    string
	start     time.Time
	end       time.Time
}

func (t *terms) applies(ci int, now time.Time) bool {
	return (t.anywhere || ci == anyCountryIndex || t.countries.has(ci)) &&
		(t.start.IsZero() || !now.Before(t.start)) &&
		(t.end.IsZero() || now.Before(t.end))
}

type trieNode struct {
	label    string // edge from the parent
	head     uint32 // orders whose prefix ends here
	children []*trieNode
}

// RegisterStats describes a register, for logs and metrics.
type RegisterStats struct {
	Orders    int
	Blocks    int
	Throttles int
	// ByKind counts orders per target kind, indexed by TargetKind.
	ByKind [TargetPathPrefix + 1]int
	// Countries lists the countries named by at least one order, sorted, with "*" first when
	// some order applies everywhere.
	Countries []string
	// SkippedForeignHost counts URL targets left out because their host is not one of
	// Options.Hosts.
	SkippedForeignHost int
	Files              []string

	// SkippedForeignHostIDs are the ids of the first 20 URL targets skipped for their host,
	// in the order they were read (of our own formats: a regulator's register is nearly all
	// about other sites).
	SkippedForeignHostIDs []string

	// Regulators' registers: what they say of themselves (when they were published), how
	// many of their entries did not become orders, by reason (UnenforcedOtherHost, ...), and
	// the first of those that concern the site, with why.
	Headers    []Header
	Unenforced map[string]int
	Skipped    []Skip
}

// A Census counts the orders of one source of a register, as the people who answer for the
// register want them: by action and by country ("*" for orders that apply everywhere).
type Census struct {
	Source    string
	Orders    int
	ByAction  map[string]int
	ByCountry map[string]int
}

// Census counts the orders of every source, in the order the sources were loaded. It walks
// every order: call it for a status page, not per request.
func (r *Register) Census() []Census {
	if r == nil {
		return nil
	}
	out := make([]Census, len(r.files))
	for i, f := range r.files {
		out[i] = Census{Source: f, ByAction: map[string]int{}, ByCountry: map[string]int{}}
	}
	for i := range r.entries {
		e := &r.entries[i]
		t := &r.terms[e.terms]
		c := &out[e.file]
		c.Orders++
		c.ByAction[t.action.String()]++
		for _, code := range t.codes {
			c.ByCountry[code]++
		}
	}
	return out
}

// window is when some orders apply, and what they do.
type window struct {
	start, end instant
	action     Action
}

type windowCount struct {
	window
	n int
}

// InForce counts the orders that apply at now (inside their start and end), by action:
// the index is ActionBlock or ActionThrottle.
func (r *Register) InForce(now time.Time) (counts [ActionThrottle + 1]int) {
	if r == nil {
		return counts
	}
	counts[ActionBlock], counts[ActionThrottle] = r.stats.Blocks, r.stats.Throttles
	at := instantOf(now)
	for _, w := range r.windows {
		if !w.start.zero() && at.before(w.start) || !w.end.zero() && !at.before(w.end) {
			counts[w.action] -= w.n
		}
	}
	return counts
}

// Len returns the number of orders.
func (r *Register) Len() int {
	if r == nil {
		return 0
	}
	return len(r.entries)
}

// Stats describes the register.
func (r *Register) Stats() RegisterStats {
	if r == nil {
		return RegisterStats{}
	}
	s := r.stats
	s.Countries = slices.Clone(s.Countries)
	s.Files = slices.Clone(s.Files)
	s.Headers = slices.Clone(s.Headers)
	s.Unenforced = maps.Clone(s.Unenforced)
	s.Skipped = slices.Clone(s.Skipped)
	s.SkippedForeignHostIDs = slices.Clone(s.SkippedForeignHostIDs)
	return s
}

// HasCountry reports whether any order could apply to clients in country (including orders
// for "*"), so that a gateway can skip all work for the rest of the world.
func (r *Register) HasCountry(country string) bool {
	if r == nil {
		return false
	}
	if country == AnyCountry {
		return len(r.entries) > 0
	}
	return r.anywhere || r.countries.has(iso3166.Index(country))
}

// Timed reports whether any order has a start or an end. When none has,
// Match does not read its now argument, and a gateway can spare itself the
// clock on every request.
func (r *Register) Timed() bool { return r != nil && r.timed }

// AnyCountry, passed to Match as the client's country, stands for a client
// that must be treated as being in every country: every order covers it. A
// gateway that blocks clients of unknown location uses it.
const AnyCountry = "*"

// anyCountryIndex is the country index of AnyCountry; iso3166.Index never
// returns it.
const anyCountryIndex = -2

// A Verdict is what the register says about one request.
type Verdict uint8

const (
	// Unlisted: no order, in any country, names what the request asks for.
	Unlisted Verdict = iota
	// ListedElsewhere: orders name it, but none applies to this client now (another country,
	// or a window that has not started). The answer may pass, but a shared cache must not
	// keep it for clients elsewhere.
	ListedElsewhere
	// Applies: an order applies to this client now; Match returns it.
	Applies
	// Ambiguous: applications read the path in ways too different to match them all: it has
	// dot segments, or control characters once decoded (see [CanonicalPath]). No client
	// has a reason to send such a path; refuse the request.
	Ambiguous
)

func (v Verdict) String() string {
	switch v {
	case Unlisted:
		return "unlisted"
	case ListedElsewhere:
		return "listed elsewhere"
	case Applies:
		return "applies"
	case Ambiguous:
		return "ambiguous"
	}
	return "Verdict(" + strconv.Itoa(int(v)) + ")"
}

// Match decides for one request from country (ISO 3166-1 alpha-2, either case; "" when
// unknown, which only orders for "*" cover; AnyCountry to be covered by every order). path is
// the raw, still-escaped request path (r.URL.EscapedPath()), rawQuery the raw query.
//
// The path is read the way applications read it (see [CanonicalPath]): each segment decoded
// until nothing is left to decode and folded, so that case, percent-encoding, compatibility
// forms, accents and digits of other scripts cannot dodge an order; where applications
// disagree on a path's structure (encoded slashes, backslashes, empty segments), every reading
// is matched and any match applies; paths with dot segments or control characters are
// Ambiguous. The patterns then find the posts and accounts in
// each reading; post ids are read as lenient number parsers read them (see the package doc).
// The query is only read where a template names a parameter.
//
// Match returns the order that applies at now, if any, with the verdict Applies. When several
// do, a block wins over a throttle; among throttles the lowest rate wins, then one that also
// slows responses; then a post order wins over an account order, an account over an exact
// path, an exact path over a path prefix; and finally the lowest id (byte-wise) wins, so the
// answer never depends on file order. Otherwise the verdict says whether an order elsewhere
// names the request (ListedElsewhere), none does (Unlisted), or the path must be refused
// (Ambiguous).
//
// A request that no order covers costs no allocation unless its path is ambiguous; a hit
// returns a copy of the order.
func (r *Register) Match(country, path, rawQuery string, now time.Time) (Order, Verdict) {
	ref, verdict := r.MatchRef(country, path, rawQuery, now)
	if verdict != Applies {
		return Order{}, verdict
	}
	return r.Order(ref), Applies
}

// OrderRef refers to one order of the register that MatchRef returned it from. It is
// meaningless with any other register, even a later version of the same file.
type OrderRef uint32

// MatchRef is Match without the copy of the order: it refers to the order instead, and never
// allocates unless the path is ambiguous. A caller that answers many requests for the same
// order (a cache of rendered answers, keyed by register version and ref) need not
// materialise it each time; Order does when it must.
func (r *Register) MatchRef(country, path, rawQuery string, now time.Time) (OrderRef, Verdict) {
	if r == nil || len(r.entries) == 0 {
		return 0, Unlisted
	}
	v := visitor{r: r, ci: matchCountry(country), now: now, best: noEntry}
	if !walk(&v, path, rawQuery) {
		return 0, Ambiguous
	}
	return v.verdict()
}

// verdict is what the register says once v has walked a request.
func (v *visitor) verdict() (OrderRef, Verdict) {
	switch {
	case v.best != noEntry:
		return OrderRef(v.best), Applies
	case v.listed:
		return 0, ListedElsewhere
	}
	return 0, Unlisted
}

// Order returns a copy of the order that ref, from MatchRef on r, refers to.
func (r *Register) Order(ref OrderRef) Order { return r.order(uint32(ref)) }

func matchCountry(country string) int {
	if country == AnyCountry {
		return anyCountryIndex
	}
	return iso3166.Index(country)
}

// walk reads path every way it must be read (see the package doc) and runs v over each
// reading; it reports false for a path that is refused (Ambiguous).
func walk(v *visitor, path, rawQuery string) bool {
	switch clean, upper := classify(path); {
	case clean:
		matchText(v, path, rawQuery)
	case upper && len(path) <= stackPathLen:
		// Mixed-case handles ("/SomeUser/status/1") are common: lower-case, nothing else.
		var buf [stackPathLen]byte
		matchText(v, appendLowerASCII(buf[:0], path), rawQuery)
	default:
		var buf [stackPathLen]byte
		text, res := appendReading(buf[:0], path)
		switch res {
		case readOne:
			matchText(v, text, rawQuery)
		case readAmbiguous:
			readings, ok := readingsOf(path)
			if !ok {
				return false
			}
			matchReadings(v, readings, rawQuery)
		default:
			return false
		}
	}
	return true
}

// kindRank orders target kinds from most to least specific.
var kindRank = [...]uint8{TargetPost: 0, TargetAccount: 1, TargetPath: 2, TargetPathPrefix: 3}

// precedes reports whether entry a takes precedence over entry b (see Match).
func (r *Register) precedes(a, b uint32) bool {
	ea, eb := &r.entries[a], &r.entries[b]
	ta, tb := &r.terms[ea.terms], &r.terms[eb.terms]
	if ta.action != tb.action {
		return ta.action == ActionBlock
	}
	if ta.action == ActionThrottle {
		if ta.rate != tb.rate {
			return ta.rate < tb.rate
		}
		if ta.both != tb.both {
			return ta.both
		}
	}
	if ea.kind != eb.kind {
		return kindRank[ea.kind] < kindRank[eb.kind]
	}
	return r.id(ea) < r.id(eb)
}

func (r *Register) id(e *entry) string  { return r.ids.get(e.idOff, e.idLen) }
func (r *Register) val(e *entry) string { return r.vals.get(e.valOff, e.valLen) }

func (r *Register) source(e *entry) string {
	if e.line == 0 {
		return r.files[e.file]
	}
	return r.files[e.file] + ":" + strconv.FormatUint(uint64(e.line), 10)
}

// order materialises entry i. Strings are shared with the register (they are immutable);
// the countries slice is copied so that callers cannot change the register through it.
func (r *Register) order(i uint32) Order {
	e := &r.entries[i]
	t := &r.terms[e.terms]
	return Order{
		ID:               r.id(e),
		Countries:        slices.Clone(t.codes),
		Target:           Target{Kind: e.kind, Value: r.val(e)},
		Action:           t.action,
		Rate:             t.rate,
		ThrottleResponse: t.both,
		Authority:        t.authority,
		Reference:        t.reference,
		Notice:           t.notice,
		Reason:           t.reason,
		Start:            t.start,
		End:              t.end,
		Source:           r.source(e),
	}
}

// orders calls yield with every order, in the order they were loaded, until it returns false.
func (r *Register) orders(yield func(Order) bool) {
	if r == nil {
		return
	}
	for i := range r.entries {
		if !yield(r.order(uint32(i))) {
			return
		}
	}
}

// index builds the lookup structures over r.entries, whose values are in r.vals; numeric
// entries are marked so.
func (r *Register) index(ctx context.Context, numeric int) error {
	pace := pacer{ctx: ctx}
	var n [TargetPathPrefix + 1]int
	for i := range r.entries {
		pace.step()
		n[r.entries[i].kind]++
	}
	var errs []error
	if n[TargetPost] > 0 && !r.patterns.has[TargetPost] {
		errs = append(errs, fmt.Errorf("%d post orders, but no pattern has a {post} placeholder, so they could never match", n[TargetPost]))
	}
	if n[TargetAccount] > 0 && !r.patterns.has[TargetAccount] {
		errs = append(errs, fmt.Errorf("%d account orders, but no pattern has an {account} placeholder, so they could never match", n[TargetAccount]))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if n[TargetPost] > numeric {
		r.postStrs = make(map[string]uint32, n[TargetPost]-numeric)
	}
	if n[TargetAccount] > 0 {
		r.accounts = make(map[string]uint32, n[TargetAccount])
	}
	if n[TargetPath] > 0 {
		r.paths = make(map[string]uint32, n[TargetPath])
	}
	if n[TargetPathPrefix] > 0 {
		r.prefixes = &trieNode{head: noEntry}
	}
	chain := func(m map[string]uint32, k string, i uint32) {
		if h, ok := m[k]; ok {
			r.entries[i].next = h
		}
		m[k] = i
	}
	// Numeric posts, usually most of a register, are indexed alongside the rest; each
	// goroutine writes only the entries of its own kinds.
	var wg sync.WaitGroup
	if numeric > 0 {
		goLoad(&wg, func() { r.posts = buildPostIndex(ctx, r.entries, r.vals, numeric) })
	} else {
		r.posts = postIndex{zero: noEntry}
	}
	for i := range r.entries {
		pace.step()
		e := &r.entries[i]
		if e.numeric {
			continue
		}
		v := r.val(e)
		switch e.kind {
		case TargetPost:
			chain(r.postStrs, v, uint32(i))
		case TargetAccount:
			chain(r.accounts, v, uint32(i))
		case TargetPath:
			chain(r.paths, v, uint32(i))
			r.pathLens.add(len(v))
		case TargetPathPrefix:
			r.prefixes.insert(v, uint32(i), r.entries)
		}
	}
	wg.Wait()

	r.stats = RegisterStats{Orders: len(r.entries), ByKind: n, Files: r.files}
	for i := range r.terms {
		t := &r.terms[i]
		r.countries.union(&t.countries)
		r.anywhere = r.anywhere || t.anywhere
		r.timed = r.timed || !t.start.IsZero() || !t.end.IsZero()
	}
	perTerms := make([]int, len(r.terms))
	for i := range r.entries {
		pace.step()
		perTerms[r.entries[i].terms]++
	}
	windows := make(map[window]int)
	for ti, n := range perTerms {
		t := &r.terms[ti]
		switch t.action {
		case ActionBlock:
			r.stats.Blocks += n
		case ActionThrottle:
			r.stats.Throttles += n
		}
		if !t.start.IsZero() || !t.end.IsZero() {
			windows[window{instantOf(t.start), instantOf(t.end), t.action}] += n
		}
	}
	for w, n := range windows {
		r.windows = append(r.windows, windowCount{w, n})
	}
	if r.anywhere {
		r.stats.Countries = append(r.stats.Countries, "*")
	}
	for i := range iso3166.Size {
		if r.countries.has(i) {
			r.stats.Countries = append(r.stats.Countries, iso3166.Code(i))
		}
	}
	return nil
}

// lengthSet is a bitset of string lengths; lengths from 255 up share the last bit.
type lengthSet [4]uint64

func (s *lengthSet) add(n int)      { n = min(n, 255); s[n>>6] |= 1 << (n & 63) }
func (s *lengthSet) has(n int) bool { n = min(n, 255); return s[n>>6]&(1<<(n&63)) != 0 }

// numericPost returns a post target as the number it is kept as, if it is all digits and
// fits in a uint64; other post ids are compared as strings.
func numericPost(v string) (uint64, bool) {
	if !isDigits(v) {
		return 0, false
	}
	return parseDecimal(v)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// insert adds entry i under key, splitting edges as needed. Labels are substrings of the
// register's value string, so the tree adds no bytes of its own for them.
func (n *trieNode) insert(key string, i uint32, entries []entry) {
	for {
		if key == "" {
			entries[i].next = n.head
			n.head = i
			return
		}
		ci := -1
		for j, c := range n.children {
			if c.label[0] == key[0] {
				ci = j
				break
			}
		}
		if ci < 0 {
			n.children = append(n.children, &trieNode{label: key, head: i})
			return
		}
		c := n.children[ci]
		l := 0
		for l < len(c.label) && l < len(key) && c.label[l] == key[l] {
			l++
		}
		if l < len(c.label) {
			split := &trieNode{label: c.label[:l], head: noEntry, children: []*trieNode{c}}
			c.label = c.label[l:]
			n.children[ci] = split
			c = split
		}
		n, key = c, key[l:]
	}
}

// String summarises the register for logs.
func (s RegisterStats) String() string {
	return fmt.Sprintf("%d orders (%d block, %d throttle) in %d countries from %s",
		s.Orders, s.Blocks, s.Throttles, len(s.Countries), strings.Join(s.Files, ", "))
}
