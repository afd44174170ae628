package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/georestrict/caddy-georestrict/internal/iso3166"
)

const (
	placeholderCountry   = "http.geo_restrict.country"
	placeholderAction    = "http.geo_restrict.action"
	placeholderOrderID   = "http.geo_restrict.order_id"
	placeholderAuthority = "http.geo_restrict.authority"
	placeholderDryRun    = "http.geo_restrict.dry_run"
)

var placeholderNames = [...]string{placeholderCountry, placeholderAction, placeholderOrderID, placeholderAuthority, placeholderDryRun}

// A request's placeholders are answered by a value provider (Replacer.Map),
// not stored one by one (Replacer.Set): the replacer's map of stored values
// is empty until something is stored, and the first Set allocates its table
// (288 bytes) and takes its lock five times, on every request. The providers
// are made once, for every outcome that does not depend on the request: one
// per country and action of a request that no order applies to (below), one
// per cached answer of an order (answer.values).
//
// The replacer asks its providers in turn and takes the first answer, and
// stored values come before every provider. So the first geo_restrict
// handler of a request adds its provider, and any later one, which must
// win, stores its values over it.

// placeholdersMapped is the request variable that tells a geo_restrict
// handler that an earlier one added its provider.
const placeholdersMapped = "geo_restrict.placeholders"

// The replacer stores values as `any`; converting a string to an interface
// allocates, so the values are boxed once here.
var (
	boxedActionAllow  any = "allow"
	boxedActionExempt any = "exempt"
	boxedActionRefuse any = "refuse"
	boxedNoCountry    any = ""
	boxedEmpty        any = ""
	boxedTrue         any = true
	boxedFalse        any = false
)

// placeholderValues are the handler's placeholders for one outcome of a
// request, boxed once; get answers them as a value provider.
type placeholderValues struct{ country, action, orderID, authority, dryRun any }

func (p *placeholderValues) get(key string) (any, bool) {
	switch key {
	case placeholderCountry:
		return p.country, true
	case placeholderAction:
		return p.action, true
	case placeholderOrderID:
		return p.orderID, true
	case placeholderAuthority:
		return p.authority, true
	case placeholderDryRun:
		return p.dryRun, true
	}
	return nil, false
}

// The providers of a request that no order applies to, by country (the last
// entry: unknown, or not looked up), and the countries boxed.
var (
	boxedCountries                                [iso3166.Size + 1]any
	allowValues, refuseValues, refuseDryRunValues [iso3166.Size + 1]caddy.ReplacerFunc
	exemptValues                                  caddy.ReplacerFunc
)

func init() {
	noOrder := func(country, action, dryRun any) caddy.ReplacerFunc {
		return (&placeholderValues{country, action, boxedEmpty, boxedEmpty, dryRun}).get
	}
	for i := range boxedCountries {
		c := boxedNoCountry
		if i < iso3166.Size {
			c = iso3166.Code(i)
		}
		boxedCountries[i] = c
		allowValues[i] = noOrder(c, boxedActionAllow, boxedFalse)
		refuseValues[i] = noOrder(c, boxedActionRefuse, boxedFalse)
		refuseDryRunValues[i] = noOrder(c, boxedActionRefuse, boxedTrue)
	}
	exemptValues = noOrder(boxedNoCountry, boxedActionExempt, boxedFalse)
}

// countryIndex is where country, a code from geo or "", has its entry in the
// tables above.
func countryIndex(country string) int {
	// One unsigned comparison rejects -1 and spares the bounds check.
	if i := uint(iso3166.Index(country)); i < iso3166.Size {
		return int(i)
	}
	return iso3166.Size
}

// setPlaceholders gives the request every placeholder of the handler, as
// values answers them: all are set on every request, so that a config that
// uses one (a header, a log field) gets an empty value rather than the
// placeholder's literal text.
func setPlaceholders(r *http.Request, repl *caddy.Replacer, values caddy.ReplacerFunc) {
	if vars, ok := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any); ok {
		if _, later := vars[placeholdersMapped]; !later {
			vars[placeholdersMapped] = boxedTrue
			repl.Map(values)
			return
		}
	}
	for _, name := range placeholderNames {
		v, _ := values(name)
		repl.Set(name, v)
	}
}
