package caddymodule

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/georestrict/caddy-georestrict/blocklist"
	"github.com/georestrict/caddy-georestrict/source"
)

// settings are the parsed forms of the handler's settings that need neither
// the country database nor a register.
type settings struct {
	exempt    []netip.Prefix
	page      *template.Template
	patterns  *blocklist.Patterns // nil for the defaults
	guard     bool                // shared_cache guard
	refresh   time.Duration
	maxShrink float64
	verifyKey ed25519.PublicKey

	throttleMaxDuration time.Duration // 0: no limit
}

// Defaults of the live-operation settings.
const (
	defaultRefresh   = time.Minute
	defaultMaxShrink = 0.5
)

// defaultThrottleMaxDuration is throttle_max_duration's default: longer than
// a photo or a short video takes at the rates regulators have ordered
// (40 MiB at 16 KiB/s: 43 minutes), so that an order that slows uploads does
// not turn into one that blocks them, and short enough that an upload whose
// client left does not hold its budget and connections for hours.
const defaultThrottleMaxDuration = time.Hour

// geoIPCacheRemoved is the error for a config that still sets geoip_cache. It
// is refused rather than ignored, so that no operator believes a cache is on.
const geoIPCacheRemoved = "geoip_cache was removed: the cache was slower than the lookup it saved"

// parseSettings checks every setting that is cheap to check and parses those
// that need parsing. Provision runs it before it loads anything, so that a
// typo is reported at once rather than after a register of a million orders
// has been read.
func (h *Handler) parseSettings() (s settings, err error) {
	if h.GeoIPCache != nil {
		return s, errors.New(geoIPCacheRemoved + "; remove the field")
	}
	if len(h.Registers) == 0 {
		return s, errors.New("registers: at least one register file is required")
	}
	switch h.UnknownCountry {
	case "", "allow", "block":
	default:
		return s, fmt.Errorf("unknown_country: must be allow or block, got %q", h.UnknownCountry)
	}
	if h.BlockedBy != "" {
		if err := checkBlockedBy(h.BlockedBy); err != nil {
			return s, fmt.Errorf("blocked_by: %w", err)
		}
	}
	for _, host := range h.Hosts {
		if err := checkHost(host); err != nil {
			return s, fmt.Errorf("hosts: %w", err)
		}
	}
	if s.exempt, err = parsePrefixes(h.Exempt); err != nil {
		return s, fmt.Errorf("exempt: %w", err)
	}
	if s.patterns, err = parsePatterns(h.Patterns, h.Reserved); err != nil {
		return s, fmt.Errorf("patterns: %w", err)
	}
	s.refresh, s.maxShrink = defaultRefresh, defaultMaxShrink
	if h.Refresh != nil {
		s.refresh = time.Duration(*h.Refresh)
	}
	if h.MaxShrink != nil {
		s.maxShrink = *h.MaxShrink
	}
	if err := checkLive("", s.refresh, s.maxShrink); err != nil {
		return s, err
	}
	for _, src := range h.Registers {
		if err := checkLive(src.Path+": ", src.refresh(s.refresh), src.maxShrink(s.maxShrink)); err != nil {
			return s, fmt.Errorf("registers: %w", err)
		}
		if err := checkSource(src); err != nil {
			return s, fmt.Errorf("registers: %s: %w", src.Path, err)
		}
	}
	if h.VerifyKey != "" {
		if s.verifyKey, err = parseVerifyKey(h.VerifyKey); err != nil {
			return s, fmt.Errorf("verify_key: %w", err)
		}
	}
	switch h.SharedCache {
	case "", "guard":
		s.guard = true
	case "allow":
	default:
		return s, fmt.Errorf("shared_cache: must be allow or guard, got %q", h.SharedCache)
	}
	if h.LogLimit != nil {
		if err := h.LogLimit.check(); err != nil {
			return s, fmt.Errorf("log_limit: %w", err)
		}
	}
	if h.ThrottleBurst < 0 {
		return s, fmt.Errorf("throttle_burst: must not be negative, got %d", h.ThrottleBurst)
	}
	s.throttleMaxDuration = defaultThrottleMaxDuration
	if h.ThrottleMaxDuration != nil {
		s.throttleMaxDuration = time.Duration(*h.ThrottleMaxDuration)
	}
	if s.throttleMaxDuration < 0 {
		return s, fmt.Errorf("throttle_max_duration: must not be negative (0 sets no limit), got %v", s.throttleMaxDuration)
	}
	s.page = defaultPage
	if h.Page != "" {
		if s.page, err = loadPage(h.Page); err != nil {
			return s, fmt.Errorf("page: %w", err)
		}
	}
	return s, nil
}

// checkBlockedBy checks that u can be sent as `Link: <u>; rel="blocked-by"`:
// an absolute http(s) URL with nothing in it that would end the URI
// reference or the header's list element early.
func checkBlockedBy(u string) error {
	for _, c := range []byte(u) {
		switch {
		case c <= ' ' || c >= 0x7f:
			return fmt.Errorf("%q has a space, a control character or a non-ASCII byte, which the Link header cannot carry; percent-encode it (a space is %%20)", u)
		case strings.IndexByte(`<>"`, c) >= 0:
			return fmt.Errorf("%q has %q, which would end the URL in the Link header; percent-encode it (%%%02X)", u, c, c)
		case c == ';' || c == ',':
			return fmt.Errorf("%q has %q, which would split the Link header; percent-encode it (%%%02X)", u, c, c)
		}
	}
	p, err := url.Parse(u)
	if err != nil || !p.IsAbs() || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
		return fmt.Errorf("must be an absolute http or https URL, got %q", u)
	}
	return nil
}

// checkHost checks a `hosts` entry: a host name or IP address alone. The
// register compares hosts without ports, so anything more than the name
// would make the orders of that host silently skipped.
func checkHost(h string) error {
	_, afterScheme, _ := strings.Cut(h, "://")
	switch {
	case h == "":
		return errors.New("empty host")
	case strings.Contains(h, "://"):
		return fmt.Errorf("%q is a URL; give the host name alone, e.g. %s", h, hostHint(afterScheme))
	case strings.ContainsAny(h, "/?#"):
		return fmt.Errorf("%q has a path; give the host name alone, e.g. %s", h, hostHint(h))
	case strings.Contains(h, "@"):
		return fmt.Errorf("%q has a user name; give the host name alone, e.g. %s", h, hostHint(h))
	case strings.Contains(h, "*"):
		return fmt.Errorf("%q: wildcards are not supported; list each host name", h)
	case strings.ContainsFunc(h, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }):
		return fmt.Errorf("%q has a space, a control character or a backslash", h)
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		if a, err := netip.ParseAddr(h[1 : len(h)-1]); err == nil && a.Is6() {
			return nil
		}
		return fmt.Errorf("%q is not an IPv6 address", h)
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if strings.Contains(h, ":") {
		return fmt.Errorf("%q has a port; hosts compare without ports, give %s", h, hostHint(h))
	}
	return nil
}

// hostHint is the host name of a wrongly written hosts entry, for the error.
func hostHint(s string) string {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.HasSuffix(s, "]") {
		s = s[:i]
	}
	if s == "" {
		return "microblog.example"
	}
	return s
}

// parsePrefixes parses CIDR ranges and single addresses, expanding
// `private_ranges` the way Caddy's own client_ip matcher does. IPv4-mapped
// IPv6 forms are turned into IPv4: the client address is compared unmapped.
func parsePrefixes(ranges []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ranges {
		exprs := []string{s}
		if s == "private_ranges" {
			exprs = caddyhttp.PrivateRangesCIDR()
		}
		for _, expr := range exprs {
			p, err := caddyhttp.CIDRExpressionToPrefix(expr)
			if err != nil {
				return nil, err
			}
			if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

// loadPage reads and parses a custom 451 page, and renders it once with a
// sample notice, so that a template that fails when it runs (a field that
// Notice does not have, a call on a nil value) fails `caddy validate` and the
// config load rather than every 451 answer.
func loadPage(path string) (*template.Template, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	page, err := template.New(path).Parse(string(src))
	if err != nil {
		return nil, err
	}
	if err := page.Execute(io.Discard, sampleNotice()); err != nil {
		return nil, fmt.Errorf("rendering %s with a sample order: %w", path, err)
	}
	return page, nil
}

// recoverProvision turns a panic in a Provision (or in parsing a Caddyfile)
// into an error that names the module. Caddy must never crash on a config,
// not even through a bug of ours: the config is refused and the running one
// stays.
func recoverProvision(module string, err *error, logger *zap.Logger) {
	p := recover()
	if p == nil {
		return
	}
	if logger != nil {
		logger.Error("panic while provisioning; the config is refused", zap.Any("panic", p), zap.StackSkip("stack", 1))
	}
	*err = fmt.Errorf("%s: internal error while loading the config (a bug, please report it): %v", module, p)
}

// checkLive checks a refresh interval and a max_shrink share.
func checkLive(prefix string, refresh time.Duration, maxShrink float64) error {
	switch {
	case refresh < 0:
		return fmt.Errorf("%srefresh: must not be negative, got %v", prefix, refresh)
	case refresh > 0 && refresh < time.Second:
		return fmt.Errorf("%srefresh: %v is too often; use at least 1s, or 0 to turn checking off", prefix, refresh)
	case maxShrink < 0 || maxShrink > 1 || maxShrink != maxShrink:
		return fmt.Errorf("%smax_shrink: must be a share between 0 and 1 (0.5 is 50%%), got %v", prefix, maxShrink)
	}
	return nil
}

// checkSource checks a register source's own options.
func checkSource(src RegisterSource) error {
	f, err := blocklist.ParseFormat(src.Format)
	if err != nil {
		return fmt.Errorf("format: %w", err)
	}
	for _, c := range src.Countries {
		if c != "*" && !blocklist.IsCountry(c) {
			return fmt.Errorf("countries: unknown country code %q", c)
		}
	}
	if f == blocklist.FormatURLs && len(src.Countries) == 0 {
		return errors.New("countries: a URL list says nothing of where its orders apply; give its countries")
	}
	regulator := f == blocklist.FormatRKNXML || f == blocklist.FormatRKNCSV || f == blocklist.FormatURLs || f == blocklist.FormatAuto
	if !regulator && (len(src.Countries) > 0 || src.Authority != "" || src.Notice != "" || src.WholeSite) {
		return fmt.Errorf("countries, authority, notice and whole_site are for regulators' registers and URL lists; a %s register says them in its own fields", f)
	}
	return nil
}

// parseVerifyKey reads an Ed25519 public key given inline (base64) or as a file.
func parseVerifyKey(v string) (ed25519.PublicKey, error) {
	if k, err := source.ParsePublicKey([]byte(v)); err == nil {
		return k, nil
	}
	text, err := os.ReadFile(v)
	if err != nil {
		return nil, fmt.Errorf("%q is neither a base64 Ed25519 public key nor a file that holds one: %w", v, err)
	}
	k, err := source.ParsePublicKey(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v, err)
	}
	return k, nil
}
