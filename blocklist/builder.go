package blocklist

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/georestrict/caddy-georestrict/internal/iso3166"
	"github.com/georestrict/caddy-georestrict/internal/offheap"
	"golang.org/x/net/idna"
)

// The fields of an order, in every format.
const (
	fieldID = iota
	fieldCountries
	fieldTarget
	fieldAction
	fieldAuthority
	fieldReference
	fieldNotice
	fieldReason
	fieldStart
	fieldEnd
	numFields
)

var fieldNames = [numFields]string{"id", "countries", "target", "action", "authority", "reference", "notice", "reason", "start", "end"}

// fieldIndex returns the field a column or JSON key names, in any case (as encoding/json
// matches keys), or -1.
func fieldIndex(name string) int {
	// Registers spell their keys as the fields are named, once per order.
	for i, n := range fieldNames {
		if n == name {
			return i
		}
	}
	for i, n := range fieldNames {
		if strings.EqualFold(n, name) {
			return i
		}
	}
	return -1
}

const (
	maxIDLen     = 256
	maxTargetLen = 4096
	maxTextLen   = 4096

	// maxSkippedIDs bounds the ids of orders skipped for a foreign host that are kept for
	// the load log: enough to find the pattern, not a second copy of a regulator's dump.
	maxSkippedIDs = 20
)

// row is one order as read from a file, before validation: the text of each field, not yet
// trimmed (rows that repeat a decision are recognised before any work is done on them).
type row struct {
	val   [numFields]string
	line  [numFields]int // CSV: line of each field, since quoted fields may span lines
	start int            // line where the row or object starts
	index int            // JSON array element, or -1
	// broken is set when the reader already reported a problem with the row: it is still
	// validated, for the report, but never added.
	broken bool
	// reported marks fields the reader already found fault with (a JSON number where text
	// belongs), so that "required field is empty" does not follow.
	reported [numFields]bool
}

type instant struct {
	sec  int64
	nsec int32
}

func (i instant) before(j instant) bool { return i.sec < j.sec || i.sec == j.sec && i.nsec < j.nsec }

func instantOf(t time.Time) instant { return instant{t.Unix(), int32(t.Nanosecond())} }

// position is where an order was read: file index and line.
type position struct {
	file uint16
	line uint32
}

// site is what reading a target needs to know of the site.
type site struct {
	patterns *Patterns
	hosts    map[string]bool
}

// builder validates orders from any number of files into the register's compact form. It
// keeps going after errors so that all of them are reported, but a builder with errors
// never produces a register.
//
// A row is validated (rowValidator.check, which may run on several goroutines at once),
// then committed in reading order (commit). What rows share is interned as it is committed:
// rules, windows and texts each once, terms once per distinct combination that the caches
// below notice.
type builder struct {
	site
	ctx  context.Context
	errs errorList
	// mem holds the register's tables as they are built (offheap.go), and the tables
	// only the load needs; a load that fails frees it.
	mem *offheap.Pool

	files     []string
	fileIndex map[string]uint16
	skipped   int
	entries   []entry
	numeric   int // entries of numeric posts
	// The arenas' chunks, which the validators fill (see arena.go); idArena is the ids'
	// once they are all filled.
	ids, vals, texts chunkTable
	idArena          arena

	terms      []terms
	rules      []rule
	ruleIndex  map[rule]uint32
	lastRule   uint32
	validities []validity
	validIndex map[validity]uint32
	zones      []*time.Location
	zoneIndex  map[zoneKey]uint16
	// A direct-mapped cache (hash -> index) of terms: the terms of a decision that many
	// rows repeat are kept once, and a register whose every order has its own decision
	// does not pay for a table of them all. The validators cache texts likewise.
	termsSeen []uint64

	seed maphash.Seed
	// seq validates the rows that are read one at a time (JSON, regulators' registers);
	// seqTerms maps its decisions to terms.
	seq      *rowValidator
	seqTerms []uint32

	// Ids are checked for duplicates once everything is read, by sorting their 64-bit hashes:
	// a map of millions of ids would cost a string each and a cache miss per row. Ids are
	// compared in full only where hashes meet.
	idHashes []idHash
	others   []otherID // ids of rows that are not entries (bad, or skipped)

	rowErrs []*Error // the problems of the row being committed
	pace    pacer    // for the goroutine that commits rows

	skippedIDs []string // ids of the first maxSkippedIDs rows skipped for a foreign host

	// Regulators' registers (see regulator.go).
	lenient      bool   // the rows come from a regulator's register: a bad one is skipped
	group        string // the id the rows of the entry being read share
	groupHashed  bool   // that id is already in idHashes
	groupTargets []Target
	skips        []Skip
	unenforced   map[string]int
	headers      []Header
}

// The text fields of terms.
const (
	textAuthority = iota
	textReference
	textNotice
	textReason
	numTextFields
)

const termsSeenSize = 1 << 14

// tooLarge stands for terms that did not fit: the rows that use them are refused.
const tooLarge = noEntry

type zoneKey struct {
	kind   uint8 // 0 UTC, 1 Local, 2 a fixed offset
	name   string
	offset int
}

type otherID struct {
	id  string
	pos position
}

// idHash is one id: ref is an entry index, or otherFlag|index in others. idHashes are kept
// in reading order, which entries and others do not share.
type idHash struct {
	h   uint64
	ref uint32
}

const otherFlag = 1 << 31

func newBuilder(ctx context.Context, opts Options, sizeHint int) (*builder, error) {
	b := &builder{
		mem:        newPool(),
		ctx:        ctx,
		pace:       pacer{ctx: ctx},
		site:       site{patterns: opts.Patterns},
		seed:       maphash.MakeSeed(),
		ruleIndex:  make(map[rule]uint32),
		validities: []validity{{}},
		validIndex: make(map[validity]uint32),
		zoneIndex:  make(map[zoneKey]uint16),
		termsSeen:  make([]uint64, termsSeenSize),

		fileIndex: make(map[string]uint16),

		unenforced: make(map[string]int),
	}
	b.texts.reserve()
	b.texts.put(0, "\x00") // reference 0: the empty text
	if b.patterns == nil {
		b.patterns = DefaultPatterns()
	}
	if len(opts.Hosts) > 0 {
		b.hosts = make(map[string]bool, len(opts.Hosts))
		for _, h := range opts.Hosts {
			n, err := normalizeHost(h)
			if err != nil {
				return nil, err
			}
			b.hosts[n] = true
		}
	}
	if sizeHint > 0 {
		b.entries = offheap.MakeIn[entry](b.mem, sizeHint)[:0]
		b.idHashes = offheap.MakeIn[idHash](b.mem, sizeHint)[:0]
	}
	b.seq = b.newValidator()
	return b, nil
}

// newPool makes the pool a register is built in; tests watch what becomes of it.
var newPool = func() *offheap.Pool { return new(offheap.Pool) }

// normalizeHost turns a configured host into the form URL hosts are compared in: lower-case,
// without port or trailing dot. Hosts are compared exactly, never as substrings, so "t.co"
// does not cover "microsoft.com" or "evilt.co".
func normalizeHost(h string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(h))
	// Checked before the port is split off: "https://x" would otherwise be the host "https"
	// with the port "//x".
	if s == "" || strings.ContainsAny(s, "/?#@ *\\") || !utf8.ValidString(s) {
		return "", fmt.Errorf("hosts: invalid host %q (want a host name alone, such as microblog.example)", h)
	}
	if host, port, err := net.SplitHostPort(s); err == nil {
		if !isDigits(port) {
			return "", fmt.Errorf("hosts: invalid host %q (want a host name alone, such as microblog.example)", h)
		}
		s = host
	}
	s = normalizeURLHost(strings.Trim(s, "[]"))
	if s == "" {
		return "", fmt.Errorf("hosts: invalid host %q (want a host name alone, such as microblog.example)", h)
	}
	return s, nil
}

func (b *builder) addFile(name string) (uint16, error) {
	if len(b.files) >= math.MaxUint16 {
		return 0, &Error{Index: -1, Err: errors.New("too many sources")}
	}
	b.files = append(b.files, name)
	fi := uint16(len(b.files) - 1)
	b.fileIndex[name] = fi
	return fi, nil
}

// full reports whether the entries could overflow the references of idHash.
func (b *builder) full() bool { return len(b.entries) >= otherFlag-1 }

func (b *builder) where(p position) string {
	if p.line == 0 {
		return b.files[p.file]
	}
	return fmt.Sprintf("%s:%d", b.files[p.file], p.line)
}

var errRequired = errors.New("required field is empty")

// addRow validates one row from file and, if it is good, adds it.
func (b *builder) addRow(file uint16, r *row) {
	b.pace.step()
	var c checkedRow
	b.seq.source = b.files[file]
	b.seq.check(r, &c)
	b.seqTerms = b.internDecisions(b.seqTerms, b.seq.take())
	b.commit(file, &c, b.seqTerms)
}

// commit adds a checked row, or reports its problems; decided maps the decisions of the
// validator that checked it to terms.
func (b *builder) commit(file uint16, c *checkedRow, decided []uint32) {
	if c.recordErr != nil {
		b.fileError(file, int(c.line), c.recordErr)
		return
	}
	b.rowErrs = append(b.rowErrs, c.errs...)
	defer b.flushRowErrors()
	ti := noEntry
	if c.dec != noDecision {
		ti = decided[c.dec]
	}
	if b.full() || c.tooLarge || c.dec != noDecision && ti == tooLarge {
		if !c.idReported {
			b.rowErrs = append(b.rowErrs, &Error{Source: b.files[file], Line: int(c.idLine), Index: int(c.index), Field: "id", Err: errors.New("register too large")})
		}
		return
	}
	id := c.id
	if id == "" {
		return
	}
	pos := position{file, c.line}
	if c.broken || c.dec == noDecision || len(b.rowErrs) > 0 || c.skip {
		if c.skip && c.dec != noDecision && len(b.rowErrs) == 0 && !c.broken {
			b.skipped++
			if len(b.skippedIDs) < maxSkippedIDs && !b.lenient {
				b.skippedIDs = append(b.skippedIDs, strings.Clone(id))
			}
		}
		if b.groupHash(id) {
			b.rememberOther(c.h, id, pos)
		}
		return
	}
	if b.group != "" {
		// Two URLs of one entry may name one target (http and https, say).
		t := Target{c.kind, c.value}
		if slices.Contains(b.groupTargets, t) {
			return
		}
		b.groupTargets = append(b.groupTargets, Target{c.kind, strings.Clone(c.value)})
	}
	b.addEntry(c, ti, pos)
}

// flushRowErrors reports a row's problems in the order of the fields, whichever check
// found them first.
func (b *builder) flushRowErrors() {
	slices.SortStableFunc(b.rowErrs, func(x, y *Error) int { return fieldIndex(x.Field) - fieldIndex(y.Field) })
	if b.lenient && len(b.rowErrs) > 0 {
		// A regulator's entry that cannot become an order: the first problem says why.
		e := b.rowErrs[0]
		b.skip(UnenforcedInvalid, e.Source, e.Line, b.group, e.Field+": "+e.Err.Error())
		b.rowErrs = b.rowErrs[:0]
		return
	}
	for _, e := range b.rowErrs {
		b.errs.add(e)
	}
	b.rowErrs = b.rowErrs[:0]
}

// groupHash says whether an id read now goes into the duplicate check: every id does, but
// the orders of one regulator's entry share its id, which goes in once.
func (b *builder) groupHash(id string) bool {
	if b.group == "" || id != b.group {
		return true
	}
	if b.groupHashed {
		return false
	}
	b.groupHashed = true
	return true
}

func (b *builder) rememberOther(h uint64, id string, pos position) {
	b.others = append(b.others, otherID{strings.Clone(id), pos})
	b.idHashes = append(offheap.Grow(b.mem, b.idHashes, 1), idHash{h, otherFlag | uint32(len(b.others)-1)})
}

func (b *builder) refID(ref uint32) (string, position) {
	if ref&otherFlag != 0 {
		o := &b.others[ref&^otherFlag]
		return o.id, o.pos
	}
	e := &b.entries[ref]
	return b.idArena.get(e.idOff, e.idLen), position{e.file, e.line}
}

// checkDuplicates reports every id that was read more than once, at each later occurrence,
// naming the first, in file and line order. It is linear in the number of ids, however many
// times one is repeated.
//
// The ids' hashes are partitioned by their top bits, keeping reading order, and each
// partition is checked with a map small enough to stay in the cache: one map of a million
// hashes would miss it on nearly every id.
func (b *builder) checkDuplicates() {
	pace := pacer{ctx: b.ctx}
	hs, bounds := partitionIDHashes(b.mem, b.idHashes, &pace)
	offheap.Release(b.mem, b.idHashes)
	b.idHashes = nil
	defer offheap.Release(b.mem, hs)
	type dup struct {
		at, first position
		ref       uint32
	}
	var dups []dup
	first := make(map[uint64]uint32, 2*len(hs)/len(bounds)) // hash -> ref of its first id
	// Different ids with the same 64-bit hash are told apart by their text: the first
	// occurrence of each id that was not the first of its hash.
	var collided map[string]position
	lo := 0
	for _, hi := range bounds {
		clear(first)
		for i := lo; i < hi; i++ {
			pace.step()
			x := hs[i]
			f, seen := first[x.h]
			if !seen {
				first[x.h] = x.ref
				continue
			}
			id, at := b.refID(x.ref)
			firstID, firstPos := b.refID(f)
			if id == firstID {
				dups = append(dups, dup{at, firstPos, x.ref})
				continue
			}
			if p, ok := collided[id]; ok {
				dups = append(dups, dup{at, p, x.ref})
				continue
			}
			if collided == nil {
				collided = make(map[string]position)
			}
			collided[id] = at
		}
		lo = hi
	}
	slices.SortStableFunc(dups, func(x, y dup) int {
		if x.at.file != y.at.file {
			return int(x.at.file) - int(y.at.file)
		}
		return cmpUint64(uint64(x.at.line), uint64(y.at.line))
	})
	for _, d := range dups {
		if !b.errs.room() {
			b.errs.more++ // counted, not spelled out
			continue
		}
		id, _ := b.refID(d.ref)
		b.errs.add(&Error{Source: b.files[d.at.file], Line: int(d.at.line), Index: -1, Field: "id",
			Err: fmt.Errorf("duplicate id %q (also at %s)", id, b.where(d.first))})
	}
}

// partitionIDHashes groups hs by the top bits of their hashes, keeping reading order within
// each group. It returns the groups in one slice and where each ends.
func partitionIDHashes(mem *offheap.Pool, hs []idHash, pace *pacer) ([]idHash, []int) {
	const bits = 8
	var count [1<<bits + 1]int
	for i := range hs {
		pace.step()
		count[hs[i].h>>(64-bits)+1]++
	}
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1]
	}
	bounds := make([]int, 1<<bits)
	copy(bounds, count[1:])
	out := offheap.MakeIn[idHash](mem, len(hs))
	for i := range hs {
		pace.step()
		p := hs[i].h >> (64 - bits)
		out[count[p]] = hs[i]
		count[p]++
	}
	return out, bounds
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// addEntry adds a good order, whose id and value its validator copied into the arenas.
func (b *builder) addEntry(c *checkedRow, ti uint32, pos position) {
	// Registers are sized from their file before they are read; when that fell short,
	// they grow by doubling.
	b.entries = append(offheap.Grow(b.mem, b.entries, 1), entry{
		idOff: c.idRef, idLen: uint16(len(c.id)),
		valOff: c.valRef, valLen: uint16(len(c.value)),
		terms: ti, next: noEntry,
		file: pos.file, line: pos.line,
		kind: c.kind, numeric: c.numeric,
	})
	if c.numeric {
		b.numeric++
	}
	if b.groupHash(c.id) {
		b.idHashes = append(offheap.Grow(b.mem, b.idHashes, 1), idHash{c.h, uint32(len(b.entries) - 1)})
	}
}

func checkID(id string) error {
	switch {
	case id == "":
		return errRequired
	case len(id) > maxIDLen:
		return fmt.Errorf("longer than %d bytes", maxIDLen)
	}
	return checkText(id, false)
}

// checkText refuses what would garble logs and headers: invalid UTF-8 (a file saved as
// windows-1251, say) and control characters. multiline allows the line breaks and tabs a
// reason typed into a spreadsheet cell may have.
func checkText(s string, multiline bool) error {
	if len(s) > maxTextLen {
		return fmt.Errorf("longer than %d bytes", maxTextLen)
	}
	for i := 0; i < len(s); {
		// Most text is printable ASCII: eight bytes of it are passed over at once.
		if i+8 <= len(s) && printableASCII(le64(s[i:])) {
			i += 8
			continue
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			return checkUnicodeText(s, multiline)
		}
		if c < 0x20 && !(multiline && (c == '\n' || c == '\r' || c == '\t')) || c == 0x7f {
			return fmt.Errorf("control character %U not allowed", c)
		}
		i++
	}
	return nil
}

// checkUnicodeText is checkText for text that is not all ASCII, in one pass that validates
// UTF-8 as utf8.ValidString does and finds the control characters unicode.IsControl finds:
// C0, DEL and C1 (U+0080 to U+009F, which UTF-8 writes as 0xC2 0x80 to 0xC2 0x9F). Text
// that is not UTF-8 is reported as such wherever its first control character is.
func checkUnicodeText(s string, multiline bool) error {
	var control error
	n := len(s)
	for i := 0; i < n; {
		c := s[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && !(multiline && (c == '\n' || c == '\r' || c == '\t')) || c == 0x7f) && control == nil {
				control = fmt.Errorf("control character %U not allowed", rune(c))
			}
			i++
			continue
		}
		lo, hi := byte(0x80), byte(0xbf) // the range of the second byte
		size := 0
		switch {
		case c < 0xc2:
			return errNotUTF8
		case c < 0xe0:
			size = 2
		case c < 0xf0:
			size = 3
			if c == 0xe0 {
				lo = 0xa0
			} else if c == 0xed {
				hi = 0x9f
			}
		case c < 0xf5:
			size = 4
			if c == 0xf0 {
				lo = 0x90
			} else if c == 0xf4 {
				hi = 0x8f
			}
		default:
			return errNotUTF8
		}
		if i+size > n || s[i+1] < lo || s[i+1] > hi {
			return errNotUTF8
		}
		for k := 2; k < size; k++ {
			if s[i+k] < 0x80 || s[i+k] > 0xbf {
				return errNotUTF8
			}
		}
		if c == 0xc2 && s[i+1] < 0xa0 && control == nil {
			control = fmt.Errorf("control character %U not allowed", rune(s[i+1]))
		}
		i += size
	}
	return control
}

// trimField trims the white space people leave around cells: ASCII, and the Unicode spaces
// (a no-break space, say) that pasting from web pages brings, without paying for a Unicode
// lookup on every Cyrillic value.
func trimField(s string) string {
	for len(s) > 0 && asciiSpace[s[0]] {
		s = s[1:]
	}
	for len(s) > 0 && asciiSpace[s[len(s)-1]] {
		s = s[:len(s)-1]
	}
	if len(s) == 0 || s[0] < utf8.RuneSelf && s[len(s)-1] < utf8.RuneSelf {
		return s
	}
	r0, _ := utf8.DecodeRuneInString(s)
	r1, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(r0) || unicode.IsSpace(r1) {
		return strings.TrimSpace(s)
	}
	return s
}

var asciiSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true, '\v': true, '\f': true}

// internDecisions interns decisions, appending their terms to decided.
func (b *builder) internDecisions(decided []uint32, ds []decision) []uint32 {
	decided = grow(decided, len(ds))
	for i := range ds {
		decided = append(decided, b.intern(&ds[i]))
	}
	return decided
}

// grow makes room for n more elements, doubling: append grows a large slice by a quarter,
// which for the millions of decisions of a register whose every order has its own would
// copy them over and over. (The register's own tables grow in its pool: offheap.Grow.)
func grow[S ~[]E, E any](s S, n int) S {
	if len(s)+n <= cap(s) {
		return s
	}
	return slices.Grow(s, max(n, len(s)))
}

// intern returns the terms of a decision, adding what is new of it, or tooLarge.
func (b *builder) intern(d *decision) uint32 {
	if d.tooLarge {
		return tooLarge
	}
	t := terms{rule: b.internRule(&d.rule), validity: b.internValidity(d.start, d.end),
		authority: d.texts[textAuthority], reference: d.texts[textReference],
		notice: d.texts[textNotice], reason: d.texts[textReason]}
	h := t.hash()
	slot := &b.termsSeen[h&(termsSeenSize-1)]
	if *slot != 0 && *slot>>32 == h>>32 && b.terms[uint32(*slot)-1] == t {
		return uint32(*slot) - 1
	}
	ti := uint32(len(b.terms))
	b.terms = append(offheap.Grow(b.mem, b.terms, 1), t)
	*slot = h>>32<<32 | uint64(ti+1)
	return ti
}

func (t *terms) hash() uint64 {
	const m = 0x9e3779b97f4a7c15
	h := (uint64(t.rule)<<32 | uint64(t.validity)) * m
	h = (h ^ (uint64(t.authority)<<32 | uint64(t.reference))) * m
	h = (h ^ (uint64(t.notice)<<32 | uint64(t.reason))) * m
	return h ^ h>>29
}

func (b *builder) internRule(ru *rule) uint32 {
	if n := len(b.rules); n > 0 && b.rules[b.lastRule] == *ru {
		return b.lastRule // rows of one rule often come together
	}
	i, ok := b.ruleIndex[*ru]
	if !ok {
		i = uint32(len(b.rules))
		b.rules = append(b.rules, *ru)
		b.ruleIndex[*ru] = i
	}
	b.lastRule = i
	return i
}

// internValidity returns the validity from start until end; 0 when both are zero.
func (b *builder) internValidity(start, end time.Time) uint32 {
	if start.IsZero() && end.IsZero() {
		return 0
	}
	var w validity
	if !start.IsZero() {
		w.start, w.startZone = instantOf(start), b.internZone(start)
	}
	if !end.IsZero() {
		w.end, w.endZone = instantOf(end), b.internZone(end)
	}
	if i, ok := b.validIndex[w]; ok {
		return i
	}
	i := uint32(len(b.validities))
	b.validities = append(b.validities, w)
	b.validIndex[w] = i
	return i
}

// internZone returns one plus the index of t's zone in b.zones. Times are parsed from RFC
// 3339, so a zone is UTC, Local (when the offset is the local one) or a fixed offset.
func (b *builder) internZone(t time.Time) uint16 {
	var k zoneKey
	switch loc := t.Location(); loc {
	case time.UTC:
	case time.Local:
		k.kind = 1
	default:
		k.kind = 2
		k.name, k.offset = t.Zone()
	}
	if z, ok := b.zoneIndex[k]; ok {
		return z
	}
	var loc *time.Location
	switch k.kind {
	case 0:
		loc = time.UTC
	case 1:
		loc = time.Local
	default:
		if len(b.zones) >= math.MaxUint16-1 { // cannot happen with RFC 3339 offsets
			return b.internZone(t.UTC())
		}
		loc = time.FixedZone(k.name, k.offset)
	}
	b.zones = append(b.zones, loc)
	z := uint16(len(b.zones))
	b.zoneIndex[k] = z
	return z
}

// parseCountries reads country codes a register may name (see registrable) separated by spaces,
// "|" or commas, in either case, or "*" for everywhere.
func parseCountries(s string) (set countrySet, anywhere bool, codes []string, err error) {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '|' || r == ',' || r == '\t' })
	if len(f) == 0 {
		return set, false, nil, errRequired
	}
	for _, c := range f {
		if c == "*" {
			anywhere = true
			continue
		}
		i := iso3166.Index(c)
		if !registrable.has(i) {
			return set, false, nil, unknownCountry(c)
		}
		set.add(i)
	}
	if anywhere {
		if len(f) > 1 && set != (countrySet{}) {
			return countrySet{}, false, nil, errors.New(`"*" cannot be combined with country codes`)
		}
		return countrySet{}, true, []string{"*"}, nil
	}
	for i := range iso3166.Size {
		if set.has(i) {
			codes = append(codes, iso3166.Code(i))
		}
	}
	return set, false, codes, nil
}

func unknownCountry(c string) error {
	hint := ""
	switch strings.ToUpper(c) {
	case "UK":
		hint = " (the United Kingdom is GB)"
	case "EU":
		hint = " (list the member states)"
	case "AN":
		hint = " (the Netherlands Antilles were dissolved: name CW, SX or BQ)"
	}
	return fmt.Errorf("unknown country code %q%s", c, hint)
}

func checkNotice(s string) error {
	if err := checkText(s, false); err != nil {
		return err
	}
	if _, _, ok := plainURL(s); ok {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("bad URL %q", s)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(s, " \\") {
		return fmt.Errorf("bad URL %q: want an absolute http(s) URL", s)
	}
	return nil
}

// parseTime reads RFC 3339 or a date (YYYY-MM-DD, midnight UTC).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	layout := time.RFC3339
	if len(s) == len(time.DateOnly) {
		layout = time.DateOnly
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad date %q: want RFC 3339 (2024-05-27T00:00:00+03:00) or YYYY-MM-DD", s)
	}
	return t, nil
}

// parseTarget reads a target. skip reports a URL whose host is not one of the site's.
func (b *site) parseTarget(s string) (kind TargetKind, value string, skip bool, err error) {
	switch {
	case s == "":
		return 0, "", false, errRequired
	case len(s) > maxTargetLen:
		return 0, "", false, fmt.Errorf("longer than %d bytes", maxTargetLen)
	case hasPrefixFold(s, "post:"):
		value, err = postValue(s[len("post:"):])
		return TargetPost, value, false, err
	case hasPrefixFold(s, "account:"):
		value, err = b.accountValue(s[len("account:"):])
		return TargetAccount, value, false, err
	case s[0] == '@':
		value, err = b.accountValue(s)
		return TargetAccount, value, false, err
	case hasPrefixFold(s, "path:"):
		kind, value, err = pathValue(s[len("path:"):])
		return kind, value, false, err
	case hasPrefixFold(s, "http://") || hasPrefixFold(s, "https://"):
		return b.urlTarget(s)
	}
	return 0, "", false, fmt.Errorf("malformed target %q: want post:<id>, account:<handle>, @handle, path:/..., path:/prefix* or an http(s) URL", s)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// plainSegment returns s in canonical form if it is one path segment that reading a path
// would not change other than by folding (case, compatibility forms, marks, digits); anything
// else (/, %, ;, backslashes, spaces around it, dot segments, controls) would make the order
// match something other than what it says.
func plainSegment(what, s string) (string, error) {
	s = trimField(s)
	if s == "" {
		return "", fmt.Errorf("empty %s", what)
	}
	plain, upper := true, false
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		upper = upper || 'A' <= c && c <= 'Z'
		plain = c != '/' && byteClass[c] != dirtyByte
	}
	switch {
	case plain && !upper:
		return s, nil
	case plain:
		return strings.ToLower(s), nil
	}
	c, ok := canonicalPath("/" + s)
	if !ok || c == "/" || strings.ContainsAny(s, "/%;\\") || strings.Contains(c[1:], "/") || !utf8.ValidString(s) {
		return "", fmt.Errorf("%s %q must be a plain path segment (no /, %%, ;, spaces or dot segments)", what, s)
	}
	return c[1:], nil
}

func postValue(s string) (string, error) {
	c, err := plainSegment("post id", s)
	if err != nil {
		return "", err
	}
	return postTargetValue(c), nil
}

// accountValue strips leading "@"s: requests are matched the same way, so "@@x" is "x". A
// reserved route name is not an account: an order on it would withhold the route.
func (b *site) accountValue(s string) (string, error) {
	v, err := plainSegment("account", strings.TrimLeft(trimField(s), "@"))
	if err == nil && b.patterns.isReserved(v) {
		return "", fmt.Errorf("%q is a reserved route, not an account (write path:/%s if that route is meant)", v, v)
	}
	return v, err
}

// pathValue reads "path:" targets: an exact path, or with a trailing "*" a prefix.
//
// A prefix is a plain string prefix of the canonical path, as users write it:
// "path:/media/upload*" covers /media/upload, /media/uploads and /media/upload/x. Write
// "path:/media/upload/*" to stop at the segment boundary; that form also covers
// /media/upload itself.
func pathValue(s string) (TargetKind, string, error) {
	s = trimField(s)
	kind := TargetPath
	if p, ok := strings.CutSuffix(s, "*"); ok {
		kind, s = TargetPathPrefix, p
	}
	switch {
	case !strings.HasPrefix(s, "/"):
		return 0, "", fmt.Errorf("path %q must start with /", s)
	case strings.Contains(s, "*"):
		return 0, "", fmt.Errorf(`path %q: "*" is only allowed at the end`, s)
	case strings.ContainsAny(s, "?#"):
		return 0, "", fmt.Errorf("path %q: a path target cannot have a query or fragment", s)
	case !utf8.ValidString(s):
		return 0, "", fmt.Errorf("path %q is not valid UTF-8", s)
	case kind == TargetPathPrefix && (strings.HasSuffix(s, "%") || len(s) >= 2 && s[len(s)-2] == '%'):
		return 0, "", fmt.Errorf("path prefix %q ends inside a percent-escape", s)
	}
	c, ok := canonicalPath(s)
	if !ok {
		return 0, "", fmt.Errorf("path %q holds a control character or an escape that only folding completes", s)
	}
	if kind == TargetPathPrefix && c != "/" && (strings.HasSuffix(s, "/") || strings.HasSuffix(s, `\`)) {
		c += "/"
	}
	return kind, c, nil
}

// urlTarget resolves a URL through the patterns: a post if any template finds one, an
// account if a template covers the whole path and its name is not reserved, else the exact
// path. A hash-bang ("#!/someuser/status/1") or client-side route ("#/...") on an empty
// path is resolved as the path it names; any other fragment is refused, since the order
// would otherwise cover the page without it.
//
// The host is checked first, with a lenient split of the URL, so that a malformed URL of
// another site (real registers have unencoded spaces) is skipped like any other rather than
// refusing the register.
func (b *site) urlTarget(s string) (kind TargetKind, value string, skip bool, err error) {
	if b.hosts != nil && !b.hosts[urlHost(s)] {
		return 0, "", true, nil
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return 0, "", false, fmt.Errorf("bad URL %q: write spaces as %%20", s)
	}
	escaped, rawQuery, plain := plainURL(s)
	if !plain {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || !utf8.ValidString(s) || strings.Contains(s, "\\") {
			return 0, "", false, fmt.Errorf("bad URL %q", s)
		}
		if host := strings.TrimSuffix(strings.ToLower(u.Hostname()), "."); host != urlHost(s) {
			return 0, "", false, fmt.Errorf("bad URL %q: its host is ambiguous", s)
		}
		if u.Fragment != "" {
			if u, err = fragmentRoute(s, u); err != nil {
				return 0, "", false, err
			}
		}
		escaped, rawQuery = u.EscapedPath(), u.RawQuery
	}
	path, err := urlPath(escaped)
	if err != nil {
		return 0, "", false, fmt.Errorf("bad URL %q: %w", s, err)
	}
	v := visitor{}
	var segs segments
	splitText(&segs, path, b.patterns.maxSegs)
	walkKeys(b.patterns, &v, path, &segs, rawQuery)
	reserved := v.hasAccount && b.patterns.isReserved(v.account)
	switch {
	case v.hasPost:
		return TargetPost, v.post, false, checkKey(s, "post id", v.post)
	case v.hasAccount && !reserved:
		return TargetAccount, v.account, false, checkKey(s, "account", v.account)
	case reserved && rawQuery != "":
		return 0, "", false, fmt.Errorf("URL %q: %q is a reserved route, not an account, and a path target cannot keep its query; write path:%s if all of it is meant", s, v.account, path)
	case rawQuery != "":
		// Dropping the query would withhold every page at this path ("/search?q=x" would
		// become all of /search).
		return 0, "", false, fmt.Errorf("URL %q names no post or account by the patterns, and a path target cannot keep its query; write path:%s if all of it is meant", s, path)
	}
	return TargetPath, path, false, nil
}

// fragmentRoute returns the URL that a hash-bang ("#!/route") or client-side route
// ("#/route") names, with the route's own query. Such a fragment stands for the path only
// when the URL has none of its own; every other fragment is refused, because an order on the
// URL without it would cover more than the register says.
func fragmentRoute(s string, u *url.URL) (*url.URL, error) {
	_, frag, _ := strings.Cut(s, "#") // as written: url.URL would escape a second "#"
	route, _ := strings.CutPrefix(frag, "!")
	switch {
	case !strings.HasPrefix(route, "/"):
		return nil, fmt.Errorf("URL %q has a fragment (#%s), which browsers do not send: an order on it would cover the page without it; remove the fragment if all of that page is meant", s, frag)
	case u.EscapedPath() != "" && u.EscapedPath() != "/" || u.RawQuery != "" || u.ForceQuery:
		return nil, fmt.Errorf("URL %q has both a path and a route in its fragment (#%s): write the URL of the one that is meant", s, frag)
	case strings.HasPrefix(route, "//"):
		return nil, fmt.Errorf("URL %q: the route in its fragment (#%s) starts with //", s, frag)
	}
	r, err := url.Parse(route)
	if err != nil || strings.Contains(route, "#") || r.Host != "" || r.Scheme != "" {
		return nil, fmt.Errorf("URL %q: bad route in its fragment (#%s)", s, frag)
	}
	resolved := *u
	resolved.Path, resolved.RawPath = r.Path, r.RawPath
	resolved.RawQuery, resolved.ForceQuery = r.RawQuery, r.ForceQuery
	resolved.Fragment, resolved.RawFragment = "", ""
	return &resolved, nil
}

// plainURL reads the most common URL, lower-case http or https, an ASCII host name without
// port or user, a path of unreserved and sub-delimiter characters and valid escapes, any
// printable query, and no fragment, without url.Parse and its allocations. It returns the
// path and query as url.Parse would (EscapedPath and RawQuery), and false for anything else,
// which url.Parse then reads. (A property test holds the two to agreeing.)
func plainURL(s string) (escapedPath, rawQuery string, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(s, "https://"):
		rest = s[len("https://"):]
	case strings.HasPrefix(s, "http://"):
		rest = s[len("http://"):]
	default:
		return "", "", false
	}
	i := 0
	for i < len(rest) && urlBytes[rest[i]]&urlHostByte != 0 {
		i++
	}
	if i == 0 {
		return "", "", false
	}
	rest = rest[i:]
	if rest != "" && rest[0] != '/' && rest[0] != '?' {
		return "", "", false // a port, user info, a fragment, ...
	}
	path, query, hasQuery := strings.Cut(rest, "?")
	if !plainURLPart(path, urlPathByte) || hasQuery && !plainURLPart(query, urlQueryByte) {
		return "", "", false
	}
	return path, query, true
}

func plainURLPart(s string, class uint8) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			if i+2 >= len(s) || unhex(s[i+1]) > 15 || unhex(s[i+2]) > 15 {
				return false
			}
			i += 2
		case urlBytes[c]&class == 0:
			return false
		}
	}
	return true
}

const (
	urlHostByte = 1 << iota
	urlPathByte
	urlQueryByte
)

var urlBytes = func() (t [256]uint8) {
	for c := range 256 {
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if alnum || c == '-' || c == '.' {
			t[c] |= urlHostByte
		}
		if alnum || strings.IndexByte("-._~!$&'()*+,;=:@/", byte(c)) >= 0 {
			t[c] |= urlPathByte
		}
		if 0x21 <= c && c < 0x7f && c != '#' && c != '\\' && c != '%' {
			t[c] |= urlQueryByte
		}
	}
	return t
}()

// urlHost extracts the host of an http(s) URL as browsers do, lower-cased, without userinfo,
// port or trailing dot. A backslash ends the authority, as it does for browsers, so
// "https://evil.example\\@t.co/" is on evil.example.
// normalizeURLHost brings a host into the form hosts compare in: lower-case, without a
// trailing dot, and an internationalised name in its ASCII (punycode) form, so that a register
// may write either.
func normalizeURLHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	for i := 0; i < len(h); i++ {
		if h[i] >= utf8.RuneSelf {
			if a, err := idna.Lookup.ToASCII(h); err == nil {
				return a
			}
			return h
		}
	}
	return h
}

func urlHost(s string) string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#\\"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if strings.HasPrefix(rest, "[") {
		if i := strings.IndexByte(rest, ']'); i >= 0 {
			rest = rest[1:i]
		}
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	return normalizeURLHost(rest)
}

// urlPath reads the path of a URL target: it must have exactly one reading, since an order
// says one thing.
func urlPath(escaped string) (string, error) {
	if clean, upper := classify(escaped); clean || upper {
		return strings.ToLower(escaped), nil
	}
	t, res := appendReading(nil, escaped)
	switch res {
	case readAmbiguous:
		return "", errors.New("its path is ambiguous (an empty segment, an encoded slash or a backslash): write it as the site shows it")
	case readRefused:
		return "", errors.New("its path has a dot segment, a control character or a broken escape: write it as the site shows it")
	}
	return string(t), nil
}

// checkKey refuses keys found in a URL that an explicit target could not spell.
func checkKey(url, what, key string) error {
	if !utf8.ValidString(key) || strings.ContainsAny(key, "%/") {
		return fmt.Errorf("URL %q: %s %q is not a plain path segment", url, what, key)
	}
	return nil
}
