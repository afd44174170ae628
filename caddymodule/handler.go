package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/georestrict/caddy-georestrict/blocklist"
	"github.com/georestrict/caddy-georestrict/throttle"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler enforces legal orders by country at the edge. It looks up the
// country of the client IP that Caddy determined (the `client_ip` variable,
// governed by the server's `trusted_proxies`), matches the request against a
// register of legal orders, and either answers HTTP 451 Unavailable For Legal
// Reasons (RFC 7725), slows the request body of a throttled route, or passes
// the request on untouched.
//
// Every request it sees gets all of these placeholders, for logs and later
// routes; those that do not apply are empty:
//
// Placeholder | Description
// ------------|-------------
// `{http.geo_restrict.country}` | ISO 3166-1 alpha-2 code of the client's country; empty when unknown, and for exempt clients (not looked up)
// `{http.geo_restrict.action}` | `allow`, `block`, `throttle` or `exempt`
// `{http.geo_restrict.order_id}` | id of the order that applies; empty when none
// `{http.geo_restrict.authority}` | authority that issued that order; empty when none
// `{http.geo_restrict.dry_run}` | `true` when the action was only logged (dry run), else `false`
//
// The answer depends on the client's country, so a shared cache or CDN in
// front of Caddy must not serve one country's response to another: by
// default (`shared_cache`), responses for content that an order names
// anywhere are marked so that shared caches do not store them.
type Handler struct {
	// Path of a MaxMind-format country database (.mmdb): MaxMind GeoIP2 or
	// GeoLite2 Country/City, DB-IP, or ip-location-db. Default: the
	// database embedded in the module (NRO delegation data, CC BY 4.0),
	// which is fine for trying georestrict out but ages with every build.
	GeoIPDB string `json:"geoip_db,omitempty"`

	// Removed: there is no lookup cache any more, because it was slower than
	// the lookup it saved. A config that sets geoip_cache is refused, so
	// that it is not silently ignored; delete the field.
	GeoIPCache json.RawMessage `json:"geoip_cache,omitempty"`

	// The register files (CSV, JSON or JSON Lines) whose orders are
	// enforced, each a path or an object such as
	// `{"path": "holds.csv", "allow_empty": true}`. Several registers merge;
	// order ids must be unique across them. A file without orders is refused
	// unless it allows that. Required.
	Registers []RegisterSource `json:"registers,omitempty"`

	// URL templates that say where accounts and posts appear in this app's
	// URLs, such as `/{account}/status/{post}` or
	// `/1.1/statuses/show.json?id={post}`. When given, they replace the
	// defaults, which fit a Twitter-like app.
	Patterns []string `json:"patterns,omitempty"`

	// Route names of this app that are never accounts, such as `search` or
	// `settings`: a register URL `https://app.example/search?q=…` is then not
	// an order against an account "search", and `account:search` is refused.
	// When given, they replace the defaults, the top-level routes of
	// Twitter/X and Mastodon (listed in the README).
	Reserved []string `json:"reserved,omitempty"`

	// This app's host names, without scheme, port or path
	// (`microblog.example`, not `https://microblog.example:443`). When set,
	// orders whose target is a URL on another host are skipped (and counted
	// in the load log). Hosts compare exactly, never as substrings.
	Hosts []string `json:"hosts,omitempty"`

	// URL of the operator that implements the block, sent in the
	// `Link: <url>; rel="blocked-by"` header of RFC 7725: an absolute http
	// or https URL, with spaces, `<>"`, `;`, `,` and non-ASCII characters
	// percent-encoded. Optional.
	BlockedBy string `json:"blocked_by,omitempty"`

	// What to do when the client's country is unknown (private, reserved or
	// unlisted addresses): `allow` (default) passes the request on; `block`
	// treats the client as being in every country, so any listed content is
	// withheld from it.
	UnknownCountry string `json:"unknown_country,omitempty"`

	// Client IP ranges (CIDR or single addresses) that are never restricted,
	// such as monitoring or the regulator's own checkers. `private_ranges`
	// stands for all private and loopback ranges.
	Exempt []string `json:"exempt,omitempty"`

	// Decide, log and count, but let every request pass unchanged. Use it to
	// roll out a new register safely.
	DryRun bool `json:"dry_run,omitempty"`

	// Path of an html/template file that renders the 451 page for browsers.
	// It receives a Notice, and is rendered once with a sample order when
	// the config loads, so that a template error fails the load. Default: a
	// built-in page in English or Russian, as the browser prefers.
	Page string `json:"page,omitempty"`

	// Log the full client IP in the line written for each enforced request.
	// Off by default: the IP is personal data.
	LogClientIP bool `json:"log_client_ip,omitempty"`

	// Bounds the enforcement log when an order is requested heavily (a
	// withheld post gone viral): at most `lines` lines per order and
	// client country in each `interval`, then one summary line with the
	// count of the rest. Default: every enforced request is logged on a
	// line of its own.
	LogLimit *LogLimit `json:"log_limit,omitempty"`

	// Size in bytes of each client's token bucket for throttle orders: how
	// much a client may send at once before it is slowed. Default: one
	// second of the order's rate, at least 1 KiB, so that a throttled
	// upload is read once a second, which costs the server what a slow
	// client does. A smaller burst wakes every throttled upload more often.
	// A single read larger than the burst is split, never refused.
	ThrottleBurst int64 `json:"throttle_burst,omitempty"`

	// How long a throttled request's transfer may be paced. An upload can
	// go on being paced long after its client left: when an HTTP/1.1 client
	// closes its connection politely, what it had already handed to the
	// kernel (megabytes, in the socket buffers of both ends) is still read,
	// at the order's rate. When the time is up, the request body (and with
	// `both`, the response body) is cut: the upstream sees a body that ends
	// early, the client, if it is still there, the error of the handler
	// behind (reverse_proxy answers 502), and the client's budget is freed.
	// Set it above what the largest upload your app accepts takes at the
	// slowest throttle rate. Default: `1h`; `0` sets no limit.
	ThrottleMaxDuration *caddy.Duration `json:"throttle_max_duration,omitempty"`

	// The public key that every register source must be signed with: a
	// base64 Ed25519 public key, or the path of a file that holds one (base64,
	// or PEM). Each source then needs a detached signature beside it,
	// `<path>.sig` or `<url>.sig`, made with `caddy geo-restrict sign`; an
	// unsigned, tampered or otherwise signed version is refused, and the one
	// in force stays. Default: none, and registers are not checked.
	VerifyKey string `json:"verify_key,omitempty"`

	// How often every register source and the country database are checked
	// for a new version, which is then loaded and put in force with no
	// reload: cheaply (size and modification time, then a content hash) for
	// files, with conditional requests for URLs. A source may override it.
	// Default: `1m`; `0` turns checking off (a `caddy reload` still picks up
	// every change).
	Refresh *caddy.Duration `json:"refresh,omitempty"`

	// The share of a register source's orders (0 to 1) that a new version
	// may drop before it is held back instead of applied: a download cut
	// short, or an export gone wrong, looks like this. A held-back version is
	// shown by the status endpoint and applied with
	// `POST /geo_restrict/apply`. A source may override it. Default: `0.5`;
	// `1` never holds a version back.
	MaxShrink *float64 `json:"max_shrink,omitempty"`

	// What to do about shared caches (a CDN, a caching proxy) in front of
	// Caddy, which may serve one client's response to the next without the
	// gateway seeing that request. `guard` (default): a response passed on
	// for content that some order names in any country (allowed here,
	// exempt, throttled or a dry run) is marked so that shared caches do not
	// store it (`Cache-Control: private`, merged into the app's directives,
	// and `CDN-Cache-Control: no-store`), and so cannot carry it to a
	// client where it is withheld. Responses for content that no order
	// names are untouched. `allow`: responses are passed on as the app sent
	// them; only for caches whose keys include the client's country.
	SharedCache string `json:"shared_cache,omitempty"`

	geo       *liveDatabase
	live      *liveRegister
	answers   *answers
	logLimit  *logLimiter
	budgets   *throttle.Store
	maxPaced  time.Duration // throttle_max_duration; 0: no limit
	exempt    []netip.Prefix
	blockAll  bool
	guard     bool
	linkValue string
	page      *template.Template
	metrics   *metrics
	logger    *zap.Logger
	poolKeys  []string
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.geo_restrict",
		New: func() caddy.Module { return new(Handler) },
	}
}

// UnmarshalJSON decodes the handler's JSON config as Caddy does (unknown
// fields refused), and names the field of an error that encoding/json
// leaves bare, such as a duration Go cannot parse.
func (h *Handler) UnmarshalJSON(b []byte) error {
	type plain Handler // without this method
	return decodeNamed(b, (*plain)(h))
}

// Provision checks the settings, loads (or shares) the country database and
// the registers, and registers the metrics. Every setting is checked before
// anything is loaded, so that a typo fails before a large register is read.
func (h *Handler) Provision(ctx caddy.Context) (err error) {
	h.logger = ctx.Logger()
	defer recoverProvision("geo_restrict", &err, h.logger)

	s, err := h.parseSettings()
	if err != nil {
		return err
	}
	h.exempt, h.page = s.exempt, s.page
	h.answers = newAnswers()
	h.blockAll = h.UnknownCountry == "block"
	h.guard = s.guard
	h.maxPaced = s.throttleMaxDuration
	if h.BlockedBy != "" {
		h.linkValue = "<" + h.BlockedBy + `>; rel="blocked-by"`
	}
	opts := blocklist.Options{Hosts: h.Hosts, Patterns: s.patterns}

	db, key, err := loadLiveDatabase(ctx, h.GeoIPDB, s.refresh, h.logger)
	if err != nil {
		return err
	}
	h.geo = db
	h.poolKeys = append(h.poolKeys, key)

	live, key, err := loadLiveRegister(ctx, liveSettings{
		sources:   h.Registers,
		opts:      opts,
		refresh:   s.refresh,
		maxShrink: s.maxShrink,
		verifyKey: s.verifyKey,
	}, h.logger)
	if err != nil {
		return err
	}
	h.live = live
	h.poolKeys = append(h.poolKeys, key)

	budgets, key := loadBudgets(h.ThrottleBurst)
	h.budgets = budgets
	h.poolKeys = append(h.poolKeys, key)

	h.metrics, err = newMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return err
	}
	h.metrics.observeRegister(strings.Join(registerPaths(h.Registers), ","), h.Hosts, h.DryRun, h.live)
	h.metrics.live.add(h.live, h.geo)
	if h.LogLimit != nil {
		h.logLimit = newLogLimiter(*h.LogLimit, h.logger, h.DryRun)
	}
	return nil
}

// Validate checks the settings, as Provision did before it loaded anything;
// `caddy validate` and `caddy adapt --validate` report through it too.
func (h *Handler) Validate() error {
	_, err := h.parseSettings()
	return err
}

// ServeHTTP decides for one request and enforces the decision.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)

	addr := clientAddr(r)
	if h.isExempt(addr) {
		setPlaceholders(r, repl, exemptValues)
		h.metrics.exempt.Inc()
		return next.ServeHTTP(h.guardIfListed(w, r), r)
	}

	v := h.live.version()
	country, ref, verdict := h.decide(addr, v.reg, r.URL.EscapedPath(), r.URL.RawQuery, r.Header)
	switch verdict {
	case blocklist.Applies:
	case blocklist.Ambiguous:
		return h.refuse(w, r, next, addr, country)
	case blocklist.ListedElsewhere:
		setPlaceholders(r, repl, allowValues[countryIndex(country)])
		h.metrics.allowed.Inc()
		return next.ServeHTTP(h.guardListed(w), r)
	default:
		setPlaceholders(r, repl, allowValues[countryIndex(country)])
		h.metrics.allowed.Inc()
		return next.ServeHTTP(w, r)
	}

	// An order applies. Outside a dry run, a block order answers in the
	// format and language the client prefers; everything else about the
	// answer is kept (see answers.go).
	f, lang := formatText, (*language)(nil)
	if !h.DryRun {
		f, lang = negotiate(r.Header.Get("Accept")), negotiateLanguage(r.Header.Get("Accept-Language"))
	}
	ans := h.cachedAnswer(v, ref, country, f, lang)
	order := &ans.order
	setPlaceholders(r, repl, ans.values)
	ans.enforced.Inc()
	if h.DryRun {
		h.metrics.dryRunCount.Inc()
		h.logDecision(r, addr, ans, nil)
		return next.ServeHTTP(h.guardListed(w), r)
	}
	h.metrics.enforcedCount.Inc()
	transparency.count(ans.report, order.Action)
	if order.Action == blocklist.ActionThrottle {
		return h.throttle(h.guardListed(w), r, next, addr, ans)
	}
	h.logDecision(r, addr, ans, nil)
	return h.writeAnswer(w, r, ans)
}

// decide is the whole per-request decision: the country of addr, and what
// the register says of a request for path (escaped, as the application
// behind receives it) and query there, with the order that applies, if any.
// It allocates nothing when no order applies to an ordinary path. header, if
// not nil, is searched for the URL rewriting headers some applications route
// by (see rewriteHeaders).
//
// Without the shared-cache guard, clients in countries without orders cost a
// country lookup and nothing more. With it, every request is matched, since
// an order elsewhere must keep its answer out of shared caches; a path that
// would be refused in a country with orders is only ListedElsewhere in one
// without.
func (h *Handler) decide(addr netip.Addr, reg *blocklist.Register, path, rawQuery string, header http.Header) (country string, ref blocklist.OrderRef, verdict blocklist.Verdict) {
	country = h.geo.database().Country(addr)
	ref, verdict = h.decideIn(reg, country, path, rawQuery, header)
	return country, ref, verdict
}

// decideIn is decide for a client in country (as the database said), with
// reg. The admin API's and the command line's explain call it too, so that
// what they say cannot drift from what requests get.
func (h *Handler) decideIn(reg *blocklist.Register, country, path, rawQuery string, header http.Header) (ref blocklist.OrderRef, verdict blocklist.Verdict) {
	in := h.matchAs(country)
	ordered := true // some order may apply in the client's country
	if in != blocklist.AnyCountry && !reg.HasCountry(country) {
		if !h.guard {
			return 0, blocklist.Unlisted
		}
		ordered = false
	}
	var now time.Time
	if reg.Timed() {
		now = time.Now()
	}
	ref, verdict = reg.MatchRef(in, path, rawQuery, now)
	if verdict == blocklist.Ambiguous && !ordered {
		return ref, blocklist.ListedElsewhere
	}
	if verdict == blocklist.Applies || verdict == blocklist.Ambiguous || header == nil {
		return ref, verdict
	}
	for _, name := range rewriteHeaders {
		for _, u := range header[name] {
			p, q := splitRequestURI(u)
			r, v := reg.MatchRef(in, p, q, now)
			switch {
			case v == blocklist.Ambiguous && !ordered:
				verdict = blocklist.ListedElsewhere
			case v == blocklist.Applies, v == blocklist.Ambiguous:
				return r, v
			case v == blocklist.ListedElsewhere:
				verdict = v
			}
		}
	}
	return ref, verdict
}

// matchAs is the country a client in country is matched as: every country
// (AnyCountry) when its country is unknown and unknown_country is block.
func (h *Handler) matchAs(country string) string {
	if country == "" && h.blockAll {
		return blocklist.AnyCountry
	}
	return country
}

// rewriteHeaders carry the URL that applications behind IIS's URL Rewrite
// module, and PHP frameworks that support it (Symfony before 5, Zend), route
// by instead of the request line. A client can send them: the gateway reads
// them as further spellings of the request, so that an order cannot be
// dodged by asking for one page and naming another in a header.
var rewriteHeaders = [...]string{"X-Original-Url", "X-Rewrite-Url"}

// splitRequestURI splits a URL from a rewriting header into its escaped path
// and raw query; an absolute URL loses its scheme and host.
func splitRequestURI(u string) (path, rawQuery string) {
	if _, rest, ok := strings.Cut(u, "://"); ok && !strings.HasPrefix(u, "/") {
		if i := strings.IndexAny(rest, "/?"); i >= 0 {
			u = rest[i:]
		} else {
			u = "/"
		}
	}
	u, _, _ = strings.Cut(u, "#")
	path, rawQuery, _ = strings.Cut(u, "?")
	return path, rawQuery
}

// refuse answers 400 to a request whose path applications read in ways too
// different to match them all (see blocklist.Ambiguous): dot segments,
// separators encoded twice, control characters. Only clients in countries
// with orders get here; in a dry run the request passes and is logged.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, addr netip.Addr, country string) error {
	values := refuseValues[countryIndex(country)]
	if h.DryRun {
		values = refuseDryRunValues[countryIndex(country)]
	}
	setPlaceholders(r, r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer), values)
	h.metrics.refused.Inc()
	msg := "request refused: ambiguous path"
	if h.DryRun {
		msg = "request would be refused: ambiguous path (dry run)"
	}
	if c := h.logger.Check(zapcore.InfoLevel, msg); c != nil {
		fields := []zap.Field{
			zap.String("country", country),
			zap.String("method", r.Method),
			zap.String("host", r.Host),
			zap.String("path", r.URL.EscapedPath()),
			zap.Bool("dry_run", h.DryRun),
		}
		if h.LogClientIP {
			fields = append(fields, zap.String("client_ip", addr.String()))
		}
		c.Write(fields...)
	}
	if h.DryRun {
		return next.ServeHTTP(w, r)
	}
	const body = "400 Bad Request\n\nThis path is spelled in a way that applications read differently (dot segments, separators encoded twice, or control characters). Ask for the page by its plain address.\n"
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusBadRequest)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := io.WriteString(w, body)
	return err
}

// listedAnywhere reports whether some order, in any country, names what a
// request for path and query asks for (or the path is too ambiguous to
// tell): AnyCountry is covered by every order.
func (h *Handler) listedAnywhere(path, rawQuery string) bool {
	reg := h.live.register()
	var now time.Time
	if reg.Timed() {
		now = time.Now()
	}
	_, v := reg.Match(blocklist.AnyCountry, path, rawQuery, now)
	return v != blocklist.Unlisted
}

// throttle passes the request on with its body, and with "both" its
// response body too, paced to the order's rate. All throttled requests of a
// client at that rate share one budget. It logs and counts when the request
// ends, with the bytes and the rate they actually got.
func (h *Handler) throttle(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, addr netip.Addr, ans *answer) error {
	order := &ans.order
	budget := h.budgets.Acquire(addr, order.Rate)
	defer budget.Release()
	h.metrics.throttleActive.Inc()
	defer h.metrics.throttleActive.Dec()

	// The order slows the transfer below any minimum rate the server may
	// demand of clients (read_min_rate, write_min_rate); without this the
	// server would cut the very uploads the order only means to slow.
	idleReader, idleWriter := caddyhttp.IdleTimeoutsFromContext(r.Context())

	// throttle_max_duration: once it has passed, a paced read or write
	// fails with errMaxPaced, whatever the client has left in the buffers.
	ctx := r.Context()
	if h.maxPaced > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, h.maxPaced, errMaxPaced)
		defer cancel()
	}

	start := time.Now()
	var body *throttle.Reader
	if r.Body != nil && r.Body != http.NoBody {
		if idleReader != nil {
			defer idleReader.Override(idleReader.Deadline.Timeout, min(idleReader.Deadline.MinRate, order.Rate/2))()
		}
		body = throttle.NewReader(ctx, r.Body, budget)
		r.Body = body
	}
	var rw *throttle.ResponseWriter
	if order.ThrottleResponse {
		if idleWriter != nil {
			defer idleWriter.Override(idleWriter.Deadline.Timeout, min(idleWriter.Deadline.MinRate, order.Rate/2), 0)()
		}
		rw = throttle.NewResponseWriter(ctx, w, budget)
		w = rw
	}
	err := next.ServeHTTP(w, r)

	t := throttled{duration: time.Since(start), maxPacedReached: errors.Is(context.Cause(ctx), errMaxPaced)}
	if body != nil {
		t.requestBytes = body.Bytes()
	}
	if rw != nil {
		t.responseBytes = rw.Bytes()
	}
	h.metrics.throttled(ans.country, order.ID, t.requestBytes+t.responseBytes)
	h.logDecision(r, addr, ans, &t)
	return err
}

// throttled is what a throttled request got, for its log line.
type throttled struct {
	requestBytes, responseBytes int64
	duration                    time.Duration
	maxPacedReached             bool // throttle_max_duration passed while it was served
}

// errMaxPaced is what a throttled request's body reads (and paced response
// writes) return once throttle_max_duration has passed.
var errMaxPaced = errors.New("geo_restrict: throttle_max_duration reached; the throttled transfer is cut")

// logMessages are the enforcement log's messages for requests that an order
// with action applies to: one request's line, and the line that counts the
// requests beyond log_limit.
func logMessages(action blocklist.Action, dryRun bool) (line, summary string) {
	switch throttled := action == blocklist.ActionThrottle; {
	case dryRun && throttled:
		return "request would be throttled (dry run)", "requests would be throttled beyond the log limit (dry run)"
	case dryRun:
		return "request would be withheld (dry run)", "requests would be withheld beyond the log limit (dry run)"
	case throttled:
		return "request throttled", "requests throttled beyond the log limit"
	}
	return "request withheld", "requests withheld beyond the log limit"
}

// logDecision writes the one line logged for each enforced request; for a
// throttled request, when it ends.
func (h *Handler) logDecision(r *http.Request, addr netip.Addr, ans *answer, t *throttled) {
	if h.logLimit != nil && !h.logLimit.allow(ans) {
		return
	}
	c := h.logger.Check(zapcore.InfoLevel, ans.logMsg)
	if c == nil {
		return
	}
	fp := logFields.Get().(*[]zap.Field)
	fields := append((*fp)[:0], ans.logHead...)
	// The request id is Caddy's {http.request.uuid}: reading it here puts
	// the same id in the access log (as "uuid"), so the two lines join. It
	// is read only when the server writes an access log: making one costs
	// a read of the system's random source, a fifth of the line's cost.
	if srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && srv != nil && srv.Logs != nil {
		if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			requestID, _ := repl.GetString("http.request.uuid")
			fields = append(fields, zap.String("request_id", requestID))
		}
	}
	fields = append(fields,
		zap.String("method", r.Method),
		zap.String("host", r.Host),
		zap.String("path", r.URL.Path),
	)
	fields = append(fields, ans.logTail...)
	if t != nil {
		sent := t.requestBytes + t.responseBytes
		fields = append(fields,
			zap.Int64("rate", ans.order.Rate),
			zap.Int64("request_bytes", t.requestBytes),
			zap.Int64("response_bytes", t.responseBytes),
			zap.Duration("duration", t.duration),
			zap.Int64("effective_rate", int64(float64(sent)/max(t.duration.Seconds(), 1e-3))),
			zap.Bool("max_duration_reached", t.maxPacedReached),
		)
	}
	if h.LogClientIP {
		fields = append(fields, zap.String("client_ip", addr.String()))
	}
	c.Write(fields...)
	clear(fields) // let go of the request's strings
	*fp = fields
	logFields.Put(fp)
}

// logFields holds the field slices of enforcement log lines, which would
// otherwise be allocated for every line.
var logFields = sync.Pool{New: func() any {
	s := make([]zap.Field, 0, 24)
	return &s
}}

func (h *Handler) isExempt(addr netip.Addr) bool {
	for _, p := range h.exempt {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Cleanup releases the shared database and register. It is safe to call
// after a failed Provision.
func (h *Handler) Cleanup() error {
	for _, key := range h.poolKeys {
		releaseResource(key)
	}
	h.poolKeys = nil
	if h.logLimit != nil {
		h.logLimit.close()
		h.logLimit = nil
	}
	return nil
}

// clientAddr returns the client IP that Caddy determined for r, honouring
// the server's trusted_proxies. It never reads forwarding headers itself.
// An address that cannot be parsed is returned invalid, which has no country.
func clientAddr(r *http.Request) netip.Addr {
	s, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if i := strings.IndexByte(s, '%'); i >= 0 {
		s = s[:i] // a zone says nothing about the country
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return addr.Unmap()
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
