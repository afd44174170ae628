package caddymodule

import (
	"bufio"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// A response that an order withholds somewhere, passed on to a client where
// it is not withheld, must not reach a shared cache (a CDN, a caching proxy)
// that would serve it to the next client, who may be where it is withheld:
// the cache would answer without the gateway ever seeing that request. The
// cache guard marks such responses as private when their header is written,
// so that the app's own caching headers are kept and only the shared caches'
// permission is taken away.
//
// What it changes, and why each:
//
//   - Cache-Control gets `private` and loses `public`, `s-maxage` and
//     `proxy-revalidate`, which address shared caches and would contradict
//     it (RFC 9111, 5.2.2). Everything that stays valid for the one client's
//     own cache (max-age, no-cache, no-store, ...) is kept.
//   - CDN-Cache-Control (RFC 9213) is set to `no-store`: a CDN that honours
//     it ignores Cache-Control entirely when it is present, so a value of the
//     app's would win over `private`.
//   - Any other targeted field the app sent (named `*-Cache-Control` by
//     RFC 9213's convention, such as Cloudflare-CDN-Cache-Control or
//     Akamai-Cache-Control) becomes `no-store` too, for the same reason.
//   - Surrogate-Control, when the app sent one, becomes `no-store` (an ESI
//     `content="..."` directive is kept). Fastly prefers it to Cache-Control,
//     and Varnish's built-in VCL reads Cache-Control's `private` only when
//     there is no Surrogate-Control, so the app's `max-age=...` there would
//     let them store the response. None is added when the app sent none:
//     those caches then go by Cache-Control.
//   - X-Accel-Expires, when the app sent one, becomes `0`: nginx gives it
//     precedence over Cache-Control, and 0 means "do not cache".

// guardIfListed returns w wrapped in a cache guard when the guard is on and
// some order, in any country, names what r asks for; otherwise w itself, at
// no cost beyond the lookup. Exempt clients get here; the others' verdicts
// already say.
func (h *Handler) guardIfListed(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	if h.guard && h.listedAnywhere(r.URL.EscapedPath(), r.URL.RawQuery) {
		return newCacheGuard(w)
	}
	return w
}

// guardListed returns w wrapped in a cache guard when the guard is on, for
// a request that an order names.
func (h *Handler) guardListed(w http.ResponseWriter) http.ResponseWriter {
	if h.guard {
		return newCacheGuard(w)
	}
	return w
}

// cacheGuard is a response writer that marks the response as not to be
// stored by shared caches (see markPrivate) just before its header is
// written, as Caddy's own headers handler defers its operations to
// WriteHeader. It embeds Caddy's ResponseWriterWrapper, so Unwrap (and with
// it http.ResponseController), Push and ReadFrom (sendfile) keep working;
// Write, ReadFrom and Flush write the header first when the app did not.
type cacheGuard struct {
	caddyhttp.ResponseWriterWrapper
	wroteHeader bool
}

func newCacheGuard(w http.ResponseWriter) *cacheGuard {
	return &cacheGuard{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
}

// WriteHeader marks the header of the final response. Informational (1xx)
// responses pass through unmarked: they are not stored, and their header
// goes out with them.
func (g *cacheGuard) WriteHeader(status int) {
	if !g.wroteHeader && (status < 100 || status > 199) {
		g.wroteHeader = true
		markPrivate(g.Header())
	}
	g.ResponseWriter.WriteHeader(status)
}

func (g *cacheGuard) Write(p []byte) (int, error) {
	if !g.wroteHeader {
		g.WriteHeader(http.StatusOK)
	}
	return g.ResponseWriter.Write(p)
}

// ReadFrom lets the underlying writer use sendfile, after the header: the
// wrapper's ReadFrom would write straight to the underlying writer, which
// sends the header itself.
func (g *cacheGuard) ReadFrom(r io.Reader) (int64, error) {
	if !g.wroteHeader {
		g.WriteHeader(http.StatusOK)
	}
	return g.ResponseWriterWrapper.ReadFrom(r)
}

// FlushError flushes what was written so far; a flush before anything was
// written sends the header, so it is marked first.
func (g *cacheGuard) FlushError() error {
	if !g.wroteHeader {
		g.WriteHeader(http.StatusOK)
	}
	//nolint:bodyclose // a response controller, not a response
	return http.NewResponseController(g.ResponseWriter).Flush()
}

// Flush is FlushError for the handlers that assert http.Flusher.
func (g *cacheGuard) Flush() { _ = g.FlushError() }

// Hijack hands the connection over, for the handlers that assert
// http.Hijacker rather than use http.ResponseController.
func (g *cacheGuard) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	//nolint:bodyclose // a response controller, not a response
	return http.NewResponseController(g.ResponseWriter).Hijack()
}

// markPrivate rewrites the caching fields of a response header so that no
// shared cache stores it; see the comment at the top of this file.
func markPrivate(h http.Header) {
	var cacheControl []string
	// A handler may have set non-canonical keys; all of them would be
	// sent, so all are merged into one, in the order net/http writes them
	// (sorted), rather than in the map's random order.
	for _, name := range slices.Sorted(maps.Keys(h)) {
		if strings.EqualFold(name, "Cache-Control") {
			cacheControl = append(cacheControl, h[name]...)
			delete(h, name)
		}
	}
	for name, values := range h {
		switch {
		case hasSuffixFold(name, "-Cache-Control"):
			h[name] = []string{"no-store"}
		case strings.EqualFold(name, "Surrogate-Control"):
			h[name] = []string{surrogateNoStore(values)}
		case strings.EqualFold(name, "X-Accel-Expires"):
			h[name] = []string{"0"}
		}
	}
	h["Cache-Control"] = []string{privateCacheControl(cacheControl)}
	if _, ok := h["Cdn-Cache-Control"]; !ok {
		h["Cdn-Cache-Control"] = []string{"no-store"}
	}
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// privateCacheControl merges the values of a response's Cache-Control
// fields into one that forbids shared caches to store the response:
// `private`, then the app's directives less those that address shared
// caches (`public`, `s-maxage`, `proxy-revalidate`) and any earlier
// `private`, which may have been qualified by field names (and so allowed
// the rest of the response to be stored). Directive names are lower-cased,
// spacing is normalised, and a malformed directive (not a token, optionally
// `=` a token or a quoted string) is dropped rather than passed on for
// caches to read each their own way.
func privateCacheControl(values []string) string {
	var b strings.Builder
	b.WriteString("private")
	for _, v := range values {
		for d := range directives(v) {
			name, arg, ok := parseDirective(d)
			if !ok {
				continue
			}
			switch name {
			case "private", "public", "s-maxage", "proxy-revalidate":
				continue
			}
			writeDirective(&b, name, arg)
		}
	}
	return b.String()
}

// surrogateNoStore is the Surrogate-Control (W3C Edge Architecture) value
// that keeps a surrogate from storing the response: `no-store`, and the
// app's `content` directives, which say what the surrogate must process
// (ESI) rather than whether it may store.
func surrogateNoStore(values []string) string {
	var b strings.Builder
	b.WriteString("no-store")
	for _, v := range values {
		for d := range directives(v) {
			if name, arg, ok := parseDirective(d); ok && name == "content" {
				writeDirective(&b, name, arg)
			}
		}
	}
	return b.String()
}

func writeDirective(b *strings.Builder, name, arg string) {
	b.WriteString(", ")
	b.WriteString(name)
	if arg != "" {
		b.WriteByte('=')
		b.WriteString(arg)
	}
}

// directives yields the comma-separated elements of a field value, commas
// inside quoted strings included in their element. An unterminated quoted
// string runs to the end of the value.
func directives(v string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		start, quoted := 0, false
		for i := 0; i < len(v); i++ {
			switch c := v[i]; {
			case quoted && c == '\\':
				i++ // a quoted pair: the next byte is literal
			case c == '"':
				quoted = !quoted
			case c == ',' && !quoted:
				if !yield(v[start:i]) {
					return
				}
				start = i + 1
			}
		}
		yield(v[start:])
	}
}

// parseDirective splits one cache directive, `token [ "=" ( token /
// quoted-string ) ]` (RFC 9111, 5.2) with optional whitespace around it and
// around "=", into its lower-cased name and its argument as written. ok is
// false for an empty or malformed directive.
func parseDirective(d string) (name, arg string, ok bool) {
	d = strings.Trim(d, " \t")
	name, arg, hasArg := strings.Cut(d, "=")
	name = strings.TrimRight(name, " \t")
	if !isToken(name) {
		return "", "", false
	}
	if hasArg {
		arg = strings.TrimLeft(arg, " \t")
		if !isToken(arg) && !isQuotedString(arg) {
			return "", "", false
		}
	}
	return strings.ToLower(name), arg, true
}

// isToken reports whether s is a token (RFC 9110, 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isQuotedString reports whether s is exactly one quoted string (RFC 9110,
// 5.6.4): quotes around qdtext and quoted pairs, no control characters but
// horizontal tab.
func isQuotedString(s string) bool {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++
			if i == len(s)-1 || !isFieldText(s[i]) {
				return false
			}
		case c == '"' || !isFieldText(c):
			return false
		}
	}
	return true
}

// isFieldText reports whether c may stand in a field value: a visible ASCII
// character, a space or tab, or obs-text.
func isFieldText(c byte) bool {
	return c == '\t' || (c >= ' ' && c != 0x7f)
}

// Interface guards
var (
	_ http.ResponseWriter = (*cacheGuard)(nil)
	_ http.Flusher        = (*cacheGuard)(nil)
	_ http.Hijacker       = (*cacheGuard)(nil)
	_ http.Pusher         = (*cacheGuard)(nil)
	_ io.ReaderFrom       = (*cacheGuard)(nil)
)
