package blocklist

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// An Explanation says how the register decided for one request: what support answers
// "why is this user seeing 451?" with, and what an operator checks a new register with.
type Explanation struct {
	// Readings are the ways the path was read (see the package doc): one for an ordinary
	// path. Segments are separated by "/"; a slash inside a segment (read from "%2F" by
	// applications that do not split on it) is shown as "%2F".
	Readings []string
	// Keys are the posts and accounts the templates found, with the template that found each.
	Keys []ExplainedKey
	// Orders are the orders that name the request, whether or not they apply to this client
	// now, each once.
	Orders []ExplainedOrder
	// Verdict is what Match says, and Order the order that applies when it is Applies.
	Verdict Verdict
	Order   Order
}

// An ExplainedKey is a post or an account a template found in the request.
type ExplainedKey struct {
	Kind     TargetKind
	Value    string // as compared: folded (see the package doc)
	Template string
}

// An ExplainedOrder is an order that names the request, and whether it applies.
type ExplainedOrder struct {
	Order   Order
	Applies bool
	// Why says why it does not apply ("not in DE", "from 2030-01-01T00:00:00Z"), or, when it
	// applies but another order takes precedence, that it was outranked.
	Why string
}

// Explain decides for a request as Match does and says how.
func (r *Register) Explain(country, path, rawQuery string, now time.Time) Explanation {
	var e Explanation
	if r == nil || len(r.entries) == 0 {
		return e
	}
	defer runtime.KeepAlive(r) // see offheap.go
	ex := &explainer{r: r, ci: matchCountry(country), country: country, now: now, seen: make(map[uint32]bool)}
	v := visitor{r: r, ci: ex.ci, now: now, best: noEntry, ex: ex}
	e.Verdict = Ambiguous
	if walk(&v, path, rawQuery) {
		var ref OrderRef
		if ref, e.Verdict = v.verdict(); e.Verdict == Applies {
			e.Order = r.Order(ref)
		}
	}
	e.Readings, e.Keys, e.Orders = readingTexts(path), ex.keys, ex.orders
	for i := range e.Orders {
		o := &e.Orders[i]
		if o.Applies && e.Verdict == Applies && o.Order.ID != e.Order.ID {
			o.Why = "outranked by " + e.Order.ID + " (see Match for precedence)"
		}
	}
	return e
}

// explainer records what a visitor sees.
type explainer struct {
	r       *Register
	ci      int
	country string
	now     time.Time
	keys    []ExplainedKey
	orders  []ExplainedOrder
	seen    map[uint32]bool
}

// readingTexts returns the readings of a path, as Explanation shows them.
func readingTexts(path string) []string {
	if c, ok := canonicalPath(path); ok {
		if _, res := appendReading(nil, path); res == readOne || classifiedPlain(path) {
			return []string{c}
		}
	}
	readings, ok := readingsOf(path)
	if !ok {
		return nil
	}
	var texts []string
	for _, rd := range readings {
		var b strings.Builder
		for _, s := range rd.segs {
			b.WriteByte('/')
			b.WriteString(strings.ReplaceAll(string(rd.text[s[0]:s[1]]), "/", "%2F"))
		}
		if len(rd.segs) == 0 {
			b.WriteByte('/')
		}
		texts = append(texts, b.String())
	}
	return texts
}

func classifiedPlain(path string) bool {
	clean, upper := classify(path)
	return clean || upper
}

func (e *explainer) key(kind TargetKind, value string, template int) {
	k := ExplainedKey{Kind: kind, Value: value, Template: e.r.patterns.templates[template]}
	if !slices.Contains(e.keys, k) {
		e.keys = append(e.keys, k)
	}
}

func (e *explainer) order(i uint32, applies bool) {
	if e.seen[i] {
		return
	}
	e.seen[i] = true
	o := e.r.order(i)
	eo := ExplainedOrder{Order: o, Applies: applies}
	if !applies {
		eo.Why = e.whyNot(i, &o)
	}
	e.orders = append(e.orders, eo)
}

// whyNot says why entry i, materialised as o, does not apply to the client now.
func (e *explainer) whyNot(i uint32, o *Order) string {
	switch {
	case !e.r.rules[e.r.terms[e.r.entries[i].terms].rule].covers(e.ci):
		where := e.country
		if where == "" {
			where = "an unknown country"
		}
		return fmt.Sprintf("applies in %s, not in %s", strings.Join(o.Countries, " "), where)
	case !o.Start.IsZero() && e.now.Before(o.Start):
		return "applies from " + o.Start.Format(time.RFC3339)
	case !o.End.IsZero() && !e.now.Before(o.End):
		return "ended " + o.End.Format(time.RFC3339)
	}
	return ""
}
