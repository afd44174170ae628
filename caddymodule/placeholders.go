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

// noOrder holds the placeholders of a request that no order applies to, for
// one country (the last entry: unknown, or not looked up).
type noOrder struct{ country any }

func (n *noOrder) values(key string, action, dryRun any) (any, bool) {
	switch key {
	case placeholderCountry:
		return n.country, true
	case placeholderAction:
		return action, true
	case placeholderOrderID, placeholderAuthority:
		return boxedEmpty, true
	case placeholderDryRun:
		return dryRun, true
	}
	return nil, false
}

func (n *noOrder) allow(key string) (any, bool)  { return n.values(key, boxedActionAllow, boxedFalse) }
func (n *noOrder) exempt(key string) (any, bool) { return n.values(key, boxedActionExempt, boxedFalse) }
func (n *noOrder) refuse(key string) (any, bool) { return n.values(key, boxedActionRefuse, boxedFalse) }
func (n *noOrder) refuseDryRun(key string) (any, bool) {
	return n.values(key, boxedActionRefuse, boxedTrue)
}

var (
	noOrders                                      [iso3166.Size + 1]noOrder
	allowValues, refuseValues, refuseDryRunValues [iso3166.Size + 1]caddy.ReplacerFunc
	exemptValues                                  caddy.ReplacerFunc
)

func init() {
	for i := range noOrders {
		n := &noOrders[i]
		n.country = boxedNoCountry
		if i < iso3166.Size {
			n.country = iso3166.Code(i)
		}
		allowValues[i], refuseValues[i], refuseDryRunValues[i] = n.allow, n.refuse, n.refuseDryRun
	}
	exemptValues = noOrders[iso3166.Size].exempt
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
