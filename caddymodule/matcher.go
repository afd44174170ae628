package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types/ref"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/georestrict/caddy-georestrict/blocklist"
)

func init() {
	caddy.RegisterModule(MatchCountry{})
}

// MatchCountry matches requests by the country of the client IP that Caddy
// determined (the `client_ip` variable, governed by `trusted_proxies`). It
// uses the same country databases as the geo_restrict handler, so a site
// that names the same file shares one loaded copy.
//
// The pseudo-country `unknown` matches clients whose country is not known
// (private and reserved addresses, or addresses the database does not list).
type MatchCountry struct {
	// ISO 3166-1 alpha-2 country codes to match (XK for Kosovo too), or
	// `unknown`.
	Countries []string `json:"countries,omitempty"`

	// Path of a MaxMind-format country database (.mmdb). Default: the
	// embedded database.
	GeoIPDB string `json:"geoip_db,omitempty"`

	db      *liveDatabase
	set     map[string]struct{}
	poolKey string
}

// CaddyModule returns the Caddy module information.
func (MatchCountry) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.geo_country",
		New: func() caddy.Module { return new(MatchCountry) },
	}
}

// UnmarshalCaddyfile sets up the matcher from Caddyfile tokens. Syntax:
//
//	geo_country <country|unknown>... {
//		geoip_db <path>
//	}
//
// Several geo_country lines in one named matcher add up.
func (m *MatchCountry) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for d.Next() {
		for d.NextArg() {
			m.Countries = append(m.Countries, d.Val())
		}
		for d.NextBlock(0) {
			switch d.Val() {
			case "geoip_db":
				if err := oneArg(d, &m.GeoIPDB); err != nil {
					return err
				}
			default:
				return d.Errf("unrecognized geo_country option %q", d.Val())
			}
		}
	}
	if len(m.Countries) == 0 {
		return d.Err("geo_country: at least one country code is required")
	}
	return nil
}

// Provision normalises the country codes and loads (or shares) the database.
func (m *MatchCountry) Provision(ctx caddy.Context) (err error) {
	defer recoverProvision("geo_country", &err, ctx.Logger())
	m.set = make(map[string]struct{}, len(m.Countries))
	for _, c := range m.Countries {
		code := strings.ToUpper(c)
		if strings.EqualFold(c, "unknown") {
			code = ""
		} else if !blocklist.IsCountry(code) {
			return fmt.Errorf("geo_country: %q is not an ISO 3166-1 alpha-2 country code or XK", c)
		}
		m.set[code] = struct{}{}
	}
	db, key, err := loadLiveDatabase(ctx, m.GeoIPDB, defaultRefresh, ctx.Logger())
	if err != nil {
		return err
	}
	m.db, m.poolKey = db, key
	return nil
}

// Match returns true if the client's country is one of m's countries.
func (m *MatchCountry) Match(r *http.Request) bool {
	match, _ := m.MatchWithError(r)
	return match
}

// MatchWithError returns true if the client's country is one of m's
// countries.
func (m *MatchCountry) MatchWithError(r *http.Request) (bool, error) {
	_, ok := m.set[m.db.database().Country(clientAddr(r))]
	return ok, nil
}

// CELLibrary exposes the matcher to CEL expressions:
//
//	expression geo_country('RU', 'BY')
func (MatchCountry) CELLibrary(ctx caddy.Context) (cel.Library, error) {
	return caddyhttp.CELMatcherImpl(
		"geo_country",
		"geo_country_match_request_list",
		[]*cel.Type{cel.ListType(cel.StringType)},
		func(data ref.Val) (caddyhttp.RequestMatcherWithError, error) {
			list, err := data.ConvertToNative(stringSliceType)
			if err != nil {
				return nil, err
			}
			m := &MatchCountry{Countries: slices.Clone(list.([]string))}
			if err := m.Provision(ctx); err != nil {
				return nil, err
			}
			// Caddy does not clean up matchers made inside expressions;
			// release the shared database when the config is unloaded.
			context.AfterFunc(ctx, func() { _ = m.Cleanup() })
			return m, nil
		},
	)
}

var stringSliceType = reflect.TypeFor[[]string]()

// Cleanup releases the shared database.
func (m *MatchCountry) Cleanup() error {
	releaseResource(m.poolKey)
	m.poolKey = ""
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner                 = (*MatchCountry)(nil)
	_ caddy.CleanerUpper                = (*MatchCountry)(nil)
	_ caddyhttp.RequestMatcherWithError = (*MatchCountry)(nil)
	_ caddyhttp.CELLibraryProducer      = (*MatchCountry)(nil)
	_ caddyfile.Unmarshaler             = (*MatchCountry)(nil)
)
