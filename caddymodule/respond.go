package caddymodule

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"iter"
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

// withhold answers 451 Unavailable For Legal Reasons (RFC 7725) with a body
// in the form the client prefers (an HTML page for browsers, JSON for API
// clients, plain text otherwise) and in the language it prefers.
func (h *Handler) withhold(w http.ResponseWriter, r *http.Request, country string, order *blocklist.Order) error {
	lang := negotiateLanguage(r.Header.Get("Accept-Language"))
	n := Notice{
		OrderID:   order.ID,
		Country:   country,
		Target:    order.Target.String(),
		Kind:      targetKind(order.Target.Kind),
		Language:  lang.code,
		Authority: order.Authority,
		Reference: order.Reference,
		NoticeURL: order.Notice,
		Reason:    order.Reason,
		BlockedBy: h.BlockedBy,
		Path:      r.URL.Path,
	}
	if country != "" {
		n.CountryName = iso3166.Name(country, lang.code)
	}
	if !order.End.IsZero() {
		end := order.End
		n.Until = &end
	}
	everywhere := slices.Contains(order.Countries, "*")

	var body bytes.Buffer
	var contentType string
	// A custom page is in whatever language its author wrote it in.
	contentLanguage := lang.code
	switch negotiate(r.Header.Get("Accept")) {
	case formatJSON:
		contentType = "application/json"
		_ = json.NewEncoder(&body).Encode(struct {
			Status int    `json:"status"`
			Error  string `json:"error"`
			Order  Notice `json:"order"`
		}{http.StatusUnavailableForLegalReasons, "unavailable_for_legal_reasons", n})
	case formatHTML:
		contentType = "text/html; charset=utf-8"
		var err error
		if h.page == defaultPage {
			err = h.page.Execute(&body, pageData{n, lang.texts(n, order.Target, everywhere)})
		} else {
			err = h.page.Execute(&body, n)
			contentLanguage = ""
		}
		if err != nil {
			// A broken custom page must not leak the content: fall back
			// to the text answer, and say why in the log.
			h.logger.Error("rendering the 451 page", zap.Error(err))
			body.Reset()
			contentType = "text/plain; charset=utf-8"
			contentLanguage = lang.code
			writeText(&body, n, lang.texts(n, order.Target, everywhere))
		}
	default:
		contentType = "text/plain; charset=utf-8"
		writeText(&body, n, lang.texts(n, order.Target, everywhere))
	}

	hdr := w.Header()
	if h.linkValue != "" {
		hdr.Add("Link", h.linkValue)
	}
	hdr.Set("Content-Type", contentType)
	if contentLanguage != "" {
		hdr.Set("Content-Language", contentLanguage)
	}
	hdr.Set("Content-Length", strconv.Itoa(body.Len()))
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Add("Vary", "Accept, Accept-Language")
	w.WriteHeader(http.StatusUnavailableForLegalReasons)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(body.Bytes())
	return err
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
	for mediaType, q := range weighted(accept) {
		if q <= 0 {
			continue
		}
		var f format
		switch mt := strings.ToLower(mediaType); {
		case mt == "text/html" || mt == "application/xhtml+xml":
			f = formatHTML
		case mt == "application/json" || strings.HasSuffix(mt, "+json"):
			f = formatJSON
		case mt == "text/plain" || mt == "text/*" || mt == "*/*":
			f = formatText
		default:
			continue
		}
		if q > bestQ || (q == bestQ && f == formatHTML) {
			best, bestQ = f, q
		}
	}
	return best
}

// weighted yields the elements of a header of weighted values (Accept,
// Accept-Language: RFC 9110, section 12.4.2), each without its parameters and
// with its quality value: 1 unless a "q" parameter says otherwise.
func weighted(header string) iter.Seq2[string, float64] {
	return func(yield func(string, float64) bool) {
		for part := range strings.SplitSeq(header, ",") {
			value, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			q := 1.0
			for param := range strings.SplitSeq(params, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
						q = f
					}
				}
			}
			if !yield(strings.TrimSpace(value), q) {
				return
			}
		}
	}
}
