package caddymodule

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/georestrict/caddy-georestrict/blocklist"
	"github.com/georestrict/caddy-georestrict/internal/iso3166"
)

// Notice is what the 451 answer tells the client, and the data a custom
// `page` template receives.
type Notice struct {
	// OrderID is the id of the order in the register.
	OrderID string `json:"id"`
	// Country is the ISO 3166-1 alpha-2 code of the client's country, or
	// empty when it is unknown.
	Country string `json:"country"`
	// CountryName is the country's name in Language ("Russia", "Россия"),
	// or empty when the country is unknown.
	CountryName string `json:"country_name,omitempty"`
	// Target is what is withheld, as the register names it
	// ("post:123", "account:someuser", "path:/x").
	Target string `json:"target"`
	// Kind is what is withheld, in a word: "post", "account" or "page".
	Kind string `json:"-"`
	// Language is the language of the answer, negotiated from the
	// client's Accept-Language: "en" or "ru".
	Language string `json:"-"`
	// Authority is who demanded it, Reference the number and date of the
	// decision, NoticeURL the public notice and Reason the text for users,
	// all as the register writes them.
	Authority string `json:"authority,omitempty"`
	Reference string `json:"reference,omitempty"`
	NoticeURL string `json:"notice,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// Until is when the order ends, if it has an end.
	Until *time.Time `json:"until,omitempty"`
	// BlockedBy is the operator that implements the block.
	BlockedBy string `json:"blocked_by,omitempty"`
	// Path is the request path that was withheld.
	Path string `json:"path"`
}

// sampleNotice is a notice with every field set, to try a custom page on.
func sampleNotice() Notice {
	until := time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)
	return Notice{
		OrderID: "sample-1", Country: "RU", CountryName: "Russia", Target: "post:123", Kind: "post", Language: "en",
		Authority: "Roskomnadzor", Reference: "2-1687/2024", NoticeURL: "https://notice.example/sample-1",
		Reason: "Prohibited information.", Until: &until, BlockedBy: "https://microblog.example/transparency",
		Path: "/someuser/status/123",
	}
}

//go:embed page.html
var defaultPageSource string

var defaultPage = template.Must(template.New("page.html").Parse(defaultPageSource))

// pageData is what the built-in page renders: the notice and its texts in
// the reader's language.
type pageData struct {
	Notice
	Text pageText
}

// notice is what the answer to a request for path tells a client in
// country about order o, in lang.
func (h *Handler) notice(o *blocklist.Order, country string, lang *language, path string) Notice {
	n := Notice{
		OrderID:   o.ID,
		Country:   country,
		Target:    o.Target.String(),
		Kind:      targetKind(o.Target.Kind),
		Language:  lang.code,
		Authority: o.Authority,
		Reference: o.Reference,
		NoticeURL: o.Notice,
		Reason:    o.Reason,
		BlockedBy: h.BlockedBy,
		Path:      path,
	}
	if country != "" {
		n.CountryName = iso3166.Name(country, lang.code)
	}
	if !o.End.IsZero() {
		end := o.End
		n.Until = &end
	}
	return n
}

// renderBody renders the body of the 451 answer (RFC 7725) for notice n of
// order o in format f: an HTML page for browsers, JSON for API clients,
// plain text otherwise, in lang (a custom page is in whatever language its
// author wrote it in, and gets no Content-Language).
func (h *Handler) renderBody(o *blocklist.Order, n Notice, f format, lang *language) (body []byte, contentType, contentLanguage string) {
	everywhere := slices.Contains(o.Countries, "*")
	var b bytes.Buffer
	contentLanguage = lang.code
	switch f {
	case formatJSON:
		contentType = "application/json"
		_ = json.NewEncoder(&b).Encode(struct {
			Status int    `json:"status"`
			Error  string `json:"error"`
			Order  Notice `json:"order"`
		}{http.StatusUnavailableForLegalReasons, "unavailable_for_legal_reasons", n})
		return b.Bytes(), contentType, contentLanguage
	case formatHTML:
		var err error
		if h.page == defaultPage {
			err = h.page.Execute(&b, pageData{n, lang.texts(n, o.Target, everywhere)})
		} else {
			err = h.page.Execute(&b, n)
		}
		if err == nil {
			if h.page != defaultPage {
				contentLanguage = ""
			}
			return b.Bytes(), "text/html; charset=utf-8", contentLanguage
		}
		// A broken custom page must not leak the content: fall back to
		// the text answer, and say why in the log.
		h.logger.Error("rendering the 451 page", zap.String("order", o.ID), zap.Error(err))
		b.Reset()
	}
	writeText(&b, n, lang.texts(n, o.Target, everywhere))
	return b.Bytes(), "text/plain; charset=utf-8", contentLanguage
}

// targetKind names what a target withholds, in a word.
func targetKind(k blocklist.TargetKind) string {
	switch k {
	case blocklist.TargetPost:
		return "post"
	case blocklist.TargetAccount:
		return "account"
	}
	return "page"
}

func writeText(b *bytes.Buffer, n Notice, t pageText) {
	b.WriteString(t.Title + "\n\n")
	b.WriteString(t.Headline + "\n")
	b.WriteString(t.Lead + "\n\n")
	line := func(label, v string) {
		if v != "" {
			b.WriteString(label + ": " + v + "\n")
		}
	}
	line(t.WithheldLabel, t.Withheld)
	if n.Country != "" {
		line(t.CountryLabel, n.CountryName+" ("+n.Country+")")
	}
	line(t.AuthorityLabel, n.Authority)
	line(t.ReferenceLabel, n.Reference)
	line(t.NoticeLabel, n.NoticeURL)
	line(t.ReasonLabel, n.Reason)
	line(t.UntilLabel, t.Until)
	line(t.OrderLabel, n.OrderID)
	line(t.BlockedByLabel, n.BlockedBy)
}

type format int

const (
	formatText format = iota
	formatHTML
	formatJSON
)

// negotiate picks the body format from an Accept header by quality value;
// on a tie HTML wins (browsers list several types), and a missing or
// unmatched header gets plain text.
func negotiate(accept string) format {
	best, bestQ := formatText, 0.0
	for l := weightedList(accept); ; {
		mediaType, q, ok := l.next()
		if !ok {
			return best
		}
		if q <= 0 {
			continue
		}
		var f format
		switch mt := mediaType; {
		case strings.EqualFold(mt, "text/html") || strings.EqualFold(mt, "application/xhtml+xml"):
			f = formatHTML
		case strings.EqualFold(mt, "application/json") || hasSuffixFold(mt, "+json"):
			f = formatJSON
		case strings.EqualFold(mt, "text/plain") || strings.EqualFold(mt, "text/*") || mt == "*/*":
			f = formatText
		default:
			continue
		}
		if q > bestQ || (q == bestQ && f == formatHTML) {
			best, bestQ = f, q
		}
	}
}

// weightedList reads the elements of a header of weighted values (Accept,
// Accept-Language: RFC 9110, section 12.4.2) one at a time, with no
// allocation, for it runs on every withheld request.
type weightedList string

// next returns the next element without its parameters, and its quality
// value: 1 unless a "q" parameter says otherwise. ok is false at the end.
func (l *weightedList) next() (value string, q float64, ok bool) {
	if *l == "" {
		return "", 0, false
	}
	part, rest, _ := strings.Cut(string(*l), ",")
	*l = weightedList(rest)
	value, params, _ := strings.Cut(strings.TrimSpace(part), ";")
	q = 1
	for params != "" {
		var param string
		param, params, _ = strings.Cut(params, ";")
		k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = f
			}
		}
	}
	return strings.TrimSpace(value), q, true
}
