package caddymodule

import (
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
	"github.com/georestrict/caddy-georestrict/blocklist"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("geo_restrict", parseCaddyfile)
	// Before redir: orders are enforced on the URL the client sent, before
	// any redirect or rewrite, and before handlers that answer.
	httpcaddyfile.RegisterDirectiveOrder("geo_restrict", httpcaddyfile.Before, "redir")
}

func parseCaddyfile(h httpcaddyfile.Helper) (_ caddyhttp.MiddlewareHandler, err error) {
	defer recoverProvision("geo_restrict", &err, nil)
	var gr Handler
	err = gr.UnmarshalCaddyfile(h.Dispenser)
	return &gr, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	geo_restrict [<matcher>] {
//		geoip_db        <path>
//		register        <path|url>... {
//			format      auto|csv|json|rkn-xml|rkn-csv|urls
//			countries   <cc>...
//			authority   <text>
//			notice      <url template>
//			whole_site  enforce|count
//			allow_empty
//			refresh     <duration>
//			max_shrink  <share>
//		}
//		verify_key      <base64 ed25519 public key>|<file>
//		refresh         <duration>
//		max_shrink      <share>
//		pattern         <template>...
//		reserved        <name>...
//		hosts           <host>...
//		blocked_by      <url>
//		unknown_country allow|block
//		exempt          <cidr>|private_ranges...
//		dry_run
//		page            <file>
//		log_client_ip
//		log_limit       <lines> <interval>
//		throttle_burst  <size>
//		throttle_max_duration <duration>
//		shared_cache    allow|guard
//	}
//
// register, pattern, reserved, hosts and exempt may be repeated; their values
// add up. A register line's block applies to the sources on that line:
// allow_empty accepts them when they hold no orders, and refresh and
// max_shrink override the handler's for them. A share is written 50% or 0.5.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "geoip_db":
			if err := oneArg(d, &h.GeoIPDB); err != nil {
				return err
			}
		case "geoip_cache":
			return d.Errf("%s; remove the line", geoIPCacheRemoved)
		case "register":
			if err := registerArgs(d, &h.Registers); err != nil {
				return err
			}
		case "verify_key":
			if err := oneArg(d, &h.VerifyKey); err != nil {
				return err
			}
			if _, err := parseVerifyKey(h.VerifyKey); err != nil {
				return d.Errf("verify_key: %v", err)
			}
		case "refresh":
			if h.Refresh != nil {
				return d.Errf("refresh: given more than once")
			}
			r, err := refreshArg(d)
			if err != nil {
				return err
			}
			h.Refresh = r
		case "max_shrink":
			if h.MaxShrink != nil {
				return d.Errf("max_shrink: given more than once")
			}
			m, err := maxShrinkArg(d)
			if err != nil {
				return err
			}
			h.MaxShrink = m
		case "pattern":
			if err := someArgs(d, &h.Patterns); err != nil {
				return err
			}
		case "reserved":
			if err := someArgs(d, &h.Reserved); err != nil {
				return err
			}
		case "hosts":
			if err := someArgs(d, &h.Hosts); err != nil {
				return err
			}
			for _, host := range h.Hosts {
				if err := checkHost(host); err != nil {
					return d.Errf("hosts: %v", err)
				}
			}
		case "blocked_by":
			if err := oneArg(d, &h.BlockedBy); err != nil {
				return err
			}
			if err := checkBlockedBy(h.BlockedBy); err != nil {
				return d.Errf("blocked_by: %v", err)
			}
		case "unknown_country":
			if err := oneArg(d, &h.UnknownCountry); err != nil {
				return err
			}
			if h.UnknownCountry != "allow" && h.UnknownCountry != "block" {
				return d.Errf("unknown_country: want allow or block, got %q", h.UnknownCountry)
			}
		case "exempt":
			if err := someArgs(d, &h.Exempt); err != nil {
				return err
			}
			if _, err := parsePrefixes(h.Exempt); err != nil {
				return d.Errf("exempt: %v", err)
			}
		case "dry_run":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.DryRun = true
		case "page":
			if err := oneArg(d, &h.Page); err != nil {
				return err
			}
		case "throttle_burst":
			var s string
			if err := oneArg(d, &s); err != nil {
				return err
			}
			size, err := humanize.ParseBytes(s)
			if err != nil || size == 0 || size > 1<<40 {
				return d.Errf("throttle_burst: want a size such as 64KiB, got %q", s)
			}
			h.ThrottleBurst = int64(size)
		case "throttle_max_duration":
			if h.ThrottleMaxDuration != nil {
				return d.Errf("throttle_max_duration: given more than once")
			}
			var s string
			if err := oneArg(d, &s); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur < 0 {
				return d.Errf("throttle_max_duration: want a duration such as 1h, or 0 for no limit; got %q", s)
			}
			v := caddy.Duration(dur)
			h.ThrottleMaxDuration = &v
		case "shared_cache":
			if err := oneArg(d, &h.SharedCache); err != nil {
				return err
			}
			if h.SharedCache != "allow" && h.SharedCache != "guard" {
				return d.Errf("shared_cache: want allow or guard, got %q", h.SharedCache)
			}
		case "log_client_ip":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.LogClientIP = true
		case "log_limit":
			if h.LogLimit != nil {
				return d.Errf("log_limit: given more than once")
			}
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("log_limit: want <lines> <interval>, such as log_limit 100 1m")
			}
			lines, err := strconv.Atoi(args[0])
			if err != nil {
				return d.Errf("log_limit: lines: want a whole number, got %q", args[0])
			}
			interval, err := caddy.ParseDuration(args[1])
			if err != nil {
				return d.Errf("log_limit: interval: %v", err)
			}
			h.LogLimit = &LogLimit{Lines: lines, Interval: caddy.Duration(interval)}
			if err := h.LogLimit.check(); err != nil {
				return d.Errf("log_limit: %v", err)
			}
		default:
			return d.Errf("unrecognized geo_restrict subdirective %q", d.Val())
		}
	}
	return nil
}

// oneArg reads exactly one argument of the current subdirective into dst,
// which must not have been set by an earlier line.
func oneArg(d *caddyfile.Dispenser, dst *string) error {
	name := d.Val()
	if *dst != "" {
		return d.Errf("%s: given more than once", name)
	}
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// someArgs appends the one or more arguments of the current subdirective.
func someArgs(d *caddyfile.Dispenser, dst *[]string) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	*dst = append(*dst, args...)
	return nil
}

// registerArgs appends the paths of a register line, with the options of its
// block.
func registerArgs(d *caddyfile.Dispenser, dst *[]RegisterSource) error {
	paths := d.RemainingArgs()
	if len(paths) == 0 {
		return d.ArgErr()
	}
	var opts RegisterSource
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "allow_empty":
			if d.NextArg() {
				return d.ArgErr()
			}
			opts.AllowEmpty = true
		case "refresh":
			r, err := refreshArg(d)
			if err != nil {
				return err
			}
			opts.Refresh = r
		case "max_shrink":
			m, err := maxShrinkArg(d)
			if err != nil {
				return err
			}
			opts.MaxShrink = m
		case "format":
			if err := oneArg(d, &opts.Format); err != nil {
				return err
			}
			if _, err := blocklist.ParseFormat(opts.Format); err != nil {
				return d.Errf("format: %v", err)
			}
		case "countries":
			if err := someArgs(d, &opts.Countries); err != nil {
				return err
			}
		case "authority":
			if err := oneArg(d, &opts.Authority); err != nil {
				return err
			}
		case "notice":
			if err := oneArg(d, &opts.Notice); err != nil {
				return err
			}
		case "whole_site":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			if v != "enforce" && v != "count" {
				return d.Errf("whole_site: want enforce or count, got %q", v)
			}
			opts.WholeSite = v == "enforce"
		default:
			return d.Errf("unrecognized register option %q (want allow_empty, refresh, max_shrink, format, countries, authority, notice or whole_site)", d.Val())
		}
	}
	for _, p := range paths {
		src := opts
		src.Path = p
		*dst = append(*dst, src)
	}
	return nil
}

// refreshArg reads a refresh interval: a duration, or 0 to turn checking off.
func refreshArg(d *caddyfile.Dispenser) (*caddy.Duration, error) {
	var s string
	if err := oneArg(d, &s); err != nil {
		return nil, err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur < 0 {
		return nil, d.Errf("refresh: want a duration such as 1m, or 0 to turn checking off; got %q", s)
	}
	if dur > 0 && dur < time.Second {
		return nil, d.Errf("refresh: %s is too often; use at least 1s, or 0 to turn checking off", s)
	}
	r := caddy.Duration(dur)
	return &r, nil
}

// maxShrinkArg reads a share of orders: "50%" or "0.5".
func maxShrinkArg(d *caddyfile.Dispenser) (*float64, error) {
	var s string
	if err := oneArg(d, &s); err != nil {
		return nil, err
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if strings.HasSuffix(s, "%") {
		f /= 100
	}
	if err != nil || f < 0 || f > 1 {
		return nil, d.Errf("max_shrink: want a share of orders such as 50%% (or 0.5), from 0 to 100%%; got %q", s)
	}
	return &f, nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Handler)(nil)
