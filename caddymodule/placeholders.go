package caddymodule

import (
	"github.com/caddyserver/caddy/v2"

	"github.com/georestrict/caddy-georestrict/internal/iso3166"
)

const (
	placeholderCountry   = "http.geo_restrict.country"
	placeholderAction    = "http.geo_restrict.action"
	placeholderOrderID   = "http.geo_restrict.order_id"
	placeholderAuthority = "http.geo_restrict.authority"
	placeholderDryRun    = "http.geo_restrict.dry_run"
)

// The replacer stores values as `any`; converting a string to an interface
// allocates, so the values set on every request are boxed once here and the
// allow path stays free of allocations.
var (
	boxedActionAllow  any = "allow"
	boxedActionExempt any = "exempt"
	boxedActionRefuse any = "refuse"
	boxedNoCountry    any = ""
	boxedEmpty        any = ""
	boxedTrue         any = true
	boxedFalse        any = false
	boxedCountries    [iso3166.Size]any
)

// setNoOrder sets every placeholder for a request that no order applies to.
// All of them are set, so that a config that uses one (a header, a log
// field) gets an empty value rather than the placeholder's literal text.
func setNoOrder(repl *caddy.Replacer, country, action any) {
	repl.Set(placeholderCountry, country)
	repl.Set(placeholderAction, action)
	repl.Set(placeholderOrderID, boxedEmpty)
	repl.Set(placeholderAuthority, boxedEmpty)
	repl.Set(placeholderDryRun, boxedFalse)
}

func boxBool(b bool) any {
	if b {
		return boxedTrue
	}
	return boxedFalse
}

func init() {
	for i := range boxedCountries {
		boxedCountries[i] = iso3166.Code(i)
	}
}

// boxCountry returns country, a code from geo or "", as a pre-boxed interface
// value.
func boxCountry(country string) any {
	// One unsigned comparison rejects -1 and spares the bounds check.
	if i := uint(iso3166.Index(country)); i < uint(len(boxedCountries)) {
		return boxedCountries[i]
	}
	return boxedNoCountry
}
