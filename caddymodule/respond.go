package caddymodule

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/georestrict/caddy-georestrict/blocklist"
)

// Notice is what the 451 answer tells the client, and the data a custom
// `page` template receives.
type Notice struct {
	// OrderID is the id of the order in the register.
	OrderID string `json:"id"`
	// Country is the ISO 3166-1 alpha-2 code of the client's country, or
	// empty when it is unknown.
	Country string `json:"country"`
	// Target is what is withheld, as the register names it
	// ("post:123", "account:someuser", "path:/x").
	Target string `json:"target"`
	// Authority is who demanded it, Reference the number and date of the
	// decision, NoticeURL the public notice and Reason the text for users.
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
		OrderID: "sample-1", Country: "RU", Target: "post:123",
		Authority: "Roskomnadzor", Reference: "2-1687/2024", NoticeURL: "https://notice.example/sample-1",
		Reason: "Prohibited information.", Until: &until, BlockedBy: "https://microblog.example/transparency",
		Path: "/someuser/status/123",
	}
}

//go:embed page.html
var defaultPageSource string

var defaultPage = template.Must(template.New("page.html").Parse(defaultPageSource))

// withhold answers 451 Unavailable For Legal Reasons (RFC 7725) with a body
// in the form the client prefers: an HTML page for browsers, JSON for API
// clients, plain text otherwise.
func (h *Handler) withhold(w http.ResponseWriter, r *http.Request, country string, order *blocklist.Order) error {
	n := Notice{
		OrderID:   order.ID,
		Country:   country,
		Target:    order.Target.String(),
		Authority: order.Authority,
		Reference: order.Reference,
		NoticeURL: order.Notice,
		Reason:    order.Reason,
		BlockedBy: h.BlockedBy,
		Path:      r.URL.Path,
	}
	if !order.End.IsZero() {
		end := order.End
		n.Until = &end
	}

	var body bytes.Buffer
	var contentType string
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
		if err := h.page.Execute(&body, n); err != nil {
			// A broken custom page must not leak the content: fall back
			// to the text answer, and say why in the log.
			h.logger.Error("rendering the 451 page", zap.Error(err))
			body.Reset()
			contentType = "text/plain; charset=utf-8"
			writeText(&body, n)
		}
	default:
		contentType = "text/plain; charset=utf-8"
		writeText(&body, n)
	}

	hdr := w.Header()
	if h.linkValue != "" {
		hdr.Add("Link", h.linkValue)
	}
	hdr.Set("Content-Type", contentType)
	hdr.Set("Content-Length", strconv.Itoa(body.Len()))
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Add("Vary", "Accept")
	w.WriteHeader(http.StatusUnavailableForLegalReasons)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(body.Bytes())
	return err
}

func writeText(b *bytes.Buffer, n Notice) {
	b.WriteString("451 Unavailable For Legal Reasons\n\n")
	where := "in your country"
	if n.Country != "" {
		where = "in " + n.Country
	}
	b.WriteString("This content (" + n.Target + ") is withheld " + where + " in response to a legal demand.\n\n")
	line := func(label, v string) {
		if v != "" {
			b.WriteString(label + ": " + v + "\n")
		}
	}
	line("Order", n.OrderID)
	line("Authority", n.Authority)
	line("Reference", n.Reference)
	line("Notice", n.NoticeURL)
	line("Reason", n.Reason)
	if n.Until != nil {
		line("Until", n.Until.Format(time.RFC3339))
	}
	line("Blocked by", n.BlockedBy)
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
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for param := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		if q <= 0 {
			continue
		}
		var f format
		switch mt := strings.ToLower(strings.TrimSpace(mediaType)); {
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
