package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"weak"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/georestrict/caddy-georestrict/blocklist"
	"github.com/georestrict/caddy-georestrict/geo"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI is the `admin.api.geo_restrict` module: endpoints of Caddy's admin
// API that show what the geo_restrict handlers of the running config enforce,
// and why.
//
//   - `GET /geo_restrict/status`: every register in use, source by source
//     (version, when it was applied, its orders by action and country, its
//     failures, a version held back), and the country databases.
//   - `GET /geo_restrict/explain?ip=<ip>&url=<url or path>`: what each
//     handler decides for a request from ip for url, and why.
//   - `POST /geo_restrict/apply?source=<location>`: puts a version that
//     max_shrink held back in force.
//   - `GET /geo_restrict/report[?format=csv]`: the transparency report since
//     the process started.
//
// It needs no configuration: Caddy loads every admin.api module.
type adminAPI struct{}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.geo_restrict",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Routes returns the admin routes.
func (a adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/geo_restrict/status", Handler: caddy.AdminHandlerFunc(a.handleStatus)},
		{Pattern: "/geo_restrict/explain", Handler: caddy.AdminHandlerFunc(a.handleExplain)},
		{Pattern: "/geo_restrict/apply", Handler: caddy.AdminHandlerFunc(a.handleApply)},
		{Pattern: "/geo_restrict/report", Handler: caddy.AdminHandlerFunc(a.handleReport)},
	}
}

func (adminAPI) handleStatus(w http.ResponseWriter, r *http.Request) error {
	if err := allowMethod(r, http.MethodGet); err != nil {
		return err
	}
	found, err := activeHandlers()
	if err != nil {
		return err
	}
	return writeJSON(w, statusOf(found))
}

func (adminAPI) handleExplain(w http.ResponseWriter, r *http.Request) error {
	if err := allowMethod(r, http.MethodGet); err != nil {
		return err
	}
	q := r.URL.Query()
	in, err := parseExplainRequest(q.Get("ip"), q.Get("url"))
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
	}
	found, err := activeHandlers()
	if err != nil {
		return err
	}
	out := in.result()
	for _, f := range found {
		out.Handlers = append(out.Handlers, explainHandler(f.h, f.site, in))
	}
	return writeJSON(w, out)
}

func (adminAPI) handleApply(w http.ResponseWriter, r *http.Request) error {
	if err := allowMethod(r, http.MethodPost); err != nil {
		return err
	}
	location := r.URL.Query().Get("source")
	if location == "" {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New("source: required (a register's path or URL, as the status endpoint shows it)")}
	}
	found, err := activeHandlers()
	if err != nil {
		return err
	}
	// The load is not cancelled when the client goes away: the operator
	// decided, and a held version given up half-way would be lost.
	ctx := context.WithoutCancel(r.Context())
	var applied []appliedVersion
	known := false
	for _, lr := range liveRegisters(found) {
		path, held := lr.heldVersion(location)
		if path == "" {
			continue
		}
		known = true
		if held == "" {
			continue
		}
		if err := lr.applyHeld(ctx, path); err != nil {
			return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: fmt.Errorf("applying the held-back version of %s: %w", location, err)}
		}
		applied = append(applied, appliedVersion{Source: location, Version: held, Register: lr.name})
	}
	switch {
	case !known:
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("source %q: no register in use has it (see GET /geo_restrict/status)", location)}
	case len(applied) == 0:
		return caddy.APIError{HTTPStatus: http.StatusConflict, Err: fmt.Errorf("source %q: no version of it is held back", location)}
	}
	return writeJSON(w, struct {
		Applied []appliedVersion `json:"applied"`
	}{applied})
}

// appliedVersion says which held-back version an apply put in force, in which register.
type appliedVersion struct {
	Source   string `json:"source"`
	Version  string `json:"version"`
	Register string `json:"register"`
}

func (adminAPI) handleReport(w http.ResponseWriter, r *http.Request) error {
	if err := allowMethod(r, http.MethodGet); err != nil {
		return err
	}
	s := transparency.snapshot(time.Now())
	switch format := r.URL.Query().Get("format"); format {
	case "", "json":
		w.Header().Set("Content-Type", "application/json")
		return s.writeJSON(w)
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8; header=present")
		w.Header().Set("Content-Disposition", `attachment; filename="georestrict-report-`+s.Until.UTC().Format("20060102T150405Z")+`.csv"`)
		return s.writeCSV(w)
	default:
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("format: want json or csv, got %q", format)}
	}
}

func allowMethod(r *http.Request, method string) error {
	if r.Method == method {
		return nil
	}
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed: use %s", r.Method, method)}
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "\t")
	return enc.Encode(v)
}

// A site names a geo_restrict handler in a config: the server it is in, the
// server's listen addresses, and the host names its routes match (none: every
// host). Index tells apart handlers of one server with the same hosts, in
// route order.
type site struct {
	Name   string   `json:"name"`
	Server string   `json:"server"`
	Listen []string `json:"listen"`
	Hosts  []string `json:"hosts,omitempty"`
	Index  int      `json:"index"`
}

// siteWalker finds the geo_restrict handlers of one server, in route order:
// its routes (subroutes included), its error routes, then its named routes.
// The running config and the command line, which reads the JSON, walk alike,
// so that both name handlers the same way.
type siteWalker struct {
	server string
	listen []string
	seen   map[string]int // handlers found per hosts
	found  []foundHandler
}

// foundHandler is a geo_restrict handler of a config: provisioned (running),
// or its JSON (read from a file).
type foundHandler struct {
	site site
	h    *Handler
	raw  json.RawMessage
}

func newSiteWalker(server string, listen []string) *siteWalker {
	return &siteWalker{server: server, listen: listen, seen: map[string]int{}}
}

func (w *siteWalker) add(hosts []string, h *Handler, raw json.RawMessage) {
	key := strings.Join(hosts, ",")
	s := site{Server: w.server, Listen: w.listen, Hosts: hosts, Index: w.seen[key]}
	w.seen[key]++
	s.Name = w.server
	if len(w.listen) > 0 {
		s.Name += " (" + strings.Join(w.listen, " ") + ")"
	}
	if len(hosts) > 0 {
		s.Name += " " + strings.Join(hosts, ", ")
	}
	if s.Index > 0 {
		s.Name += fmt.Sprintf(" #%d", s.Index)
	}
	w.found = append(w.found, foundHandler{site: s, h: h, raw: raw})
}

// routes walks provisioned routes; hosts are those of the routes that lead
// to them.
func (w *siteWalker) routes(routes caddyhttp.RouteList, hosts []string) {
	for _, r := range routes {
		w.route(r, hosts)
	}
}

func (w *siteWalker) route(r caddyhttp.Route, hosts []string) {
	var own []string
	for _, set := range r.MatcherSets {
		for _, m := range set {
			switch m := m.(type) {
			case caddyhttp.MatchHost:
				own = append(own, m...)
			case *caddyhttp.MatchHost:
				own = append(own, *m...)
			}
		}
	}
	hosts = innerHosts(hosts, own)
	for _, mh := range r.Handlers {
		switch h := mh.(type) {
		case *Handler:
			w.add(hosts, h, nil)
		case *caddyhttp.Subroute:
			w.routes(h.Routes, hosts)
		}
	}
}

// innerHosts are the hosts of a route inside routes that match outer: its
// own when it has host matchers (they are the more specific), else outer's.
func innerHosts(outer, own []string) []string {
	if len(own) == 0 {
		return outer
	}
	own = slices.Clone(own)
	slices.Sort(own)
	return slices.Compact(own)
}

// activeHandlers finds the geo_restrict handlers of the running config.
func activeHandlers() ([]foundHandler, error) {
	app, err := caddy.ActiveContext().AppIfConfigured("http")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	httpApp, ok := app.(*caddyhttp.App)
	if !ok {
		return nil, fmt.Errorf("http app is a %T", app)
	}
	var found []foundHandler
	for _, name := range sortedKeys(httpApp.Servers) {
		srv := httpApp.Servers[name]
		w := newSiteWalker(name, srv.Listen)
		w.routes(srv.Routes, nil)
		if srv.Errors != nil {
			w.routes(srv.Errors.Routes, nil)
		}
		for _, rn := range sortedKeys(srv.NamedRoutes) {
			if r := srv.NamedRoutes[rn]; r != nil {
				w.route(*r, nil)
			}
		}
		found = append(found, w.found...)
	}
	return found, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// countryDatabase returns the country database the handler looks clients up
// in now.
func (h *Handler) countryDatabase() *geo.Database { return h.geo.database() }

// explainRequest is a request to explain: a client address, and the URL it
// asks for, as the handler sees it.
type explainRequest struct {
	ip       string // as given
	url      string // as given
	addr     netip.Addr
	path     string // escaped, as r.URL.EscapedPath() gives it
	rawQuery string
}

// parseExplainRequest reads an address and a URL or path, as the admin API
// and the command line take them.
func parseExplainRequest(ip, rawURL string) (explainRequest, error) {
	in := explainRequest{ip: ip, url: rawURL}
	if ip == "" {
		return in, errors.New("ip: required")
	}
	s, _, _ := strings.Cut(ip, "%") // a zone says nothing about the country
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return in, fmt.Errorf("ip: %q is not an IP address", ip)
	}
	in.addr = addr.Unmap()
	if rawURL == "" {
		return in, errors.New("url: required (a path such as /someuser/status/1, or an http(s) URL)")
	}
	var u *url.URL
	if strings.HasPrefix(rawURL, "/") {
		u, err = url.ParseRequestURI(rawURL)
	} else {
		u, err = url.Parse(rawURL)
		if err == nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
			err = errors.New("want a path (/...) or an http(s) URL")
		}
	}
	if err != nil {
		return in, fmt.Errorf("url: %q: %w", rawURL, err)
	}
	in.path, in.rawQuery = u.EscapedPath(), u.RawQuery
	if in.path == "" {
		in.path = "/" // what a client sends for https://host
	}
	return in, nil
}

// explainResult is what explain answers: for every geo_restrict handler, what
// it decides for the request and why.
type explainResult struct {
	IP       string               `json:"ip"`
	URL      string               `json:"url"`
	Path     string               `json:"path"`
	Query    string               `json:"query,omitempty"`
	Handlers []handlerExplanation `json:"handlers"`
}

func (in explainRequest) result() explainResult {
	return explainResult{IP: in.addr.String(), URL: in.url, Path: in.path, Query: in.rawQuery, Handlers: []handlerExplanation{}}
}

// handlerExplanation is what one handler decides for a request, and why.
type handlerExplanation struct {
	Site site `json:"site"`
	// Database is the country database that was asked, and Country what it
	// said ("" when it does not know, or the address is not public).
	Database string `json:"database"`
	Country  string `json:"country"`
	// MatchedAs is the country the register was asked about, when it is not
	// Country: "*" (every country) for an unknown country with
	// unknown_country block.
	MatchedAs string `json:"matched_as,omitempty"`
	// Exempt: the address is in exempt; the request passes whatever the
	// orders say (they are still shown).
	Exempt bool `json:"exempt"`
	// Readings are the ways the path is read, Keys the posts and accounts
	// the templates found in it, and Orders every order that names the
	// request, whether it applies to this client now, and why not.
	Readings []string         `json:"readings"`
	Keys     []explainedKey   `json:"keys"`
	Orders   []explainedOrder `json:"orders"`
	// Verdict is the handler's decision (applies, listed elsewhere,
	// unlisted, ambiguous), and Order the order that applies.
	Verdict string     `json:"verdict"`
	Order   *orderView `json:"order,omitempty"`
	// Answer is what the handler does with the request.
	Answer explainedAnswer `json:"answer"`
}

type explainedKey struct {
	Kind     string `json:"kind"`
	Value    string `json:"value"`
	Template string `json:"template"`
}

type explainedOrder struct {
	Order   orderView `json:"order"`
	Applies bool      `json:"applies"`
	Why     string    `json:"why,omitempty"`
}

// orderView is an order as the admin API and the command line show it.
type orderView struct {
	ID               string     `json:"id"`
	Target           string     `json:"target"`
	Action           string     `json:"action"`
	Rate             int64      `json:"rate,omitempty"`
	ThrottleResponse bool       `json:"throttle_response,omitempty"`
	Countries        []string   `json:"countries"`
	Authority        string     `json:"authority,omitempty"`
	Reference        string     `json:"reference,omitempty"`
	Notice           string     `json:"notice,omitempty"`
	Reason           string     `json:"reason,omitempty"`
	Start            *time.Time `json:"start,omitempty"`
	End              *time.Time `json:"end,omitempty"`
	Source           string     `json:"source"`
}

func viewOrder(o blocklist.Order) orderView {
	v := orderView{
		ID: o.ID, Target: o.Target.String(), Action: o.Action.String(), Countries: o.Countries,
		Authority: o.Authority, Reference: o.Reference, Notice: o.Notice, Reason: o.Reason, Source: o.Source,
	}
	if o.Action == blocklist.ActionThrottle {
		v.Rate, v.ThrottleResponse = o.Rate, o.ThrottleResponse
	}
	if !o.Start.IsZero() {
		v.Start = &o.Start
	}
	if !o.End.IsZero() {
		v.End = &o.End
	}
	return v
}

// explainedAnswer is what the handler does with a request.
type explainedAnswer struct {
	// Answer is "451" (withheld), "400" (refused: an ambiguous path),
	// "throttle" (passed on, slowed to Rate bytes per second), or "pass"
	// (passed on).
	Answer string `json:"answer"`
	// Status is the status the handler answers with itself; 0 when the
	// request is passed on and the app answers.
	Status int `json:"status,omitempty"`
	// Action is the {http.geo_restrict.action} placeholder: allow, block,
	// throttle, exempt or refuse.
	Action           string `json:"action"`
	Rate             int64  `json:"rate,omitempty"`
	ThrottleResponse bool   `json:"throttle_response,omitempty"`
	// DryRun: the handler only logs the action, and passes the request on.
	DryRun bool `json:"dry_run,omitempty"`
	// SharedCache is what the shared-cache guard does: "guard" (the
	// response is marked so that shared caches do not store it), "no-store"
	// (the handler's own answer, never stored), or "none".
	SharedCache string `json:"shared_cache"`
}

// explainHandler says what h decides for in, and why. It decides with the
// handler's own code (decideIn), so it cannot drift from what requests get.
func explainHandler(h *Handler, s site, in explainRequest) handlerExplanation {
	db := h.countryDatabase()
	reg := h.live.register()
	country := db.Country(in.addr)
	e := handlerExplanation{Site: s, Database: db.Info().Name, Country: country, Exempt: h.isExempt(in.addr)}
	matchAs := h.matchAs(country)
	if matchAs != country {
		e.MatchedAs = matchAs
	}

	x := reg.Explain(matchAs, in.path, in.rawQuery, time.Now())
	e.Readings = nonNil(x.Readings)
	e.Keys = make([]explainedKey, len(x.Keys))
	for i, k := range x.Keys {
		e.Keys[i] = explainedKey{Kind: k.Kind.String(), Value: k.Value, Template: k.Template}
	}
	e.Orders = make([]explainedOrder, len(x.Orders))
	for i, o := range x.Orders {
		e.Orders[i] = explainedOrder{Order: viewOrder(o.Order), Applies: o.Applies, Why: o.Why}
	}

	ref, verdict := h.decideIn(reg, country, in.path, in.rawQuery, nil)
	e.Verdict = verdict.String()
	var order blocklist.Order
	if verdict == blocklist.Applies {
		order = reg.Order(ref)
		v := viewOrder(order)
		e.Order = &v
	}
	e.Answer = h.answerFor(e.Exempt, verdict, &order, in.path, in.rawQuery)
	return e
}

// answerFor is what ServeHTTP does with a request, given the exemption and
// the decision. A test holds it to what ServeHTTP really does.
func (h *Handler) answerFor(exempt bool, verdict blocklist.Verdict, order *blocklist.Order, path, rawQuery string) explainedAnswer {
	guard := "none"
	if h.guard {
		guard = "guard"
	}
	switch {
	case exempt:
		a := explainedAnswer{Answer: "pass", Action: "exempt", SharedCache: "none"}
		if h.guard && h.listedAnywhere(path, rawQuery) {
			a.SharedCache = "guard"
		}
		return a
	case verdict == blocklist.Ambiguous && h.DryRun:
		return explainedAnswer{Answer: "pass", Action: "refuse", DryRun: true, SharedCache: "none"}
	case verdict == blocklist.Ambiguous:
		return explainedAnswer{Answer: "400", Status: http.StatusBadRequest, Action: "refuse", SharedCache: "no-store"}
	case verdict == blocklist.ListedElsewhere:
		return explainedAnswer{Answer: "pass", Action: "allow", SharedCache: guard}
	case verdict != blocklist.Applies:
		return explainedAnswer{Answer: "pass", Action: "allow", SharedCache: "none"}
	}
	a := explainedAnswer{Action: order.Action.String(), DryRun: h.DryRun}
	if order.Action == blocklist.ActionThrottle {
		a.Rate, a.ThrottleResponse = order.Rate, order.ThrottleResponse
	}
	switch {
	case h.DryRun:
		a.Answer, a.SharedCache = "pass", guard
	case order.Action == blocklist.ActionThrottle:
		a.Answer, a.SharedCache = "throttle", guard
	default:
		a.Answer, a.Status, a.SharedCache = "451", http.StatusUnavailableForLegalReasons, "no-store"
	}
	return a
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// statusReport is what the status endpoint answers.
type statusReport struct {
	Registers []registerStatus `json:"registers"`
	Databases []databaseStatus `json:"databases"`
}

// registerStatus is one live register: the handlers that enforce it, and its
// sources.
type registerStatus struct {
	Sites   []site         `json:"sites"`
	Hosts   []string       `json:"hosts,omitempty"`
	Orders  int            `json:"orders"`
	Sources []sourceStatus `json:"sources"`
	// What the regulators' registers among the sources say of themselves,
	// in the order they were loaded.
	Published []publishedHeader `json:"published,omitempty"`
	// Entries of regulators' registers that are not enforced, by reason,
	// and the first of those that concern the site but could not become
	// orders.
	Unenforced map[string]int `json:"unenforced,omitempty"`
	Skipped    []skippedEntry `json:"skipped,omitempty"`
	// URL orders of our own formats left out for a host not in hosts.
	SkippedForeignHost int `json:"skipped_foreign_host,omitempty"`
	// OffHeapBytes is the memory the register keeps outside the Go heap:
	// resident, but not counted in the collector's heap goal.
	OffHeapBytes int `json:"offheap_bytes"`
}

// sourceStatus is one source of a live register and what became of its versions.
type sourceStatus struct {
	Kind     string `json:"kind"`     // file or url
	Location string `json:"location"` // any password in a URL redacted
	Format   string `json:"format"`   // as configured
	Refresh  string `json:"refresh"`  // how often it is checked; "off"

	// The version in force: the SHA-256 of its bytes, their size, when they
	// were read, whether they came from Caddy's storage (the origin was
	// unreachable at start) and whether a signature was verified.
	Version     string    `json:"version"`
	Size        int64     `json:"size"`
	Fetched     time.Time `json:"fetched"`
	FromStorage bool      `json:"from_storage,omitempty"`
	Signed      bool      `json:"signed"`
	Applied     time.Time `json:"applied"`
	LoadSeconds float64   `json:"load_seconds"`
	LastChecked time.Time `json:"last_checked"`

	// Its orders, by action and by country ("*" for everywhere).
	Orders    int            `json:"orders"`
	ByAction  map[string]int `json:"by_action"`
	ByCountry map[string]int `json:"by_country"`

	// Checks and loads that failed since start, and the latest failure.
	Failures  int          `json:"failures"`
	LastError *sourceError `json:"last_error,omitempty"`
	// A newer version that max_shrink held back; POST
	// /geo_restrict/apply?source=<location> puts it in force.
	HeldBack *heldVersion `json:"held_back,omitempty"`
}

type sourceError struct {
	Error string    `json:"error"`
	At    time.Time `json:"at"`
}

type heldVersion struct {
	Version string    `json:"version"`
	Size    int64     `json:"size"`
	Reason  string    `json:"reason"`
	Since   time.Time `json:"since"`
}

type publishedHeader struct {
	Format             string `json:"format"`
	UpdateTime         string `json:"update_time,omitempty"`
	UpdateTimeUrgently string `json:"update_time_urgently,omitempty"`
	FormatVersion      string `json:"format_version,omitempty"`
}

type skippedEntry struct {
	Source string `json:"source"`
	Line   int    `json:"line,omitempty"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// databaseStatus is one country database in use, and what became of its files.
type databaseStatus struct {
	Sites     []site    `json:"sites"`
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	Schema    string    `json:"schema"`
	Embedded  bool      `json:"embedded,omitempty"`
	BuildTime time.Time `json:"build_time"`
	liveDatabaseState
}

// liveRegisters returns the live registers of found handlers, each once, in
// the order they were found.
func liveRegisters(found []foundHandler) []*liveRegister {
	var out []*liveRegister
	for _, f := range found {
		if f.h.live != nil && !slices.Contains(out, f.h.live) {
			out = append(out, f.h.live)
		}
	}
	return out
}

// statusOf reports the registers and databases of found handlers.
func statusOf(found []foundHandler) statusReport {
	out := statusReport{Registers: []registerStatus{}, Databases: []databaseStatus{}}
	for _, lr := range liveRegisters(found) {
		rs := lr.status()
		for _, f := range found {
			if f.h.live == lr {
				rs.Sites = append(rs.Sites, f.site)
			}
		}
		out.Registers = append(out.Registers, rs)
	}
	var dbs []*liveDatabase
	for _, f := range found {
		ld := f.h.geo
		i := slices.Index(dbs, ld)
		if i < 0 {
			info := ld.database().Info()
			dbs = append(dbs, ld)
			out.Databases = append(out.Databases, databaseStatus{
				Name: info.Name, Type: info.DatabaseType, Schema: info.Schema.String(),
				Embedded: info.Embedded, BuildTime: info.BuildTime, liveDatabaseState: ld.state(),
			})
			i = len(dbs) - 1
		}
		out.Databases[i].Sites = append(out.Databases[i].Sites, f.site)
	}
	return out
}

// status reports the register in force and its sources. The register and
// the sources' state are read together, under the lock that loads hold, so
// they describe the same versions.
func (lr *liveRegister) status() registerStatus {
	lr.mu.Lock()
	reg := lr.register()
	sources := make([]sourceStatus, len(lr.sources))
	for i, ls := range lr.sources {
		s := sourceStatus{
			Kind: "file", Location: ls.src.String(), Format: formatName(ls.cfg.Format), Refresh: "off",
			Applied: ls.appliedAt, LoadSeconds: ls.loadTook.Seconds(), LastChecked: ls.lastChecked,
			Orders: ls.orders, Failures: ls.failures,
		}
		if ls.cfg.isURL() {
			s.Kind = "url"
		}
		if ls.refresh > 0 {
			s.Refresh = ls.refresh.String()
		}
		if v := ls.version; v != nil {
			s.Version, s.Size, s.Fetched, s.FromStorage, s.Signed = v.Hash, v.Size, v.Fetched, v.FromStorage, v.Signature != nil
		}
		if ls.lastErr != "" {
			s.LastError = &sourceError{Error: ls.lastErr, At: ls.lastErrAt}
		}
		if ls.held != nil {
			s.HeldBack = &heldVersion{Version: ls.held.Hash, Size: ls.held.Size, Reason: ls.heldReason, Since: ls.heldAt}
		}
		sources[i] = s
	}
	lr.mu.Unlock()

	rs := registerStatus{Hosts: lr.opts.Hosts, Orders: reg.Len(), Sources: sources}
	for i, c := range censusOf(reg) {
		if i < len(rs.Sources) {
			rs.Sources[i].ByAction, rs.Sources[i].ByCountry = c.ByAction, c.ByCountry
		}
	}
	st := reg.Stats()
	rs.OffHeapBytes = st.OffHeap
	for _, hd := range st.Headers {
		rs.Published = append(rs.Published, publishedHeader{
			Format: hd.Format.String(), UpdateTime: hd.UpdateTime,
			UpdateTimeUrgently: hd.UpdateTimeUrgently, FormatVersion: hd.FormatVersion,
		})
	}
	rs.Unenforced = st.Unenforced
	for _, sk := range st.Skipped {
		rs.Skipped = append(rs.Skipped, skippedEntry{Source: sk.Source, Line: sk.Line, ID: sk.ID, Reason: sk.Reason})
	}
	rs.SkippedForeignHost = st.SkippedForeignHost
	return rs
}

// heldVersion finds the source at location (as configured, or as the status
// shows it, password redacted) and returns its configured path, and the hash
// of its held-back version or "". The path is "" when the register has no
// such source.
func (lr *liveRegister) heldVersion(location string) (path, held string) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	for _, ls := range lr.sources {
		if ls.cfg.Path != location && ls.src.String() != location {
			continue
		}
		if ls.held != nil {
			return ls.cfg.Path, ls.held.Hash
		}
		path = ls.cfg.Path
	}
	return path, ""
}

func formatName(f string) string {
	if f == "" {
		return "auto"
	}
	return f
}

// censuses caches the census of each register in force: a census walks
// every order, and a status page may be polled. Registers are held weakly,
// so that the cache does not keep a replaced register alive.
var censuses = struct {
	sync.Mutex
	m map[weak.Pointer[blocklist.Register]][]blocklist.Census
}{m: map[weak.Pointer[blocklist.Register]][]blocklist.Census{}}

// censusOf returns reg's census, from the cache when it is there.
func censusOf(reg *blocklist.Register) []blocklist.Census {
	if reg == nil {
		return nil
	}
	key := weak.Make(reg)
	censuses.Lock()
	c, ok := censuses.m[key]
	censuses.Unlock()
	if ok {
		return c
	}
	c = reg.Census()
	censuses.Lock()
	defer censuses.Unlock()
	for k := range censuses.m {
		if k.Value() == nil {
			delete(censuses.m, k)
		}
	}
	censuses.m[key] = c
	return c
}

// Interface guards
var (
	_ caddy.Module      = adminAPI{}
	_ caddy.AdminRouter = adminAPI{}
)
