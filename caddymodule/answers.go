package caddymodule

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/georestrict/caddy-georestrict/blocklist"
	"github.com/georestrict/caddy-georestrict/internal/iso3166"
)

// When a withheld post goes viral, hundreds of thousands of clients in the
// ordered country ask for the same few URLs, and the gateway must answer 451
// as cheaply as Caddy answers a static response. So everything about an
// order that does not change from one request to the next is worked out once
// and kept: its log fields, its placeholders' provider for the replacer, its
// metric and transparency-report counters, and the 451 answer itself,
// rendered for each country and negotiated variant (format and language)
// with its header values. A request then costs the match, the negotiation,
// a cache lookup and the writes.
//
// Answers are keyed by the version of the register they were rendered from
// (a process-wide generation, see registerVersion), so an answer never
// outlives the register in meaning: the first request under a new register
// empties the cache. What an answer keeps of the order is copied out of the
// register's memory, so that an old register is freed once it is replaced.

// answerCacheSize bounds the rendered answers a handler keeps: an answer is
// the order's text rendered for one country, format and language (a few KB
// for the HTML page), so the cache stays under a few MB. A day on which more
// than this many (order, country, variant) triples are hot renders some of
// them again, which costs what every answer cost before the cache.
const answerCacheSize = 1024

// answerKey identifies one answer: an order of one register version, for
// clients in one country, in one variant. lang is nil for an answer without
// a body (a throttle order, a dry run), which only keeps the order's figures.
type answerKey struct {
	gen     uint64
	ref     blocklist.OrderRef
	country int // iso3166 index; -1 when the country is unknown
	format  format
	lang    *language
}

// answer is what a handler keeps for one answerKey.
type answer struct {
	// order is a copy of the order, its strings out of the register's
	// memory; throttling reads its rate.
	order blocklist.Order

	// The placeholders, boxed once (the replacer stores `any`), and their
	// provider, made once (see setPlaceholders).
	placeholders placeholderValues
	values       caddy.ReplacerFunc

	// Counters: the child of enforced_total for this country, action and
	// dry run, and the transparency report's row (nil when the report is
	// full, and the request is counted as not itemised).
	enforced prometheus.Counter
	report   *reportCounts

	// The log line's fields that do not depend on the request: those
	// before the request's own, and those after.
	logHead, logTail []zap.Field
	// The log's messages: a request's line, and the count of requests
	// beyond log_limit.
	logMsg, summaryMsg string

	// The 451 answer, when the key has a language. Header values are
	// shared by every request that gets this answer and copied into each
	// response (handlers after this one may edit header values in place).
	contentType, contentLanguage, contentLength string
	// body is the whole body; when spliced, the JSON body is prefix, the
	// request path as a JSON string, then suffix.
	body, prefix, suffix []byte
	spliced              bool
	// perRequest is set for a custom page whose text depends on the
	// request path: it is rendered for every request, in lang.
	perRequest bool
	lang       *language

	// country is the client's country ("" when unknown).
	country string

	// window counts the order's log lines in this country, under a
	// log_limit (see loglimit.go).
	window atomic.Pointer[logWindow]
}

// answers is a handler's cache of answers.
type answers struct {
	// gen is the newest register generation seen; answers of older ones
	// are purged, and requests that still match an older one (in flight
	// across a swap) render without caching.
	gen   atomic.Uint64
	mu    sync.Mutex // serialises purges
	cache *lru.Cache[answerKey, *answer]
}

func newAnswers() *answers {
	c, err := lru.New[answerKey, *answer](answerCacheSize)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &answers{cache: c}
}

// get returns the answer for key, rendering it with build when it is not
// kept.
func (a *answers) get(key answerKey, build func() *answer) *answer {
	if ans, ok := a.cache.Get(key); ok {
		return ans
	}
	ans := build()
	switch gen := a.gen.Load(); {
	case key.gen == gen:
		a.cache.Add(key, ans)
	case key.gen > gen:
		a.mu.Lock()
		if a.gen.Load() < key.gen {
			a.cache.Purge()
			a.gen.Store(key.gen)
		}
		a.mu.Unlock()
		a.cache.Add(key, ans)
	}
	return ans
}

// cachedAnswer returns the answer for order ref of register version v, for a
// client in country; lang is nil when no body is needed. The order is
// materialised only when the answer is not kept.
func (h *Handler) cachedAnswer(v *registerVersion, ref blocklist.OrderRef, country string, f format, lang *language) *answer {
	key := answerKey{gen: v.gen, ref: ref, country: iso3166.Index(country), format: f, lang: lang}
	return h.answers.get(key, func() *answer {
		return h.buildAnswer(v.reg.Order(ref), country, f, lang)
	})
}

// buildAnswer works out everything that an answer keeps.
func (h *Handler) buildAnswer(o blocklist.Order, country string, f format, lang *language) *answer {
	target := o.Target.String()
	ans := &answer{
		order:   o,
		country: country,
		placeholders: placeholderValues{
			country:   boxedCountries[countryIndex(country)],
			action:    o.Action.String(),
			orderID:   o.ID,
			authority: o.Authority,
			dryRun:    h.DryRun,
		},
		enforced: h.metrics.enforcedVec.WithLabelValues(countryLabel(country), o.Action.String(), strconv.FormatBool(h.DryRun)),
		logHead: []zap.Field{
			zap.String("order", o.ID),
			zap.String("country", country),
			zap.String("action", o.Action.String()),
			zap.String("target", target),
			zap.String("authority", o.Authority),
			zap.String("reference", o.Reference),
		},
		logTail: []zap.Field{zap.Bool("dry_run", h.DryRun)},
	}
	ans.values = ans.placeholders.get
	ans.logMsg, ans.summaryMsg = logMessages(o.Action, h.DryRun)
	if !h.DryRun {
		ans.report = transparency.row(&o, country)
	}
	if lang != nil && o.Action == blocklist.ActionBlock {
		ans.lang = lang
		h.render(ans, country, f, lang)
	}
	return ans
}

// pathProbe stands for the request path while an answer is rendered once
// for all requests: the JSON answer is split around it, and a custom page
// whose text changes with it is rendered per request.
const pathProbe = "\x00georestrict-path\x00"

// render renders the 451 answer of ans in format f and language lang.
func (h *Handler) render(ans *answer, country string, f format, lang *language) {
	n := h.notice(&ans.order, country, lang, pathProbe)
	body, contentType, contentLanguage := h.renderBody(&ans.order, n, f, lang)
	ans.contentType, ans.contentLanguage = contentType, contentLanguage
	switch {
	case f == formatJSON:
		// The path is the notice's last field: split at its last
		// occurrence, whatever the register's own text holds.
		quoted, _ := json.Marshal(pathProbe)
		probe := quoted[1 : len(quoted)-1]
		i := bytes.LastIndex(body, probe)
		ans.prefix, ans.suffix, ans.spliced = body[:i:i], body[i+len(probe):], true
	case contentType == "text/html; charset=utf-8" && h.page != defaultPage:
		other, _, _ := h.renderBody(&ans.order, h.notice(&ans.order, country, lang, "/"), f, lang)
		if !bytes.Equal(body, other) {
			ans.perRequest = true
			return
		}
		fallthrough
	default:
		ans.body = body
		ans.contentLength = strconv.Itoa(len(body))
	}
}

// writeAnswer answers 451 with ans for request r.
func (h *Handler) writeAnswer(w http.ResponseWriter, r *http.Request, ans *answer) error {
	body := ans.body
	var path string
	contentType, contentLanguage, contentLength := ans.contentType, ans.contentLanguage, ans.contentLength
	switch {
	case ans.spliced:
		path = jsonStringContent(r.URL.Path)
		contentLength = decimal(len(ans.prefix) + len(path) + len(ans.suffix))
	case ans.perRequest:
		n := h.notice(&ans.order, ans.country, ans.lang, r.URL.Path)
		body, contentType, contentLanguage = h.renderBody(&ans.order, n, formatHTML, ans.lang)
		contentLength = strconv.Itoa(len(body))
	}

	// One allocation: the header values, copied so that a later handler
	// that edits a value in place edits this response's only.
	vals := make([]string, 0, 7)
	hdr := w.Header()
	set := func(name, v string) {
		vals = append(vals, v)
		if len(hdr[name]) == 0 {
			hdr[name] = vals[len(vals)-1 : len(vals) : len(vals)]
		} else {
			hdr[name] = append(hdr[name], v)
		}
	}
	if h.linkValue != "" {
		set("Link", h.linkValue)
	}
	delete(hdr, "Content-Type")
	set("Content-Type", contentType)
	if contentLanguage != "" {
		delete(hdr, "Content-Language")
		set("Content-Language", contentLanguage)
	}
	delete(hdr, "Content-Length")
	set("Content-Length", contentLength)
	delete(hdr, "Cache-Control")
	set("Cache-Control", "no-store")
	delete(hdr, "X-Content-Type-Options")
	set("X-Content-Type-Options", "nosniff")
	set("Vary", "Accept, Accept-Language")
	w.WriteHeader(http.StatusUnavailableForLegalReasons)
	if r.Method == http.MethodHead {
		return nil
	}
	if !ans.spliced {
		_, err := w.Write(body)
		return err
	}
	if _, err := w.Write(ans.prefix); err != nil {
		return err
	}
	if _, err := io.WriteString(w, path); err != nil {
		return err
	}
	_, err := w.Write(ans.suffix)
	return err
}

// jsonStringContent is s as the content of a JSON string (without its
// quotes), as encoding/json writes it: with <, > and & escaped, and invalid
// UTF-8 replaced. An ordinary path is its own content.
func jsonStringContent(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return string(b[1 : len(b)-1])
		}
	}
	return s
}

// decimal is strconv.Itoa, without an allocation for the lengths that JSON
// answers have.
func decimal(n int) string {
	if t := decimalTable(); n < len(t) {
		return t[n]
	}
	return strconv.Itoa(n)
}

var decimalTable = sync.OnceValue(func() *[4096]string {
	t := new([4096]string)
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
})
