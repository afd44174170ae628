package blocklist

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/georestrict/caddy-georestrict/internal/iso3166"
	"github.com/georestrict/caddy-georestrict/internal/offheap"
)

const noEntry = ^uint32(0)

// Register is a compiled, immutable set of orders, safe for concurrent use. Build one with
// [Load].
//
// Orders are stored compactly, in flat tables that hold no pointers and, once built, live
// outside the Go heap (offheap.go), so that the garbage collector neither looks inside a
// register nor counts it, however large. Ids and target values live in two arenas of large
// strings, everything else an order says in a table of "terms", since one decision typically
// covers many posts. Terms refer to a few distinct rules (countries and action), windows
// (start and end) and texts (authority, reference, notice, reason, kept in a third arena), so
// that a register in which every order has its own decision still costs little beyond its
// text. Numeric posts are found through a flat hash table, other posts, accounts and exact
// paths through tables of entry indexes (table.go), path prefixes through a radix tree laid
// out in one slice.
type Register struct {
	patterns   *Patterns
	entries    []entry
	terms      []terms
	rules      []rule
	validities []validity       // [0] is "always"
	zones      []*time.Location // the time zones start and end were written in
	ids        arena            // every id
	vals       arena            // every target value; lookups and the tree refer to it
	texts      arena            // authorities, references, notices and reasons
	files      []string
	seed       uint64        // of hashKey
	mem        *offheap.Pool // where the bulk is kept, or nil (offheap.go)

	posts    postIndex // numeric post id -> first entry
	postStrs keyTable  // other post ids
	accounts keyTable
	paths    keyTable
	pathLens lengthSet  // lengths of the exact paths, to skip hashing most request paths
	prefixes []trieNode // [0] is the root; empty without prefix orders

	windows   []windowCount // orders with a start or an end, by window and action
	census    []sourceRule  // orders by source and rule, for Census
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

// terms is what orders share: everything but the id and the target, by reference.
type terms struct {
	rule     uint32 // in rules
	validity uint32 // in validities; 0 when the order has neither start nor end
	// In the text arena; 0 is the empty text.
	authority, reference, notice, reason uint32
}

// rule is where an order applies and what it does.
type rule struct {
	countries countrySet
	rate      int64
	anywhere  bool
	action    Action
	both      bool
}

func (ru *rule) covers(ci int) bool {
	return ru.anywhere || ci == anyCountryIndex || ru.countries.has(ci)
}

// codes returns the countries of the rule as an Order has them: sorted codes, or "*".
func (ru *rule) codes() []string {
	if ru.anywhere {
		return []string{"*"}
	}
	n := 0
	for _, w := range ru.countries {
		n += bits.OnesCount64(w)
	}
	codes := make([]string, 0, n)
	for i, w := range ru.countries {
		for ; w != 0; w &= w - 1 {
			codes = append(codes, iso3166.Code(i*64+bits.TrailingZeros64(w)))
		}
	}
	return codes
}

// validity is when an order applies: from start (inclusive) until end (exclusive). A zone
// of 0 leaves that side open; otherwise it is one plus the index in Register.zones of the
// zone the time was written in, so that an Order shows it as written.
type validity struct {
	start, end         instant
	startZone, endZone uint16
}

// contains reports whether at lies within the validity.
func (w *validity) contains(at instant) bool {
	return (w.startZone == 0 || !at.before(w.start)) && (w.endZone == 0 || at.before(w.end))
}

// ended reports whether the validity ended before at.
func (w *validity) ended(at instant) bool { return w.endZone != 0 && !at.before(w.end) }

// time returns the time at i, in zone (see validity); zone 0 is the zero time.
func (r *Register) time(i instant, zone uint16) time.Time {
	if zone == 0 {
		return time.Time{}
	}
	return time.Unix(i.sec, int64(i.nsec)).In(r.zones[zone-1])
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
	// OffHeap is the bytes of the register kept outside the Go heap (0 where the platform
	// cannot map memory): part of the process's resident memory, not of its Go heap.
	OffHeap int

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

// Census counts the orders of every source, in the order the sources were loaded, from
// counts kept when the register was built.
func (r *Register) Census() []Census {
	if r == nil {
		return nil
	}
	out := make([]Census, len(r.files))
	for i, f := range r.files {
		out[i] = Census{Source: f, ByAction: map[string]int{}, ByCountry: map[string]int{}}
	}
	for _, k := range r.census {
		c, ru, n := &out[k.file], &r.rules[k.rule], k.n
		c.Orders += n
		c.ByAction[ru.action.String()] += n
		for _, code := range ru.codes() {
			c.ByCountry[code] += n
		}
	}
	return out
}

// sourceRule counts the orders of one source with one rule.
type sourceRule struct {
	file, rule uint32
	n          int
}

// window is when some orders apply, and what they do.
type window struct {
	validity
	action Action
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
		if !w.contains(at) {
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
	defer runtime.KeepAlive(r) // see offheap.go
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

// Order returns a copy of the order that ref, from MatchRef on r, refers to. Its strings are
// its own: keeping them does not keep the register.
func (r *Register) Order(ref OrderRef) Order {
	defer runtime.KeepAlive(r) // see offheap.go
	return r.order(uint32(ref))
}

func matchCountry(country string) int {
	if country == AnyCountry {
		return anyCountryIndex
	}
	return iso3166.Index(country)
}

// walk reads path every way it must be read (see the package doc) and runs v over each
// reading; it reports false for a path that is refused (Ambiguous).
//
// A path that is already as applications read it, the most common kind, is matched as it is;
// the others need a buffer, which walkRewritten keeps in its own frame, so that the common
// case does not carry it. Every byte of stack on this path counts: the server's goroutine
// calls it near the end of an 8 KiB stack, and a frame that crosses the end makes the runtime
// copy the stack to one twice the size, which a collection shrinks back, again and again.
func walk(v *visitor, path, rawQuery string) bool {
	clean, upper := classify(path)
	if clean {
		matchText(v, path, rawQuery)
		return true
	}
	return walkRewritten(v, path, rawQuery, upper)
}

// walkRewritten is walk for a path that must be rewritten before it is matched; upper says
// that lower-casing it is all it takes.
//
//go:noinline
func walkRewritten(v *visitor, path, rawQuery string, upper bool) bool {
	var buf [stackPathLen]byte
	if upper && len(path) <= stackPathLen {
		// Mixed-case handles ("/SomeUser/status/1") are common: lower-case, nothing else.
		matchText(v, appendLowerASCII(buf[:0], path), rawQuery)
		return true
	}
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
	return true
}

// kindRank orders target kinds from most to least specific.
var kindRank = [...]uint8{TargetPost: 0, TargetAccount: 1, TargetPath: 2, TargetPathPrefix: 3}

// precedes reports whether entry a takes precedence over entry b (see Match).
func (r *Register) precedes(a, b uint32) bool {
	ea, eb := &r.entries[a], &r.entries[b]
	ra, rb := &r.rules[r.terms[ea.terms].rule], &r.rules[r.terms[eb.terms].rule]
	if ra.action != rb.action {
		return ra.action == ActionBlock
	}
	if ra.action == ActionThrottle {
		if ra.rate != rb.rate {
			return ra.rate < rb.rate
		}
		if ra.both != rb.both {
			return ra.both
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

// order materialises entry i. Its strings are copied out of the register, in one allocation:
// the register's own may be outside the Go heap (offheap.go), and freed with it.
func (r *Register) order(i uint32) Order {
	e := &r.entries[i]
	t := &r.terms[e.terms]
	ru := &r.rules[t.rule]
	w := &r.validities[t.validity]
	texts := [...]string{
		r.id(e), r.val(e),
		r.texts.text(t.authority), r.texts.text(t.reference),
		r.texts.text(t.notice), r.texts.text(t.reason),
	}
	n := 0
	for _, s := range texts {
		n += len(s)
	}
	buf := make([]byte, 0, n)
	for i, s := range texts {
		if s != "" {
			buf = append(buf, s...)
			texts[i] = unsafe.String(&buf[len(buf)-len(s)], len(s))
		}
	}
	return Order{
		ID:               texts[0],
		Countries:        ru.codes(),
		Target:           Target{Kind: e.kind, Value: texts[1]},
		Action:           ru.action,
		Rate:             ru.rate,
		ThrottleResponse: ru.both,
		Authority:        texts[2],
		Reference:        texts[3],
		Notice:           texts[4],
		Reason:           texts[5],
		Start:            r.time(w.start, w.startZone),
		End:              r.time(w.end, w.endZone),
		Source:           r.source(e),
	}
}

// orders calls yield with every order, in the order they were loaded, until it returns false.
func (r *Register) orders(yield func(Order) bool) {
	if r == nil {
		return
	}
	defer runtime.KeepAlive(r) // see offheap.go
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
	r.seed = rand.Uint64()
	r.postStrs = newKeyTable(r.mem, n[TargetPost]-numeric)
	r.accounts = newKeyTable(r.mem, n[TargetAccount])
	r.paths = newKeyTable(r.mem, n[TargetPath])
	var prefixes *trieBuild
	if n[TargetPathPrefix] > 0 {
		prefixes = &trieBuild{head: noEntry}
	}
	// Numeric posts, usually most of a register, are indexed alongside the rest; each
	// goroutine writes only the entries of its own kinds.
	var wg sync.WaitGroup
	// Waited for however this returns, a cancelled load unwinding included: a load that
	// fails frees the tables the goroutine reads.
	defer wg.Wait()
	if numeric > 0 {
		goLoad(&wg, func() { r.posts = buildPostIndex(ctx, r.mem, r.entries, r.vals, numeric) })
	} else {
		r.posts = postIndex{zero: noEntry}
	}
	for i := range r.entries {
		pace.step()
		e := &r.entries[i]
		if e.numeric {
			continue
		}
		switch e.kind {
		case TargetPost:
			r.postStrs.insert(r, uint32(i))
		case TargetAccount:
			r.accounts.insert(r, uint32(i))
		case TargetPath:
			r.paths.insert(r, uint32(i))
			r.pathLens.add(int(e.valLen))
		case TargetPathPrefix:
			prefixes.insert(r.val(e), e.valOff, uint32(i), r.entries)
		}
	}
	wg.Wait()
	if prefixes != nil {
		r.prefixes = prefixes.flatten()
	}

	r.stats = RegisterStats{Orders: len(r.entries), ByKind: n, Files: r.files}
	// Orders by terms, and by source and rule for Census (once here: walking a million
	// orders on a status request, or after every load, would hold a processor for tens of
	// milliseconds). Entries come in file order, and neighbours mostly share their rule, so
	// the source-and-rule counts are kept as runs and merged.
	perTerms := make([]int, len(r.terms))
	bySourceRule := make(map[[2]uint32]int)
	run := sourceRule{file: ^uint32(0)}
	for i := range r.entries {
		pace.step()
		e := &r.entries[i]
		perTerms[e.terms]++
		if rule := r.terms[e.terms].rule; uint32(e.file) != run.file || rule != run.rule {
			if run.n > 0 {
				bySourceRule[[2]uint32{run.file, run.rule}] += run.n
			}
			run = sourceRule{file: uint32(e.file), rule: rule}
		}
		run.n++
	}
	if run.n > 0 {
		bySourceRule[[2]uint32{run.file, run.rule}] += run.n
	}
	for k, n := range bySourceRule {
		r.census = append(r.census, sourceRule{file: k[0], rule: k[1], n: n})
	}
	windows := make(map[window]int)
	for ti, n := range perTerms {
		if n == 0 {
			continue // the terms of a row that was not added
		}
		t := &r.terms[ti]
		ru := &r.rules[t.rule]
		r.countries.union(&ru.countries)
		r.anywhere = r.anywhere || ru.anywhere
		switch ru.action {
		case ActionBlock:
			r.stats.Blocks += n
		case ActionThrottle:
			r.stats.Throttles += n
		}
		if t.validity != 0 {
			r.timed = true
			windows[window{r.validities[t.validity], ru.action}] += n
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

// String summarises the register for logs.
func (s RegisterStats) String() string {
	return fmt.Sprintf("%d orders (%d block, %d throttle) in %d countries from %s",
		s.Orders, s.Blocks, s.Throttles, len(s.Countries), strings.Join(s.Files, ", "))
}
