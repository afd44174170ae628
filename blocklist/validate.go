package blocklist

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"strings"
	"time"
)

// checkedRow is a row once validated: what commit needs to add it, or its problems. Its
// strings are the row's own text (or derived from it), which lasts until the row is
// committed; what the register keeps of a good row, the validator has already copied into
// the arenas (idRef, valRef).
type checkedRow struct {
	id, value     string // id is empty when it is missing or too long
	idRef, valRef uint32 // in the arenas, where the row is good
	h             uint64 // hash of id
	errs          []*Error
	recordErr     error  // a problem with the record itself (a CSV syntax error, say)
	line          uint32 // where the row starts
	idLine        uint32
	index         int32  // JSON array element, or -1
	dec           uint32 // the validator's decision for the shared fields, or noDecision
	kind          TargetKind
	skip          bool // a URL on another host
	broken        bool // the reader found fault with the row
	numeric       bool // a post id kept as a number
	// idReported: the reader already found fault with the id.
	idReported bool
	tooLarge   bool // the arenas are full
}

const noDecision = ^uint32(0)

// decision is the shared fields of a row, validated: what terms are interned from. It
// refers to nothing of the row: its texts are in the text arena.
type decision struct {
	rule       rule
	start, end time.Time
	texts      [numTextFields]uint32 // authority, reference, notice, reason
	tooLarge   bool                  // the text arena is full
}

// rowValidator validates rows. Each goroutine that validates has its own; the builder
// commits what they found in reading order.
//
// Rows that repeat the shared fields of an earlier row (one decision typically covers many
// posts) are recognised by their text and cost one lookup: the validator numbers the
// decisions it makes, and take hands the new ones to the builder, which interns each once.
type rowValidator struct {
	*site
	seed   maphash.Seed
	source string // the file, for errors

	// The validator copies what it finds good into the register's arenas, on the
	// goroutine it runs on. textSeen is a direct-mapped cache (hash -> reference) of the
	// texts of each field: what repeats (an authority) is kept once.
	ids, vals, texts arenaBuilder
	textSeen         [numTextFields][]uint64

	decided map[string]uint32 // text of the shared fields -> decision
	decs    []decision        // decisions made since the last take
	next    uint32            // number of the next decision
	key     []byte
	rows    uint32 // rows decided
	idle    uint32 // lookups in a full table since one found something

	// What fields that few rows differ in parse to.
	countries map[string]countriesOf
	actions   map[string]actionOf
	times     map[string]time.Time
}

// maxDecided bounds what a validator remembers of the decisions it made. A register that
// repeats decisions repeats the first ones again and again; one whose every row has its own
// decision gains nothing from a table of them, and a small one stays in the cache.
const (
	maxDecided    = 1 << 12
	maxFieldCache = 1 << 10
)

type countriesOf struct {
	set      countrySet
	anywhere bool
}

type actionOf struct {
	action Action
	rate   int64
	both   bool
}

const textSeenSize = 1 << 12

func (b *builder) newValidator() *rowValidator {
	v := &rowValidator{
		site:      &b.site,
		seed:      b.seed,
		ids:       arenaBuilder{table: &b.ids, mem: b.mem},
		vals:      arenaBuilder{table: &b.vals, mem: b.mem},
		texts:     arenaBuilder{table: &b.texts, mem: b.mem},
		decided:   make(map[string]uint32),
		countries: make(map[string]countriesOf),
		actions:   make(map[string]actionOf),
		times:     make(map[string]time.Time),
	}
	for f := range v.textSeen {
		v.textSeen[f] = make([]uint64, textSeenSize)
	}
	return v
}

// flush hands the chunks the validator filled to the register's arenas.
func (v *rowValidator) flush() {
	v.ids.flush()
	v.vals.flush()
	v.texts.flush()
}

// take returns the decisions made since the last take, in the order they are numbered;
// they hold the text of the rows that made them.
func (v *rowValidator) take() []decision {
	ds := v.decs
	v.decs = v.decs[:0]
	return ds
}

// check validates row r into c. It touches nothing but v and c.
func (v *rowValidator) check(r *row, c *checkedRow) {
	*c = checkedRow{line: uint32(r.start), idLine: uint32(r.line[fieldID]), index: int32(r.index),
		dec: noDecision, broken: r.broken, idReported: r.reported[fieldID]}
	fail := func(f int, err error) {
		if !r.reported[f] {
			c.errs = append(c.errs, &Error{Source: v.source, Line: r.line[f], Index: r.index, Field: fieldNames[f], Err: err})
		}
	}
	id := trimField(r.val[fieldID])
	if err := checkID(id); err != nil {
		fail(fieldID, err)
	}
	kind, value, skip, err := v.parseTarget(trimField(r.val[fieldTarget]))
	if err != nil {
		fail(fieldTarget, err)
	}
	c.dec = v.decide(r, fail)
	if id != "" && len(id) <= maxIDLen {
		c.id, c.h = id, maphash.String(v.seed, id)
	}
	c.kind, c.value, c.skip = kind, value, skip
	if err == nil && kind == TargetPost {
		_, c.numeric = numericPost(value)
	}
	if c.id != "" && len(c.errs) == 0 && c.dec != noDecision && !c.skip && !c.broken {
		if !v.ids.room(len(c.id)) || !v.vals.room(len(c.value)) {
			c.tooLarge = true
			return
		}
		c.idRef, c.valRef = v.ids.add(c.id), v.vals.add(c.value)
	}
}

// internText returns the reference of text s of field f, copying it into the text arena
// unless the field's cache has it; false when the arena is full.
func (v *rowValidator) internText(f int, s string) (uint32, bool) {
	if s == "" {
		return 0, true
	}
	h := maphash.String(v.seed, s)
	slot := &v.textSeen[f][h&(textSeenSize-1)]
	if *slot != 0 && *slot>>32 == h>>32 && v.texts.text(uint32(*slot)) == s {
		return uint32(*slot), true
	}
	if !v.texts.room(len(s) + maxTextHeader) {
		return 0, false
	}
	ref := v.texts.addText(s)
	*slot = h>>32<<32 | uint64(ref)
	return ref, true
}

// decide returns the decision the shared fields of r make, or noDecision when they are bad.
// Trimming and validating are only done for a text not seen before.
func (v *rowValidator) decide(r *row, fail func(int, error)) uint32 {
	v.rows++
	if len(v.decided) >= maxDecided && v.idle >= maxDecided && v.rows%32 != 0 {
		// The table is full and finds nothing: every row has a decision of its own. Only
		// one row in 32 looks, to notice when rows start repeating one.
		return v.make(r, fail, nil)
	}
	k := v.key[:0]
	for _, f := range [...]int{fieldCountries, fieldAction, fieldAuthority, fieldReference, fieldNotice, fieldReason, fieldStart, fieldEnd} {
		k = binary.AppendUvarint(k, uint64(len(r.val[f])))
		k = append(k, r.val[f]...)
	}
	v.key = k
	if d, ok := v.decided[string(k)]; ok {
		v.idle = 0
		return d
	}
	if len(v.decided) >= maxDecided {
		v.idle++
	}
	return v.make(r, fail, k)
}

// make validates the shared fields of r into a new decision, remembered under key unless
// that is nil or the table is full.
func (v *rowValidator) make(r *row, fail func(int, error), key []byte) uint32 {
	var d decision
	if !v.validate(r, &d, fail) {
		return noDecision
	}
	n := v.next
	v.next++
	v.decs = append(v.decs, d)
	if key != nil && len(v.decided) < maxDecided {
		v.decided[string(key)] = n
	}
	return n
}

// validate reads and checks the shared fields of r.
func (v *rowValidator) validate(r *row, d *decision, fail func(int, error)) bool {
	ok := true
	bad := func(f int, err error) {
		ok = false
		fail(f, err)
	}
	countries, action, start, end := trimField(r.val[fieldCountries]), trimField(r.val[fieldAction]), trimField(r.val[fieldStart]), trimField(r.val[fieldEnd])
	var texts [numTextFields]string
	for tf, f := range [numTextFields]int{fieldAuthority, fieldReference, fieldNotice, fieldReason} {
		texts[tf] = trimField(r.val[f])
	}
	if c, found := v.countries[countries]; found {
		d.rule.countries, d.rule.anywhere = c.set, c.anywhere
	} else if set, anywhere, _, err := parseCountries(countries); err != nil {
		bad(fieldCountries, err)
	} else {
		d.rule.countries, d.rule.anywhere = set, anywhere
		if len(v.countries) < maxFieldCache {
			v.countries[strings.Clone(countries)] = countriesOf{set, anywhere}
		}
	}
	if a, found := v.actions[action]; found {
		d.rule.action, d.rule.rate, d.rule.both = a.action, a.rate, a.both
	} else if a, rate, both, err := parseAction(action); err != nil {
		bad(fieldAction, err)
	} else {
		d.rule.action, d.rule.rate, d.rule.both = a, rate, both
		if len(v.actions) < maxFieldCache {
			v.actions[strings.Clone(action)] = actionOf{a, rate, both}
		}
	}
	for _, fv := range [...]struct {
		f int
		v string
	}{{fieldAuthority, texts[textAuthority]}, {fieldReference, texts[textReference]}, {fieldReason, texts[textReason]}} {
		if err := checkText(fv.v, fv.f == fieldReason); err != nil {
			bad(fv.f, err)
		}
	}
	if texts[textNotice] != "" {
		if err := checkNotice(texts[textNotice]); err != nil {
			bad(fieldNotice, err)
		}
	}
	var err error
	if d.start, err = v.parseTime(start); err != nil {
		bad(fieldStart, err)
	}
	if d.end, err = v.parseTime(end); err != nil {
		bad(fieldEnd, err)
	}
	if ok && !d.start.IsZero() && !d.end.IsZero() && !d.end.After(d.start) {
		bad(fieldEnd, fmt.Errorf("end %s is not after start %s", end, start))
	}
	if ok {
		for f, s := range texts {
			var fits bool
			if d.texts[f], fits = v.internText(f, s); !fits {
				d.tooLarge = true
			}
		}
	}
	return ok
}

func (v *rowValidator) parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, ok := v.times[s]; ok {
		return t, nil
	}
	t, err := parseTime(s)
	if err == nil && len(v.times) < maxFieldCache {
		v.times[strings.Clone(s)] = t
	}
	return t, err
}
